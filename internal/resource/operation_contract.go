package resource

import (
	"encoding/json"
	"strconv"
	"strings"
)

// An operation's contract, as APIM describes operations (and as an
// OpenAPI import fills it): its URL template parameters, its request's
// query parameters, headers and representations, and its responses.
// validate-parameters, validate-headers and validate-status-code check
// calls against it; validate-content's schema-id names the schemas that
// representations refer to.

// ParameterContract describes one parameter or header.
type ParameterContract struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Type is "string" (default), "integer", "number", "boolean" or
	// "array".
	Type         string   `json:"type,omitempty"`
	Required     bool     `json:"required,omitempty"`
	Values       []string `json:"values,omitempty"`
	DefaultValue string   `json:"defaultValue,omitempty"`
	SchemaID     string   `json:"schemaId,omitempty"`
	TypeName     string   `json:"typeName,omitempty"`
}

// RepresentationContract is a body's content type and schema.
type RepresentationContract struct {
	ContentType string `json:"contentType"`
	SchemaID    string `json:"schemaId,omitempty"`
	TypeName    string `json:"typeName,omitempty"`
	// SchemaRef points at the schema in the API's imported OpenAPI
	// document: a component ("#/components/schemas/Pet") or, for a schema
	// written inline, its place in the document.
	SchemaRef string `json:"schemaRef,omitempty"`
	// Examples by name; each value is the example's JSON.
	Examples map[string]json.RawMessage `json:"examples,omitempty"`
}

// RequestContract describes an operation's request.
type RequestContract struct {
	Description     string                   `json:"description,omitempty"`
	QueryParameters []ParameterContract      `json:"queryParameters,omitempty"`
	Headers         []ParameterContract      `json:"headers,omitempty"`
	Representations []RepresentationContract `json:"representations,omitempty"`
}

// ResponseContract describes one response of an operation.
type ResponseContract struct {
	StatusCode      int                      `json:"statusCode"`
	Description     string                   `json:"description,omitempty"`
	Headers         []ParameterContract      `json:"headers,omitempty"`
	Representations []RepresentationContract `json:"representations,omitempty"`
}

var parameterTypes = []string{"string", "integer", "number", "boolean", "array", "object"}

func validateParameters(errs *Errors, target string, ps []ParameterContract) {
	seen := map[string]bool{}
	for i, p := range ps {
		t := target + "[" + strconv.Itoa(i) + "]"
		if p.Name == "" {
			errs.Add(t+".name", "is required")
		}
		if seen[strings.ToLower(p.Name)] {
			errs.Add(t+".name", "%q is listed twice", p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
		if p.Type != "" {
			oneOf(errs, t+".type", p.Type, parameterTypes...)
		}
	}
}

// validateContract checks an operation's contract fields.
func (o *Operation) validateContract(errs *Errors) {
	validateParameters(errs, "templateParameters", o.TemplateParameters)
	if r := o.Request; r != nil {
		validateParameters(errs, "request.queryParameters", r.QueryParameters)
		validateParameters(errs, "request.headers", r.Headers)
	}
	seen := map[int]bool{}
	for i, r := range o.Responses {
		t := "responses[" + strconv.Itoa(i) + "]"
		if r.StatusCode < 100 || r.StatusCode > 599 {
			errs.Add(t+".statusCode", "must be an HTTP status code (100-599)")
		}
		if seen[r.StatusCode] {
			errs.Add(t+".statusCode", "%d is listed twice", r.StatusCode)
		}
		seen[r.StatusCode] = true
		validateParameters(errs, t+".headers", r.Headers)
	}
}

package resource

import "encoding/json"

// Operation details an OpenAPI import fills (APIM's operation contract):
// what the developer portal shows and validate-content checks. The gateway
// routes on Method and URLTemplate only.

// OperationParameter is a template, query or header parameter.
type OperationParameter struct {
	Name         string   `json:"name"`
	Description  string   `json:"description,omitempty"`
	Type         string   `json:"type,omitempty"`
	Required     bool     `json:"required,omitempty"`
	DefaultValue string   `json:"defaultValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// Representation is one content type of a request or response body.
type Representation struct {
	ContentType string `json:"contentType"`
	// SchemaRef names the component schema ("#/components/schemas/Pet").
	SchemaRef string `json:"schemaRef,omitempty"`
	// Examples by name; each value is the example's JSON.
	Examples map[string]json.RawMessage `json:"examples,omitempty"`
}

// OperationRequest describes what an operation accepts.
type OperationRequest struct {
	Description     string               `json:"description,omitempty"`
	QueryParameters []OperationParameter `json:"queryParameters,omitempty"`
	Headers         []OperationParameter `json:"headers,omitempty"`
	Representations []Representation     `json:"representations,omitempty"`
}

// OperationResponse describes one status code an operation answers with.
type OperationResponse struct {
	StatusCode      int                  `json:"statusCode"`
	Description     string               `json:"description,omitempty"`
	Headers         []OperationParameter `json:"headers,omitempty"`
	Representations []Representation     `json:"representations,omitempty"`
}

// Specification is an API's description document as imported (an OpenAPI
// 3.x document; Swagger 2.0 is kept converted to 3.0), for the developer
// portal, validate-content and GET /apis/{id}?export=openapi.
type Specification struct {
	Meta
	// Format is "openapi+json" (the stored form).
	Format string `json:"format"`
	// SourceFormat is what was imported: "swagger-2.0", "openapi-3.0" or
	// "openapi-3.1".
	SourceFormat string `json:"sourceFormat,omitempty"`
	// Value is the document's JSON.
	Value string `json:"value"`
}

// SpecificationKind is the kind of APIs' description documents.
func SpecificationKind() Kind {
	return Kind{Name: "apis/specifications", Pattern: "/apis/{}/specifications/{}", New: func() Resource { return &Specification{} }, ApplyKind: "apiSpecification"}
}

// SpecificationOpenAPI is the name of an API's OpenAPI document.
const SpecificationOpenAPI = "openapi"

func (s *Specification) Normalize() {
	if s.Format == "" {
		s.Format = "openapi+json"
	}
}

func (s *Specification) Validate() Errors {
	var errs Errors
	if s.Format != "openapi+json" {
		errs.Add("format", "must be openapi+json")
	}
	if s.Value == "" {
		errs.Add("value", "is required")
	} else if !json.Valid([]byte(s.Value)) {
		errs.Add("value", "must be a JSON document")
	}
	switch s.SourceFormat {
	case "", "swagger-2.0", "openapi-3.0", "openapi-3.1":
	default:
		errs.Add("sourceFormat", "must be swagger-2.0, openapi-3.0 or openapi-3.1")
	}
	return errs
}

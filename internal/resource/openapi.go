package resource

import "encoding/json"

// Operation details an OpenAPI import fills (APIM's operation contract):
// what the developer portal shows and validate-content checks. The gateway
// routes on Method and URLTemplate only.

// OperationParameter is a template, query or header parameter.
type OperationParameter = ParameterContract

// Representation is one content type of a request or response body.
type Representation = RepresentationContract

// OperationRequest describes what an operation accepts.
type OperationRequest = RequestContract

// OperationResponse describes one status code an operation answers with.
type OperationResponse = ResponseContract

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

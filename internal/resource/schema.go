package resource

import (
	"encoding/json"
	"strings"
)

// APISchema is a schema document of an API: /apis/{apiId}/schemas/{schemaId}
// (APIM's API schema). validate-content's schema-id names it, and
// schema-ref points inside it ("#/components/schemas/user"). An OpenAPI
// import stores the API's components here.
type APISchema struct {
	Meta
	// ContentType says what the document holds: a JSON Schema
	// ("application/schema+json", or "application/json"), OpenAPI
	// components ("application/vnd.oai.openapi.components+json"), Swagger
	// definitions ("application/vnd.ms-azure-apim.swagger.definitions+json").
	ContentType string         `json:"contentType"`
	Document    SchemaDocument `json:"document"`
}

// SchemaDocument is the schema itself, in one of three forms.
type SchemaDocument struct {
	// Value is a JSON Schema document as text.
	Value string `json:"value,omitempty"`
	// Components are OpenAPI 3 components ({"schemas": {...}}).
	Components json.RawMessage `json:"components,omitempty"`
	// Definitions are Swagger 2 definitions ({"name": schema}).
	Definitions json.RawMessage `json:"definitions,omitempty"`
}

// MaxSchemaBytes bounds a schema document (APIM's limit).
const MaxSchemaBytes = 4 << 20

// Normalize fills the content type from the document's form.
func (s *APISchema) Normalize() {
	if s.ContentType != "" {
		return
	}
	switch {
	case len(s.Document.Components) > 0:
		s.ContentType = "application/vnd.oai.openapi.components+json"
	case len(s.Document.Definitions) > 0:
		s.ContentType = "application/vnd.ms-azure-apim.swagger.definitions+json"
	default:
		s.ContentType = "application/schema+json"
	}
}

// Validate reports every bad field.
func (s *APISchema) Validate() Errors {
	var errs Errors
	d := s.Document
	n := 0
	for _, f := range []struct {
		target string
		b      []byte
	}{{"document.value", []byte(d.Value)}, {"document.components", d.Components}, {"document.definitions", d.Definitions}} {
		if len(f.b) == 0 {
			continue
		}
		n++
		var v any
		switch {
		case len(f.b) > MaxSchemaBytes:
			errs.Add(f.target, "must be at most %d bytes", MaxSchemaBytes)
		case json.Unmarshal(f.b, &v) != nil:
			errs.Add(f.target, "is not valid JSON")
		default:
			if _, ok := v.(map[string]any); !ok {
				errs.Add(f.target, "must be a JSON object")
			}
		}
	}
	if n != 1 {
		errs.Add("document", "needs exactly one of value (a JSON Schema as text), components (OpenAPI) or definitions (Swagger)")
	}
	if strings.TrimSpace(s.ContentType) == "" {
		errs.Add("contentType", "is required")
	}
	return errs
}

// Root returns the document as one JSON object that schema-ref paths
// resolve in: the JSON Schema itself, {"components": ...} or
// {"definitions": ...}.
func (s *APISchema) Root() ([]byte, error) {
	d := s.Document
	switch {
	case d.Value != "":
		return []byte(d.Value), nil
	case len(d.Components) > 0:
		return json.Marshal(map[string]json.RawMessage{"components": d.Components})
	default:
		return json.Marshal(map[string]json.RawMessage{"definitions": d.Definitions})
	}
}

package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tollgate/tollgate/internal/resource"
)

// Schemas of an API's imported OpenAPI document: an imported operation's
// representation names its schema with schemaRef
// ("#/components/schemas/Pet", or the place of a schema written inline:
// "#/paths/~1pets/post/requestBody/content/application~1json/schema") and
// no schemaId; validate-content resolves it in the document's components
// and paths, stored at
// /apis/{id}/specifications/openapi. OpenAPI 3.0 schemas are compiled as
// JSON Schema draft 4 with nullable turned into a "null" type; 3.1
// schemas are JSON Schema 2020-12.

// compileSpecSchema compiles the schema rule.specRef names in api's
// OpenAPI document.
func (ss *schemaSet) compileSpecSchema(api string, rule *contentRule) (*jsonschema.Schema, error) {
	r, ok := ss.specs[api]
	if !ok {
		return nil, fmt.Errorf("schema %q: API %q has no imported OpenAPI document", rule.specRef, api)
	}
	if !strings.HasPrefix(rule.specRef, "#/") {
		return nil, fmt.Errorf("schema %q of API %q: only references inside the API's OpenAPI document are followed", rule.specRef, api)
	}
	var spec resource.Specification
	if err := json.Unmarshal(r.Body, &spec); err != nil {
		return nil, fmt.Errorf("specification %s: decode: %w", r.ID, err)
	}
	var d struct {
		OpenAPI string `json:"openapi"`
		// Schemas are in components, or inline in paths.
		Components json.RawMessage `json:"components"`
		Paths      json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(spec.Value), &d); err != nil {
		return nil, fmt.Errorf("specification %s: %w", r.ID, err)
	}
	root := map[string]json.RawMessage{}
	if len(d.Components) > 0 {
		root["components"] = d.Components
	}
	if len(d.Paths) > 0 {
		root["paths"] = d.Paths
	}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("specification %s: %w", r.ID, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("specification %s: %w", r.ID, err)
	}
	draft := jsonschema.Draft2020
	if !strings.HasPrefix(d.OpenAPI, "3.1") {
		draft = jsonschema.Draft4 // OpenAPI 3.0's schema object
		doc = nullableToType(doc)
	}
	if rule.additional != nil {
		setAdditional(doc, *rule.additional)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(draft)
	loc := "urn:tollgate:spec:" + api
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("specification %s: %w", r.ID, err)
	}
	// The pointer as a URL fragment ("{petId}" and the like escaped).
	sch, err := c.Compile(loc + "#" + (&url.URL{Fragment: rule.specRef[1:]}).EscapedFragment())
	if err != nil {
		return nil, fmt.Errorf("schema %s of specification %s does not compile: %w", rule.specRef, r.ID, err)
	}
	return sch, nil
}

// nullableToType rewrites OpenAPI 3.0's "nullable": true into JSON
// Schema: the schema's type also admits null (and its enum, null).
// Schemas are walked through every keyword; a property named "nullable"
// is a schema (an object), never the boolean keyword.
func nullableToType(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = nullableToType(c)
		}
		if n, ok := t["nullable"].(bool); ok {
			delete(t, "nullable")
			if !n {
				return t
			}
			switch typ := t["type"].(type) {
			case string:
				t["type"] = []any{typ, "null"}
			case []any:
				t["type"] = append(typ, "null")
			}
			if e, ok := t["enum"].([]any); ok {
				t["enum"] = append(e, nil)
			}
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = nullableToType(c)
		}
		return t
	}
	return v
}

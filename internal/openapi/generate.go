package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tollgate/tollgate/internal/resource"
)

// Generate describes an API that has no imported document from its
// operations, as OpenAPI 3.0.3 JSON: the server is the API's path on the
// gateway; schemas are not known, so bodies are described by content type
// and examples only. Operations OpenAPI cannot express (method *, a trailing /*
// wildcard) are left out and listed in the document's x-tollgate-omitted.
func Generate(ctx context.Context, api *resource.API, ops []*resource.Operation) ([]byte, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info:    &openapi3.Info{Title: api.DisplayName, Description: api.Description, Version: "1.0"},
		Servers: openapi3.Servers{{URL: "/" + api.Path}},
		Paths:   openapi3.NewPaths(),
	}
	if doc.Info.Title == "" {
		doc.Info.Title = api.Name
	}
	var omitted []string
	ops = slices.Clone(ops) // sorted here, not in the caller's slice
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	for _, o := range ops {
		tmpl, _, _ := strings.Cut(o.URLTemplate, "?")
		if o.Method == "*" || strings.Contains(tmpl, "*") {
			omitted = append(omitted, o.Method+" "+o.URLTemplate)
			continue
		}
		op := openapi3.NewOperation()
		op.OperationID, op.Summary, op.Description = o.Name, o.DisplayName, o.Description
		for _, p := range o.TemplateParameters {
			op.AddParameter(parameterOf(openapi3.NewPathParameter(p.Name), p))
		}
		if o.Request != nil {
			for _, p := range o.Request.QueryParameters {
				op.AddParameter(parameterOf(openapi3.NewQueryParameter(p.Name), p))
			}
			for _, p := range o.Request.Headers {
				op.AddParameter(parameterOf(openapi3.NewHeaderParameter(p.Name), p))
			}
			if len(o.Request.Representations) > 0 {
				op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{Description: o.Request.Description, Content: contentOf(o.Request.Representations)}}
			}
		}
		// Template parameters the operation does not describe are still
		// required by OpenAPI.
		for _, name := range templateNames(tmpl) {
			if op.Parameters.GetByInAndName(openapi3.ParameterInPath, name) == nil {
				op.AddParameter(openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema()))
			}
		}
		op.Responses = openapi3.NewResponses()
		for _, r := range o.Responses {
			desc := r.Description
			resp := &openapi3.Response{Description: &desc, Content: contentOf(r.Representations)}
			for _, h := range r.Headers {
				if resp.Headers == nil {
					resp.Headers = openapi3.Headers{}
				}
				resp.Headers[h.Name] = &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: *parameterOf(&openapi3.Parameter{}, h)}}
			}
			op.Responses.Set(strconv.Itoa(r.StatusCode), &openapi3.ResponseRef{Value: resp})
		}
		if op.Responses.Len() == 0 {
			// OpenAPI needs at least one; Tollgate knows none.
			op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The backend's response.")})
		}
		item := doc.Paths.Value(tmpl)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(tmpl, item)
		}
		item.SetOperation(o.Method, op)
	}
	if len(omitted) > 0 {
		doc.Extensions = map[string]any{"x-tollgate-omitted": omitted}
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("describe %s as OpenAPI: %w", api.Name, err)
	}
	return json.Marshal(doc)
}

func parameterOf(p *openapi3.Parameter, from resource.OperationParameter) *openapi3.Parameter {
	p.Description = from.Description
	p.Required = p.Required || from.Required
	s := openapi3.NewSchema()
	typ := from.Type
	if typ == "" {
		typ = "string"
	}
	s.Type = &openapi3.Types{typ}
	if from.DefaultValue != "" {
		if v, ok := typed(typ, from.DefaultValue); ok {
			s.Default = v
		}
	}
	for _, e := range from.Values {
		if v, ok := typed(typ, e); ok {
			s.Enum = append(s.Enum, v)
		}
	}
	p.Schema = openapi3.NewSchemaRef("", s)
	return p
}

func contentOf(reps []resource.Representation) openapi3.Content {
	if len(reps) == 0 {
		return nil
	}
	c := openapi3.Content{}
	for _, r := range reps {
		// Schema references point into the imported document's
		// components, which a generated document does not have.
		mt := &openapi3.MediaType{}
		for name, ex := range r.Examples {
			var v any
			if json.Unmarshal(ex, &v) == nil {
				if mt.Examples == nil {
					mt.Examples = openapi3.Examples{}
				}
				mt.Examples[name] = &openapi3.ExampleRef{Value: openapi3.NewExample(v)}
			}
		}
		c[r.ContentType] = mt
	}
	return c
}

// templateNames are the {name} segments of a URL template.
func templateNames(tmpl string) []string {
	var out []string
	for _, seg := range strings.Split(tmpl, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// typed reads a parameter value stored as text as the schema type's value.
func typed(typ, s string) (any, bool) {
	switch typ {
	case "integer":
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	case "number":
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case "boolean":
		b, err := strconv.ParseBool(s)
		return b, err == nil
	case "string":
		return s, true
	}
	return nil, false
}

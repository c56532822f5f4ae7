package portal

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// maxShownSchema bounds a schema as the operation page shows it.
const maxShownSchema = 64 << 10

// param is an operation parameter as the operation page and its console
// show it: from the URL template, with what the operation's contract says
// of it (an OpenAPI import fills it).
type param struct {
	Name, In, Type, Description, Default string
	Required                             bool
	Values                               []string
}

// templateParams lists the parameters of a URL template.
func templateParams(t string) []param {
	var out []param
	path, query, _ := strings.Cut(t, "?")
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, param{Name: seg[1 : len(seg)-1], In: "path", Required: true})
		}
	}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" && strings.HasPrefix(v, "{") {
			out = append(out, param{Name: k, In: "query"})
		}
	}
	return out
}

func contractParam(c resource.ParameterContract, in string) param {
	p := param{Name: c.Name, In: in, Type: c.Type, Description: c.Description, Default: c.DefaultValue, Required: c.Required, Values: c.Values}
	if p.Default == "" && len(c.Values) > 0 {
		p.Default = c.Values[0]
	}
	return p
}

// operationParams lists an operation's path and query parameters (the URL
// template's, described by its contract, then the contract's other query
// parameters) and its request headers.
func operationParams(op *resource.Operation) (params, headers []param) {
	described := map[string]resource.ParameterContract{}
	for _, c := range op.TemplateParameters {
		described["path/"+c.Name] = c
	}
	var query []resource.ParameterContract
	if op.Request != nil {
		query = op.Request.QueryParameters
		for _, c := range query {
			described["query/"+c.Name] = c
		}
		for _, c := range op.Request.Headers {
			headers = append(headers, contractParam(c, "header"))
		}
	}
	seen := map[string]bool{}
	for _, p := range templateParams(op.URLTemplate) {
		if c, ok := described[p.In+"/"+p.Name]; ok {
			req := p.Required
			p = contractParam(c, p.In)
			p.Required = p.Required || req
		}
		seen[p.In+"/"+p.Name] = true
		params = append(params, p)
	}
	for _, c := range query {
		if !seen["query/"+c.Name] {
			params = append(params, contractParam(c, "query"))
		}
	}
	return params, headers
}

// example is one named example of a body, as indented JSON.
type example struct{ Name, JSON string }

// representation is a body's content type with its examples and schema.
type representation struct {
	ContentType string
	Examples    []example
	// SchemaName says where the schema comes from ("Pet", a schema ref);
	// Schema is it as indented JSON, empty when unknown.
	SchemaName, Schema string
}

// response is one response of an operation.
type response struct {
	StatusCode      int
	Description     string
	Headers         []param
	Representations []representation
}

// contractView is what the operation page shows of an operation's
// contract, and what its console starts with.
type contractView struct {
	RequestDescription string
	Request            []representation
	Responses          []response
	// Body, BodyType and HeaderLines pre-fill the console: the request's
	// first example, its content type, and the headers with a default.
	Body, BodyType, HeaderLines string
}

// schemaSource reads the schemas an operation's representations name,
// each document at most once.
type schemaSource struct {
	ctx   context.Context
	st    store.Store
	api   string
	spec  any
	specd bool
	docs  map[string]any
}

// operationContract reads what the operation page shows of op's contract
// (from the store: the API's specification and schemas).
func (p *Portal) operationContract(ctx context.Context, apiID string, op *resource.Operation, headers []param) (*contractView, error) {
	src := &schemaSource{ctx: ctx, st: p.store, api: apiID, docs: map[string]any{}}
	v := &contractView{}
	var err error
	if op.Request != nil {
		v.RequestDescription = op.Request.Description
		if v.Request, err = src.representations(op.Request.Representations); err != nil {
			return nil, err
		}
	}
	for _, r := range op.Responses {
		resp := response{StatusCode: r.StatusCode, Description: r.Description}
		for _, h := range r.Headers {
			resp.Headers = append(resp.Headers, contractParam(h, "header"))
		}
		if resp.Representations, err = src.representations(r.Representations); err != nil {
			return nil, err
		}
		v.Responses = append(v.Responses, resp)
	}
	slices.SortStableFunc(v.Responses, func(a, b response) int { return a.StatusCode - b.StatusCode })
	var lines []string
	for _, h := range headers {
		if h.Default != "" {
			lines = append(lines, h.Name+": "+h.Default)
		}
	}
	for _, r := range v.Request {
		if len(r.Examples) > 0 {
			v.Body, v.BodyType = r.Examples[0].JSON, r.ContentType
			if !slices.ContainsFunc(headers, func(h param) bool { return strings.EqualFold(h.Name, "Content-Type") }) {
				lines = append(lines, "Content-Type: "+r.ContentType)
			}
			break
		}
	}
	v.HeaderLines = strings.Join(lines, "\n")
	return v, nil
}

func (src *schemaSource) representations(reps []resource.RepresentationContract) ([]representation, error) {
	var out []representation
	for _, r := range reps {
		rep := representation{ContentType: r.ContentType}
		names := make([]string, 0, len(r.Examples))
		for n := range r.Examples {
			names = append(names, n)
		}
		// "default" (OpenAPI's single example) first, then by name.
		slices.SortFunc(names, func(a, b string) int {
			if (a == "default") != (b == "default") {
				if a == "default" {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, n := range names {
			rep.Examples = append(rep.Examples, example{Name: n, JSON: indentJSON(r.Examples[n])})
		}
		var err error
		if rep.SchemaName, rep.Schema, err = src.schema(r); err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// schema finds a representation's schema: schemaRef in the API's schema
// schemaId, or in the imported specification; typeName in the schema's
// components or definitions. A schema that is not there shows as
// unknown rather than failing the page.
func (src *schemaSource) schema(r resource.RepresentationContract) (name, text string, err error) {
	var root any
	switch {
	case r.SchemaID != "":
		if root, err = src.apiSchema(r.SchemaID); err != nil {
			return "", "", err
		}
	case r.SchemaRef != "":
		if root, err = src.specification(); err != nil {
			return "", "", err
		}
	default:
		return "", "", nil
	}
	var v any
	switch {
	case root == nil:
		name = cmp.Or(r.SchemaRef, r.TypeName, r.SchemaID)
	case r.SchemaRef != "":
		name = r.SchemaRef
		v = pointer(root, r.SchemaRef)
	case r.TypeName != "":
		name = r.TypeName
		if v = pointer(root, "#/components/schemas/"+escapePointer(r.TypeName)); v == nil {
			v = pointer(root, "#/definitions/"+escapePointer(r.TypeName))
		}
	default:
		name, v = r.SchemaID, root
	}
	if v == nil {
		return name, "", nil
	}
	b, err := showJSON(v)
	if err != nil {
		return name, "", nil
	}
	if len(b) > maxShownSchema {
		b = append(b[:maxShownSchema], "\n…"...)
	}
	return name, string(b), nil
}

func (src *schemaSource) specification() (any, error) {
	if src.specd {
		return src.spec, nil
	}
	src.specd = true
	var spec resource.Specification
	if ok, err := src.read(src.api+"/specifications/"+resource.SpecificationOpenAPI, &spec); !ok {
		return nil, err
	}
	src.spec = decodeJSON([]byte(spec.Value))
	return src.spec, nil
}

func (src *schemaSource) apiSchema(schemaID string) (any, error) {
	if v, ok := src.docs[schemaID]; ok {
		return v, nil
	}
	src.docs[schemaID] = nil
	if !resource.ValidName(schemaID) {
		return nil, nil
	}
	id := src.api + "/schemas/" + schemaID
	var as resource.APISchema
	if ok, err := src.read(id, &as); !ok {
		return nil, err
	}
	root, err := as.Root()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	src.docs[schemaID] = decodeJSON(root)
	return src.docs[schemaID], nil
}

// read decodes the record id into v; false (and no error) when there is
// none.
func (src *schemaSource) read(id string, v any) (bool, error) {
	rec, err := src.st.Get(src.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", id, err)
	}
	if err := json.Unmarshal(rec.Body, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", id, err)
	}
	return true, nil
}

// pointer resolves a JSON pointer ("#/components/schemas/Pet") in v; nil
// when it points at nothing.
func pointer(v any, ref string) any {
	ref = strings.TrimPrefix(ref, "#")
	if ref == "" {
		return v
	}
	if !strings.HasPrefix(ref, "/") {
		return nil
	}
	for _, tok := range strings.Split(ref[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[tok]; !ok {
			return nil
		}
	}
	return v
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// showJSON formats a value as indented JSON for a page, with <, > and &
// as they are (the template escapes them), not as \u003c.
func showJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// indentJSON shows a JSON text indented (as it is when it does not
// parse).
func indentJSON(raw []byte) string {
	v := decodeJSON(raw)
	if v == nil {
		return string(raw)
	}
	b, err := showJSON(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// decodeJSON decodes a JSON text keeping numbers as written; nil when it
// does not parse.
func decodeJSON(raw []byte) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

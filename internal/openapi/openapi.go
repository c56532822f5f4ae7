// Package openapi turns OpenAPI descriptions (3.0, 3.1, and Swagger 2.0,
// in JSON or YAML) into Tollgate's API, operation and specification
// resources, refusing a bad document with the JSON pointer of the problem.
package openapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/resource"
)

// MaxDocument is the largest document Parse reads.
const MaxDocument = 8 << 20

// Error is a document that was refused: Pointer is the JSON pointer
// (RFC 6901) of the problem ("" for the whole document).
type Error struct {
	Pointer string
	Msg     string
}

func (e *Error) Error() string {
	if e.Pointer == "" {
		return "OpenAPI document: " + e.Msg
	}
	return fmt.Sprintf("OpenAPI document at %s: %s", e.Pointer, e.Msg)
}

// Document is a parsed, valid OpenAPI description.
type Document struct {
	// Doc is the description as OpenAPI 3.x (Swagger 2.0 converted).
	Doc *openapi3.T
	// JSON is the description kept for the portal and exports: the
	// original as JSON for 3.x, the conversion for Swagger 2.0.
	JSON []byte
	// SourceFormat is "swagger-2.0", "openapi-3.0" or "openapi-3.1".
	SourceFormat string
}

// Parse reads a JSON or YAML OpenAPI 3.0/3.1 or Swagger 2.0 document and
// validates it.
func Parse(ctx context.Context, data []byte) (*Document, error) {
	if len(data) > MaxDocument {
		return nil, &Error{Msg: fmt.Sprintf("larger than %d bytes", MaxDocument)}
	}
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return nil, &Error{Msg: "neither JSON nor YAML: " + err.Error()}
	}
	top, ok := generic.(map[string]any)
	if !ok {
		return nil, &Error{Msg: "must be an object with an openapi or swagger field"}
	}
	asJSON, err := json.Marshal(generic)
	if err != nil {
		return nil, &Error{Msg: "cannot be represented as JSON: " + err.Error()}
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	out := &Document{}
	switch {
	case top["swagger"] != nil:
		if v := fmt.Sprint(top["swagger"]); v != "2.0" {
			return nil, &Error{Pointer: "/swagger", Msg: fmt.Sprintf("version %q is not supported (2.0 is)", v)}
		}
		var d2 openapi2.T
		if err := json.Unmarshal(asJSON, &d2); err != nil {
			return nil, &Error{Msg: "not a Swagger 2.0 document: " + err.Error()}
		}
		d3, err := openapi2conv.ToV3(&d2)
		if err != nil {
			return nil, &Error{Msg: "converting Swagger 2.0: " + err.Error()}
		}
		if err := loader.ResolveRefsIn(d3, nil); err != nil {
			return nil, &Error{Msg: err.Error()}
		}
		out.Doc, out.SourceFormat = d3, "swagger-2.0"
		if out.JSON, err = json.Marshal(d3); err != nil {
			return nil, &Error{Msg: err.Error()}
		}
	case top["openapi"] != nil:
		v := fmt.Sprint(top["openapi"])
		switch {
		case strings.HasPrefix(v, "3.0"):
			out.SourceFormat = "openapi-3.0"
		case strings.HasPrefix(v, "3.1"):
			out.SourceFormat = "openapi-3.1"
		default:
			return nil, &Error{Pointer: "/openapi", Msg: fmt.Sprintf("version %q is not supported (3.0 and 3.1 are)", v)}
		}
		d3, err := loader.LoadFromData(asJSON)
		if err != nil {
			return nil, &Error{Pointer: pointerOf(err.Error()), Msg: err.Error()}
		}
		out.Doc, out.JSON = d3, asJSON
	default:
		return nil, &Error{Msg: "has neither an openapi nor a swagger field"}
	}
	if err := validate(ctx, out.Doc); err != nil {
		return nil, err
	}
	return out, nil
}

var refInMessage = regexp.MustCompile(`"#(/[^"]*)"`)

// pointerOf finds a pointer a loader error names (an unresolved $ref).
func pointerOf(msg string) string {
	if m := refInMessage.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// validate checks the document, and on failure narrows the problem to the
// first operation or component schema that fails on its own.
func validate(ctx context.Context, doc *openapi3.T) error {
	var opts []openapi3.ValidationOption
	if doc.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.IsOpenAPI31OrLater())
	}
	err := doc.Validate(ctx, opts...)
	if err == nil {
		return nil
	}
	vctx := openapi3.WithValidationOptions(ctx, opts...)
	if doc.Info == nil {
		return &Error{Pointer: "/info", Msg: "is required"}
	}
	if e := doc.Info.Validate(vctx); e != nil {
		return &Error{Pointer: "/info", Msg: e.Error()}
	}
	if doc.Paths != nil {
		for _, p := range doc.Paths.InMatchingOrder() {
			item := doc.Paths.Value(p)
			if item == nil {
				return &Error{Pointer: "/paths/" + escape(p), Msg: "must be a path item object"}
			}
			for _, m := range sortedMethods(item) {
				if e := item.GetOperation(m).Validate(vctx); e != nil {
					return &Error{Pointer: "/paths/" + escape(p) + "/" + strings.ToLower(m), Msg: e.Error()}
				}
			}
			if e := item.Validate(vctx); e != nil {
				return &Error{Pointer: "/paths/" + escape(p), Msg: e.Error()}
			}
		}
	}
	if doc.Components != nil {
		names := make([]string, 0, len(doc.Components.Schemas))
		for n := range doc.Components.Schemas {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if e := doc.Components.Schemas[n].Validate(vctx); e != nil {
				return &Error{Pointer: "/components/schemas/" + escape(n), Msg: e.Error()}
			}
		}
	}
	return &Error{Msg: err.Error()}
}

func sortedMethods(item *openapi3.PathItem) []string {
	var ms []string
	for m, op := range item.Operations() {
		if op != nil {
			ms = append(ms, m)
		}
	}
	sort.Strings(ms)
	return ms
}

// Imported is what a document becomes.
type Imported struct {
	API        *resource.API
	Operations []*resource.Operation
	Spec       *resource.Specification
	// Skipped says what could not be mapped and why.
	Skipped []string
}

// Convert maps the document to resources of the API with the given ID.
// The API's path is apiPath if given, else the path of the first server
// URL, else the ID; its service URL is the first absolute server URL.
func (d *Document) Convert(apiID, apiPath string) (*Imported, error) {
	doc := d.Doc
	api := &resource.API{}
	resource.SetMeta(api, "/apis/"+apiID)
	if doc.Info != nil {
		api.DisplayName = clip(doc.Info.Title, 300)
		api.Description = clip(doc.Info.Description, resource.MaxStringLength)
	}
	for _, s := range doc.Servers {
		u := s.URL
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			if !strings.Contains(u, "{") {
				api.ServiceURL = strings.TrimRight(u, "/")
			}
			if apiPath == "" {
				if i := strings.Index(u[len("https://"):], "/"); i >= 0 {
					apiPath = strings.Trim(u[len("https://")+i:], "/")
				}
			}
			break
		}
		if apiPath == "" && strings.HasPrefix(u, "/") {
			apiPath = strings.Trim(u, "/")
		}
	}
	if apiPath == "" {
		apiPath = apiID
	}
	api.Path = apiPath
	out := &Imported{API: api}
	out.Spec = &resource.Specification{Format: "openapi+json", SourceFormat: d.SourceFormat, Value: string(d.JSON)}
	resource.SetMeta(out.Spec, "/apis/"+apiID+"/specifications/"+resource.SpecificationOpenAPI)

	used := map[string]bool{}
	if doc.Paths == nil {
		return out, nil
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		if item == nil {
			continue
		}
		for _, m := range sortedMethods(item) {
			op := item.GetOperation(m)
			name := uniqueName(operationName(op.OperationID, m, p), used)
			o := &resource.Operation{Method: m, URLTemplate: p}
			resource.SetMeta(o, "/apis/"+apiID+"/operations/"+name)
			o.DisplayName = clip(cmp.Or(op.Summary, op.OperationID, m+" "+p), 300)
			o.Description = clip(op.Description, 1000)
			params := append(append(openapi3.Parameters(nil), item.Parameters...), op.Parameters...)
			for _, pr := range params {
				if pr == nil || pr.Value == nil {
					continue
				}
				par := parameter(pr.Value)
				switch pr.Value.In {
				case openapi3.ParameterInPath:
					o.TemplateParameters = append(o.TemplateParameters, par)
				case openapi3.ParameterInQuery:
					req(o).QueryParameters = append(req(o).QueryParameters, par)
				case openapi3.ParameterInHeader:
					req(o).Headers = append(req(o).Headers, par)
				default:
					out.Skipped = append(out.Skipped, fmt.Sprintf("%s %s: %s parameter %q (Tollgate keeps path, query and header parameters)", m, p, pr.Value.In, pr.Value.Name))
				}
			}
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				req(o).Description = clip(rb.Value.Description, 1000)
				req(o).Representations = representations(rb.Value.Content, contentPointer(rb.Ref, "paths", p, strings.ToLower(m), "requestBody"))
			}
			if op.Responses != nil {
				for _, c := range slices.Sorted(maps.Keys(op.Responses.Map())) {
					status, err := strconv.Atoi(c)
					if err != nil || status < 100 || status > 599 {
						out.Skipped = append(out.Skipped, fmt.Sprintf("%s %s: response %q (only numeric status codes map to operation responses)", m, p, c))
						continue
					}
					r := op.Responses.Value(c)
					if r == nil || r.Value == nil {
						continue
					}
					resp := resource.OperationResponse{StatusCode: status, Representations: representations(r.Value.Content, contentPointer(r.Ref, "paths", p, strings.ToLower(m), "responses", c))}
					if r.Value.Description != nil {
						resp.Description = clip(*r.Value.Description, 1000)
					}
					for _, hn := range slices.Sorted(maps.Keys(r.Value.Headers)) {
						h := r.Value.Headers[hn]
						if h != nil && h.Value != nil {
							par := parameter(&h.Value.Parameter)
							par.Name = hn
							resp.Headers = append(resp.Headers, par)
						}
					}
					o.Responses = append(o.Responses, resp)
				}
			}
			out.Operations = append(out.Operations, o)
		}
	}
	return out, nil
}

func req(o *resource.Operation) *resource.OperationRequest {
	if o.Request == nil {
		o.Request = &resource.OperationRequest{}
	}
	return o.Request
}

func parameter(p *openapi3.Parameter) resource.OperationParameter {
	out := resource.OperationParameter{Name: p.Name, Description: clip(p.Description, 1000), Required: p.Required, Type: "string"}
	if p.Schema != nil && p.Schema.Value != nil {
		s := p.Schema.Value
		if s.Type != nil && len(s.Type.Slice()) > 0 {
			for _, t := range s.Type.Slice() {
				if t != "null" {
					out.Type = t
					break
				}
			}
		}
		if s.Default != nil {
			out.DefaultValue = fmt.Sprint(s.Default)
		}
		for _, e := range s.Enum {
			out.Values = append(out.Values, fmt.Sprint(e))
		}
	}
	return out
}

// contentPointer is the JSON pointer ("#/paths/~1pets/post/requestBody")
// of a request body's or response's content object in the document, or
// of the component a $ref names.
func contentPointer(ref string, tokens ...string) string {
	if strings.HasPrefix(ref, "#/") {
		return ref + "/content"
	}
	if ref != "" {
		return "" // in another document: not followed
	}
	var b strings.Builder
	b.WriteString("#")
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(pointerToken(t))
	}
	b.WriteString("/content")
	return b.String()
}

// representations describes a content object; content is its JSON
// pointer in the document, where a schema written inline is found.
func representations(c openapi3.Content, content string) []resource.Representation {
	var out []resource.Representation
	for _, ct := range slices.Sorted(maps.Keys(c)) {
		mt := c[ct]
		r := resource.Representation{ContentType: ct}
		if mt == nil {
			out = append(out, r)
			continue
		}
		switch {
		case mt.Schema == nil:
		case mt.Schema.Ref != "":
			r.SchemaRef = mt.Schema.Ref
		case content != "" && mt.Schema.Value != nil:
			// Written inline: its place in the document.
			r.SchemaRef = content + "/" + pointerToken(ct) + "/schema"
		}
		if mt.Example != nil {
			addExample(&r, "default", mt.Example)
		}
		for _, n := range slices.Sorted(maps.Keys(mt.Examples)) {
			if e := mt.Examples[n]; e != nil && e.Value != nil && e.Value.Value != nil {
				addExample(&r, n, e.Value.Value)
			}
		}
		out = append(out, r)
	}
	return out
}

func addExample(r *resource.Representation, name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if r.Examples == nil {
		r.Examples = map[string]json.RawMessage{}
	}
	r.Examples[name] = b
}

var (
	nameBad = regexp.MustCompile(`[^A-Za-z0-9._~-]+`)
	dashes  = regexp.MustCompile(`--+`)
)

// operationName makes a resource name from an operationId, or from the
// method and path.
func operationName(id, method, path string) string {
	s := id
	if s == "" {
		s = strings.ToLower(method) + "-" + path
	}
	s = strings.Trim(dashes.ReplaceAllString(nameBad.ReplaceAllString(s, "-"), "-"), "-._~")
	if s == "" {
		s = strings.ToLower(method)
	}
	return clip(s, 70)
}

func uniqueName(base string, used map[string]bool) string {
	name := base
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	used[strings.ToLower(name)] = true
	return name
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Indent formats a stored document for export.
func Indent(doc []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// pointerToken escapes one JSON pointer token (RFC 6901).
func pointerToken(t string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
}

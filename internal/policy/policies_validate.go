package policy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// --- validate-content ---

// Where schemas come from: validate-content's schema-id names an API
// schema resource, /apis/{apiId}/schemas/{schemaId} (resource.APISchema:
// a JSON Schema, OpenAPI components or Swagger definitions), and
// schema-ref points inside it ("#/components/schemas/user"). Without
// schema-id, a <content> uses the operation's representation for the
// content type (request.representations, or the response's for its
// status): its schemaId, and its typeName inside the document. The gateway
// passes the schema records to the compiler with the policy documents; an
// OpenAPI import fills schemas and representations. The content types
// specified are the representations' and the policy's <content> types.

const (
	actionIgnore  = "ignore"
	actionPrevent = "prevent"
	actionDetect  = "detect"
)

type validateContent struct {
	unspecifiedAction string
	maxSize           int64
	sizeAction        string
	errorsVar         string
	anyType           string // content-type-map any-content-type-value
	missingType       string // content-type-map missing-content-type-value
	typeMap           []contentTypeRule
	contents          []*contentRule
}

type contentTypeRule struct {
	from, when, to string
}

type contentRule struct {
	typ        string
	validateAs string
	schemaID   string
	schemaRef  string
	action     string
	additional *bool // allow-additional-properties; nil keeps the schema's
	// typeName is a representation's typeName: the schema inside the
	// schema document (components/schemas/{typeName} or
	// definitions/{typeName}) when schemaRef is empty.
	typeName string
	// specRef is a representation's schemaRef when it names no schemaId:
	// a schema of the API's imported OpenAPI document.
	specRef string
}

func compileValidateContent(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	actions := []string{actionIgnore, actionPrevent, actionDetect}
	p := &validateContent{
		unspecifiedAction: a.oneOf("unspecified-content-type-action", "", actions...),
		maxSize:           a.integer("max-size", 0, 0, 4<<20, true),
		sizeAction:        a.oneOf("size-exceeded-action", "", actions...),
		errorsVar:         a.str("errors-variable-name", "", false),
	}
	if p.unspecifiedAction == "" {
		a.fail(e.Pos, "attribute 'unspecified-content-type-action' is required")
	}
	if p.sizeAction == "" {
		a.fail(e.Pos, "attribute 'size-exceeded-action' is required")
	}
	if int(p.maxSize) > cc.c.opts.MaxBodyBuffer {
		a.fail(e.Pos, "max-size is larger than the gateway's body buffer (%d bytes)", cc.c.opts.MaxBodyBuffer)
	}
	for _, c := range a.children("content-type-map", "content") {
		switch c.Name {
		case "content-type-map":
			ma := cc.attrs(c, "any-content-type-value", "missing-content-type-value")
			p.anyType = strings.ToLower(ma.str("any-content-type-value", "", false))
			p.missingType = strings.ToLower(ma.str("missing-content-type-value", "", false))
			for _, t := range ma.children("type") {
				if t.Name != "type" {
					continue
				}
				ta := cc.attrs(t, "from", "when", "to")
				r := contentTypeRule{from: strings.ToLower(ta.str("from", "", false)), when: ta.str("when", "", false), to: strings.ToLower(ta.str("to", "", true))}
				if (r.from == "") == (r.when == "") {
					ta.fail(t.Pos, "<type> needs one of from or when")
				}
				if r.when != "" {
					ta.fail(t.Pos, "attribute 'when' is not supported: map literal content types with from")
				}
				ma.merge(ta.err())
				p.typeMap = append(p.typeMap, r)
			}
			a.merge(ma.err())
		case "content":
			ca := cc.attrs(c, "type", "validate-as", "schema-id", "schema-ref", "action", "allow-additional-properties", "case-insensitive-property-names")
			r := &contentRule{
				typ:        strings.ToLower(ca.str("type", "", false)),
				validateAs: ca.oneOf("validate-as", "", "json", "xml", "soap"),
				schemaID:   ca.str("schema-id", "", false),
				schemaRef:  ca.str("schema-ref", "", false),
				action:     ca.oneOf("action", "", actions...),
			}
			if r.validateAs == "" {
				ca.fail(c.Pos, "attribute 'validate-as' is required (json, xml or soap)")
			}
			if r.action == "" {
				ca.fail(c.Pos, "attribute 'action' is required (ignore, prevent or detect)")
			}
			if ca.has("allow-additional-properties") {
				b := ca.boolean("allow-additional-properties", true)
				r.additional = &b
			}
			if ca.boolean("case-insensitive-property-names", false) {
				er.Warn(c.Pos, "case-insensitive-property-names is not supported: property names are matched exactly")
			}
			if r.validateAs != "json" && r.schemaID != "" {
				ca.fail(c.Pos, "schema-id with validate-as=%q is not supported: Tollgate validates JSON schemas; XML and SOAP bodies are checked for well-formedness", r.validateAs)
			}
			if r.schemaRef != "" && r.schemaID == "" {
				ca.fail(c.Pos, "schema-ref needs schema-id")
			}
			a.merge(ca.err())
			p.contents = append(p.contents, r)
		}
	}
	return p, a.err()
}

// contentError is one problem found in a body, as the errors variable
// lists it.
type contentError struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	ValidationRule string `json:"validationRule"`
	Details        string `json:"details"`
	Action         string `json:"action"`
	// message, when set, is the error message prevent answers with.
	message string
}

func (p *validateContent) Run(x *Exchange) error {
	response := x.section == secOutbound || x.section == secOnError
	var header http.Header
	var body []byte
	var err error
	var reps []resource.RepresentationContract
	if response {
		if !x.resp.present {
			return nil
		}
		header = x.resp.header
		body, err = x.loadResponseBody()
		if rc := responseContract(x); rc != nil {
			reps = rc.Representations
		}
	} else {
		header = x.r.Header
		body, err = x.loadRequestBody()
		if op := x.call.Operation; op != nil && op.Request != nil {
			reps = op.Request.Representations
		}
	}
	var errs []contentError
	add := func(rule, details, action string) {
		errs = append(errs, contentError{Name: "", Type: "body", ValidationRule: rule, Details: details, Action: action})
	}
	switch {
	case err != nil:
		add("size", "the body is larger than the gateway keeps in memory", p.sizeAction)
	case int64(len(body)) > p.maxSize:
		add("size", fmt.Sprintf("the body has %d bytes, more than max-size %d", len(body), p.maxSize), p.sizeAction)
	}
	ct := p.mapType(header.Get("Content-Type"))
	var rule *contentRule
	for _, c := range p.contents {
		if c.typ == "" || c.typ == ct {
			rule = c
			break
		}
	}
	var rep *resource.RepresentationContract
	for i := range reps {
		if strings.EqualFold(reps[i].ContentType, ct) {
			rep = &reps[i]
		}
	}
	if rule != nil && rule.schemaID == "" && rep != nil {
		switch {
		case rep.SchemaID != "":
			// The operation's representation names the schema.
			r := *rule
			r.schemaID, r.typeName = rep.SchemaID, rep.TypeName
			rule = &r
		case rep.SchemaRef != "":
			// An imported operation: the schema is in the API's OpenAPI
			// document.
			r := *rule
			r.specRef = rep.SchemaRef
			rule = &r
		}
	}
	switch {
	case err != nil || int64(len(body)) > p.maxSize:
		// Not validated further.
	case rule == nil && rep != nil:
		// Specified by the operation, with no <content> to validate it.
	case rule == nil && len(body) > 0:
		add("specified", fmt.Sprintf("content type %q is not specified", ct), p.unspecifiedAction)
	case rule != nil && len(body) > 0:
		problems, err := p.validate(x, rule, body)
		if err != nil {
			return fail(http.StatusInternalServerError, "SchemaNotUsable", "validate-content: "+err.Error())
		}
		what := "request"
		if response {
			what = "response"
		}
		for _, d := range problems {
			add("schema", d, rule.action)
			if rule.schemaID != "" || rule.specRef != "" {
				// APIM's words for a body that breaks its schema.
				errs[len(errs)-1].message = fmt.Sprintf("Body of the %s does not conform to the definition %s, which is associated with the content type %s. %s", what, rule.definition(), ct, d)
			}
		}
	}
	return p.report(x, errs, response)
}

// definition names the schema a body is checked against, as APIM's
// messages do: the representation's type name, else the last segment of
// the schema reference, else the schema's id.
func (r *contentRule) definition() string {
	if r.typeName != "" {
		return r.typeName
	}
	for _, ref := range []string{r.schemaRef, r.specRef} {
		if ref != "" {
			return ref[strings.LastIndex(ref, "/")+1:]
		}
	}
	if r.schemaID != "" {
		return r.schemaID
	}
	return "(none)"
}

// mapType applies content-type-map to a Content-Type header.
func (p *validateContent) mapType(h string) string {
	ct := ""
	if h != "" {
		if mt, _, err := mime.ParseMediaType(h); err == nil {
			ct = strings.ToLower(mt)
		} else {
			ct = strings.ToLower(strings.TrimSpace(h))
		}
	}
	if ct == "" && p.missingType != "" {
		return p.missingType
	}
	for _, r := range p.typeMap {
		if r.from == ct {
			return r.to
		}
	}
	if ct != "" && p.anyType != "" {
		return p.anyType
	}
	return ct
}

// validate checks body against rule, returning the problems found; an
// error is a schema that is missing or does not compile.
func (p *validateContent) validate(x *exchange, rule *contentRule, body []byte) ([]string, error) {
	switch rule.validateAs {
	case "xml", "soap":
		d := xml.NewDecoder(bytes.NewReader(body))
		for {
			_, err := d.Token()
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return []string{"the body is not well-formed XML: " + err.Error()}, nil
			}
		}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []string{"the body is not valid JSON: " + err.Error()}, nil
	}
	if rule.schemaID == "" && rule.specRef == "" {
		return nil, nil
	}
	apiName := ""
	if x.call.API != nil {
		apiName = x.call.API.Name
	}
	sch, err := x.p.set.schema(apiName, rule)
	if err != nil {
		x.logger().Warn("validate-content: schema unusable", "api", apiName, "schema", rule.schemaID+rule.specRef, "error", err)
		return nil, err
	}
	err = sch.Validate(v)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			return []string{err.Error()}, nil
		}
		return nil, nil
	}
	var out []string
	printer := message.NewPrinter(language.English)
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c) // a $ref or group's "validation failed": its causes say what
			}
			return
		}
		if len(out) < 20 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(printer))
		}
	}
	walk(ve)
	if len(out) == 0 {
		out = append(out, ve.Error())
	}
	return out, nil
}

// report applies validate-content's actions: prevent answers 400 (413
// for the size) for a request and 502 for a response.
func (p *validateContent) report(x *exchange, errs []contentError, response bool) error {
	return x.validationReport(p.errorsVar, errs, func(e contentError) error {
		msg := e.message
		switch {
		case msg != "":
		case response:
			msg = "Response body does not conform to the API's definition: " + e.Details
		default:
			msg = "Request body does not conform to the API's definition: " + e.Details
		}
		if response {
			return &failure{Status: http.StatusBadGateway, Reason: "ResponseBodyValidationFailed", Message: msg}
		}
		status := http.StatusBadRequest
		if e.ValidationRule == "size" {
			status = http.StatusRequestEntityTooLarge
		}
		return &failure{Status: status, Reason: "RequestBodyValidationFailed", Message: msg}
	})
}

// validationReport sets a validation policy's errors variable (a JSON
// array), logs detected errors and fails with prevent(e) for the first
// error whose action is prevent.
func (x *exchange) validationReport(errorsVar string, errs []contentError, prevent func(contentError) error) error {
	if len(errs) == 0 {
		return nil
	}
	if errorsVar != "" {
		b, _ := json.Marshal(errs)
		if v, err := expression.ParseJSON(b); err == nil {
			x.vars()[errorsVar] = v
		}
	}
	for _, e := range errs {
		switch e.Action {
		case actionDetect:
			x.logger().Info("validation: detected", "requestId", x.call.RequestID, "rule", e.ValidationRule, "details", e.Details)
		case actionPrevent:
			return prevent(e)
		}
	}
	return nil
}

// --- schemas ---

// schemaSet holds a configuration's API schemas, the APIs' imported
// OpenAPI documents and the schemas compiled from them.
type schemaSet struct {
	docs     map[string]store.Record // "api/schemaId"
	specs    map[string]store.Record // api: its OpenAPI specification
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

func newSchemaSet(records []store.Record) *schemaSet {
	s := &schemaSet{docs: map[string]store.Record{}, specs: map[string]store.Record{}, compiled: map[string]*jsonschema.Schema{}}
	for _, r := range records {
		switch r.Kind {
		case resource.KindAPISchemas:
			// "/apis/{api}/schemas/{id}"
			api, id, ok := strings.Cut(strings.TrimPrefix(r.ID, "/apis/"), "/schemas/")
			if ok {
				s.docs[api+"/"+id] = r
			}
		case resource.SpecificationKind().Name:
			// "/apis/{api}/specifications/openapi"
			api, id, ok := strings.Cut(strings.TrimPrefix(r.ID, "/apis/"), "/specifications/")
			if ok && id == resource.SpecificationOpenAPI {
				s.specs[api] = r
			}
		}
	}
	return s
}

// noLoader refuses every external $ref: schemas may only refer inside
// their own document.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema reference %q is not followed", url)
}

// schema returns rule's compiled schema for an API.
// A schema is compiled once per configuration (the first time a call
// needs it).
func (s *Set) schema(api string, rule *contentRule) (*jsonschema.Schema, error) {
	ss := s.schemas
	ck := api + "/" + rule.schemaID + "#" + rule.schemaRef + "@" + rule.typeName + "!" + rule.specRef
	if rule.additional != nil {
		ck += fmt.Sprintf("+%v", *rule.additional)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if sch := ss.compiled[ck]; sch != nil {
		return sch, nil
	}
	compile := ss.compileAPISchema
	if rule.schemaID == "" && rule.specRef != "" {
		compile = ss.compileSpecSchema
	}
	sch, err := compile(api, rule)
	if err != nil {
		return nil, err
	}
	if len(ss.compiled) < 1000 {
		ss.compiled[ck] = sch
	}
	return sch, nil
}

// compileAPISchema compiles rule's schema from an API schema record.
func (ss *schemaSet) compileAPISchema(api string, rule *contentRule) (*jsonschema.Schema, error) {
	key := api + "/" + rule.schemaID
	r, ok := ss.docs[key]
	if !ok {
		return nil, fmt.Errorf("schema %q of API %q does not exist", rule.schemaID, api)
	}
	var as resource.APISchema
	if err := json.Unmarshal(r.Body, &as); err != nil {
		return nil, fmt.Errorf("schema %s: decode: %w", r.ID, err)
	}
	root, err := as.Root()
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", r.ID, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(root))
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", r.ID, err)
	}
	if rule.additional != nil {
		setAdditional(doc, *rule.additional)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft4) // OpenAPI and Swagger schemas
	loc := "urn:tollgate:schema:" + strings.ReplaceAll(key, "/", ":")
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", r.ID, err)
	}
	ref := rule.schemaRef
	if ref != "" && !strings.HasPrefix(ref, "#") {
		ref = "#" + ref
	}
	if ref == "" && rule.typeName != "" {
		switch {
		case len(as.Document.Components) > 0:
			ref = "#/components/schemas/" + rule.typeName
		case len(as.Document.Definitions) > 0:
			ref = "#/definitions/" + rule.typeName
		}
	}
	sch, err := c.Compile(loc + ref)
	if err != nil {
		return nil, fmt.Errorf("schema %s%s does not compile: %w", r.ID, rule.schemaRef, err)
	}
	return sch, nil
}

// setAdditional applies allow-additional-properties to every object
// schema of a document.
func setAdditional(v any, allow bool) {
	switch t := v.(type) {
	case map[string]any:
		if _, isObj := t["properties"]; isObj || t["type"] == "object" {
			if allow {
				delete(t, "additionalProperties")
			} else if _, set := t["additionalProperties"]; !set {
				t["additionalProperties"] = false
			}
		}
		for _, c := range t {
			setAdditional(c, allow)
		}
	case []any:
		for _, c := range t {
			setAdditional(c, allow)
		}
	}
}

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"regexp"
	"strings"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"

	"github.com/tollgate/tollgate/internal/expression"
)

// set-body template="liquid": the element's content is a Liquid template
// (github.com/osteele/liquid) rendered with APIM's model: body (the
// message body parsed as JSON, or XML, else its text) and context
// (Request, Response, Variables, Api, Operation, Product, Subscription,
// User, RequestId). The template is the content as written, markup
// included, so it can build XML around {{...}} values.

// liquidTags are the tags a template may use. include and render (which
// read files) and anything unknown are refused when the document is saved.
var liquidTags = map[string]bool{
	"if": true, "elsif": true, "else": true, "endif": true, "unless": true, "endunless": true,
	"case": true, "when": true, "endcase": true, "for": true, "endfor": true, "break": true, "continue": true,
	"assign": true, "capture": true, "endcapture": true, "comment": true, "endcomment": true, "raw": true, "endraw": true,
	"cycle": true, "tablerow": true, "endtablerow": true,
}

var liquidTagRe = regexp.MustCompile(`\{%-?\s*([A-Za-z_][A-Za-z0-9_]*)`)

// newLiquidEngine returns the engine templates are parsed with, with
// APIM's JsonEscape and XmlEscape filters.
func newLiquidEngine() *liquid.Engine {
	e := liquid.NewEngine()
	e.RegisterTag("include", func(render.Context) (string, error) { return "", errors.New("include is not supported") })
	e.RegisterFilter("json_escape", func(s string) string {
		b, _ := json.Marshal(s)
		return string(b[1 : len(b)-1])
	})
	e.RegisterFilter("xml_escape", func(s string) string {
		var b strings.Builder
		xmlEscape(&b, s)
		return b.String()
	})
	e.RegisterFilter("h", func(s string) string { return html.EscapeString(s) })
	return e
}

var liquidMarkupRe = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)

var liquidFilterRe = regexp.MustCompile(`\|\s*([A-Z][A-Za-z]*)`)

// liquidFilterNames maps APIM's (DotLiquid's) filter names to Liquid's
// where they differ by more than case.
var liquidFilterNames = map[string]string{"TruncateWords": "truncatewords", "H": "h"}

// lowerFilterNames rewrites APIM's PascalCase filter names ({{ x | Upcase }},
// {{ x | RemoveFirst: "a" }}) inside the template's markup to Liquid's
// (upcase, remove_first).
func lowerFilterNames(src string) string {
	return liquidMarkupRe.ReplaceAllStringFunc(src, func(m string) string {
		return liquidFilterRe.ReplaceAllStringFunc(m, func(f string) string {
			i := strings.IndexFunc(f, func(r rune) bool { return r >= 'A' && r <= 'Z' })
			name := f[i:]
			if n, ok := liquidFilterNames[name]; ok {
				return f[:i] + n
			}
			var b strings.Builder
			for k, r := range name {
				if r >= 'A' && r <= 'Z' {
					if k > 0 {
						b.WriteByte('_')
					}
					r += 'a' - 'A'
				}
				b.WriteRune(r)
			}
			return f[:i] + b.String()
		})
	})
}

type liquidBody struct {
	t        *liquid.Template
	response bool
}

func compileLiquidBody(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.oneOf("xsi-nil", "blank", "blank", "null")
	a.boolean("parse-date", true)
	src := e.InnerXML()
	if t := strings.TrimSpace(src); strings.HasPrefix(t, "<![CDATA[") && strings.HasSuffix(t, "]]>") && strings.Count(t, "<![CDATA[") == 1 {
		src = t[len("<![CDATA[") : len(t)-len("]]>")]
	}
	for _, m := range liquidTagRe.FindAllStringSubmatchIndex(src, -1) {
		if name := src[m[2]:m[3]]; !liquidTags[name] {
			a.fail(posInElement(e, m[2]), "liquid tag '%s' is not supported", name)
		}
	}
	if len(a.errs) > 0 {
		return nil, a.err()
	}
	t, err := cc.c.liquid.ParseString(lowerFilterNames(src))
	if err != nil {
		a.fail(e.Pos, "bad liquid template: %s", err.Error())
		return nil, a.err()
	}
	return &liquidBody{t: t, response: cc.onResponse()}, a.err()
}

// posInElement approximates the position of offset off of e's content:
// its text positions are exact when the text is contiguous.
func posInElement(e *Element, off int) Pos {
	if len(e.Children) == 0 {
		return e.Text.PosAt(off)
	}
	return e.Pos
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	b bytes.Buffer
	n int
}

var errLiquidTooLarge = errors.New("the rendered body is larger than the gateway buffers for policies")

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.n {
		return 0, errLiquidTooLarge
	}
	return w.b.Write(p)
}

func (p *liquidBody) Run(x *Exchange) error {
	target := bodyTarget(p.response)
	raw, err := target.load(x)
	if err != nil {
		return err
	}
	bindings := map[string]any{"body": liquidBodyValue(raw), "context": x.liquidContext()}
	w := &limitWriter{n: x.c.opts.MaxBodyBuffer}
	if err := p.t.FRender(w, bindings); err != nil {
		return fail(http.StatusInternalServerError, "LiquidTemplateFailure", "set-body: the liquid template failed: "+err.Error())
	}
	target.set(x, w.b.Bytes())
	return nil
}

// liquidBodyValue parses a body for a template: JSON, then XML (elements
// as properties, attributes and text as in xml-to-json's
// javascript-friendly kind, without the root element), else the text.
func liquidBodyValue(b []byte) any {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return ""
	}
	if t[0] == '{' || t[0] == '[' {
		var v any
		if json.Unmarshal(t, &v) == nil {
			return v
		}
	}
	if t[0] == '<' {
		conv := &xmlToJSON{}
		if out, err := conv.convert(t); err == nil {
			var v map[string]any
			if json.Unmarshal(out, &v) == nil {
				for _, root := range v {
					return root
				}
			}
		}
	}
	return string(b)
}

// liquidContext is APIM's context object as templates see it.
func (x *exchange) liquidContext() map[string]any {
	ec := x.ectx()
	headers := func(h expression.Headers) map[string]any {
		m := make(map[string]any, len(h))
		for k, v := range h {
			j := strings.Join(v, ",")
			m[k] = j
			m[strings.ToLower(k)] = j
		}
		return m
	}
	urlMap := func(u *expression.URL) map[string]any {
		if u == nil {
			return nil
		}
		q := map[string]any{}
		for k, v := range u.Query {
			q[k] = strings.Join(v, ",")
		}
		return map[string]any{"Scheme": u.Scheme, "Host": u.Host, "Port": u.Port, "Path": u.Path, "Query": q,
			"QueryString": u.QueryString, "ToString": u.String()}
	}
	c := map[string]any{"RequestId": ec.RequestId}
	if r := ec.Request; r != nil {
		params := map[string]any{}
		for k, v := range r.MatchedParameters {
			params[k] = v
		}
		c["Request"] = map[string]any{"Method": r.Method, "OriginalMethod": x.r.Method, "Url": urlMap(r.Url), "OriginalUrl": urlMap(r.Url),
			"IpAddress": r.IpAddress, "MatchedParameters": params, "Headers": headers(r.Headers), "HasBody": x.r.ContentLength != 0}
	}
	if r := ec.Response; r != nil {
		c["Response"] = map[string]any{"StatusCode": r.StatusCode, "StatusReason": r.StatusReason, "Headers": headers(r.Headers)}
	}
	vars := map[string]any{}
	for k, v := range ec.Variables {
		vars[k] = expression.ToString(v)
	}
	c["Variables"] = vars
	if a := ec.Api; a != nil {
		c["Api"] = map[string]any{"Id": a.Id, "Name": a.Name, "Path": a.Path, "ServiceUrl": urlMap(a.ServiceUrl)}
	}
	if o := ec.Operation; o != nil {
		c["Operation"] = map[string]any{"Id": o.Id, "Name": o.Name, "Method": o.Method, "UrlTemplate": o.UrlTemplate}
	}
	if p := ec.Product; p != nil {
		c["Product"] = map[string]any{"Id": p.Id, "Name": p.Name}
	}
	if s := ec.Subscription; s != nil {
		c["Subscription"] = map[string]any{"Id": s.Id, "Name": s.Name}
	}
	if u := ec.User; u != nil {
		c["User"] = map[string]any{"Id": u.Id, "Email": u.Email, "FirstName": u.FirstName, "LastName": u.LastName}
	}
	return c
}

var liquidBodyRe = regexp.MustCompile(`(?s)<set-body\b[^>]*\btemplate\s*=\s*["']liquid["'][^>]*>.*?</set-body\s*>`)

// outsideLiquid drops the {{name}} references inside liquid set-body
// templates that no named value defines: they are the template's own
// output tags ({{body.name}}), not named values.
func outsideLiquid(text string, missing []namedValueRef) []namedValueRef {
	if len(missing) == 0 {
		return missing
	}
	spans := liquidBodyRe.FindAllStringIndex(text, -1)
	if len(spans) == 0 {
		return missing
	}
	out := missing[:0]
	for _, m := range missing {
		inside := false
		for _, s := range spans {
			if m.start >= s[0] && m.end <= s[1] {
				inside = true
			}
		}
		if !inside {
			out = append(out, m)
		}
	}
	return out
}

package policy

import (
	"net/http"
	"strings"
)

// --- cross-domain ---

// crossDomain answers Flash's /crossdomain.xml and Silverlight's
// /clientaccesspolicy.xml with the policy's content. Tollgate routes a
// request to a policy only once it matched an API, so the files are served
// under an API's path (a request whose path ends in /crossdomain.xml);
// other requests pass through untouched.
type crossDomain struct {
	flash, silverlight []byte
}

func compileCrossDomain(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	p := &crossDomain{}
	for _, c := range a.children("cross-domain-policy", "access-policy") {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
		writeElement(&b, c)
		switch c.Name {
		case "cross-domain-policy":
			if p.flash != nil {
				a.fail(c.Pos, "<cross-domain-policy> appears twice")
			}
			p.flash = []byte(b.String())
		case "access-policy":
			if p.silverlight != nil {
				a.fail(c.Pos, "<access-policy> appears twice")
			}
			p.silverlight = []byte(b.String())
		}
	}
	if p.flash == nil && p.silverlight == nil && len(a.e.Children) == 0 {
		a.fail(a.e.Pos, "cross-domain needs a <cross-domain-policy> (Adobe's format) or <access-policy> (Silverlight's) element")
	}
	return p, a.err()
}

func (p *crossDomain) Run(x *Exchange) error {
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
		return nil
	}
	var body []byte
	switch path := x.r.URL.Path; {
	case strings.HasSuffix(path, "/crossdomain.xml"):
		body = p.flash
	case strings.HasSuffix(path, "/clientaccesspolicy.xml"):
		body = p.silverlight
	}
	if body == nil {
		return nil
	}
	x.newResponse(http.StatusOK)
	x.resp.header.Set("Content-Type", "text/xml; charset=utf-8")
	x.setResponseBody(body)
	return errReturn
}

// writeElement writes e back as XML (attributes and text escaped).
func writeElement(b *strings.Builder, e *Element) {
	b.WriteString("<" + e.Name)
	for _, at := range e.Attrs {
		b.WriteString(" " + at.Name + `="`)
		xmlEscape(b, at.Value.Value)
		b.WriteString(`"`)
	}
	if len(e.Children) == 0 && strings.TrimSpace(e.Text.Value) == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	xmlEscape(b, strings.TrimSpace(e.Text.Value))
	for _, c := range e.Children {
		writeElement(b, c)
	}
	b.WriteString("</" + e.Name + ">")
}

package policy_test

import (
	"strings"
	"testing"
)

// Documents as people write them (pasted from blogs, the portal's editor,
// exported and hand-edited) are read; a bad one is refused at its line
// and column with the reason.
func TestReadDocumentsAsWritten(t *testing.T) {
	c := newCompiler()
	good := []string{
		// Raw '<', '>' and '&&' inside expressions, in attributes and text.
		`<policies><inbound><set-variable name="a" value="@(1 < 2 && 3 > 2)" /></inbound></policies>`,
		`<policies><inbound><set-variable name="a" value='@(context.Request.Headers.GetValueOrDefault("a","") != "" && 1<2)' /></inbound></policies>`,
		`<policies><inbound><set-body>@{ var x = 1; if (x < 2 && x > 0) { return "<a>"; } return "b"; }</set-body></inbound></policies>`,
		`<policies><inbound><set-variable name="a" value="@{ return "a</b>"; }" /></inbound></policies>`,
		`<policies><inbound><set-variable name="a" value="@(context.Variables.GetValueOrDefault<string>("x", ""))" /></inbound></policies>`,
		// Spaces before the expression.
		`<policies><inbound><set-variable name="a" value=" @(1 < 2 && true)" /></inbound></policies>`,
		"<policies><inbound><set-header name=\"a\" exists-action=\"override\"><value>\n\t\t@(1 < 2 ? \"a\" : \"b\")\n\t</value></set-header></inbound></policies>",
		// CDATA, as text and around an expression.
		`<policies><inbound><set-body><![CDATA[<xml>&&</xml>]]></set-body></inbound></policies>`,
		`<policies><inbound><set-header name="a" exists-action="override"><value><![CDATA[@(1 < 2 ? "a" : "b")]]></value></set-header></inbound></policies>`,
		// Comments anywhere.
		`<!-- top --><policies><!-- c --><inbound><!-- c --><base /><!-- c --><set-header name="a" exists-action="override"><!-- c --><value>v<!-- c --></value></set-header></inbound><!-- c --></policies><!-- end -->`,
		// Named values inside attributes and expressions.
		`<policies><inbound><set-header name="{{hname}}" exists-action="override"><value>@("{{nv}}" + "x")</value></set-header></inbound></policies>`,
		`<policies><inbound><set-variable name="a" value="@("{{nv}}" == "x" && {{flag}})" /></inbound></policies>`,
		// A bare '&' that is no entity means itself.
		`<policies><inbound><send-request mode="new" response-variable-name="r"><set-url>https://x.example/?a=1&b=2</set-url></send-request></inbound></policies>`,
		`<policies><inbound><set-variable name="a" value="Tom & Jerry" /></inbound></policies>`,
		// Windows line ends and an XML declaration.
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<policies>\r\n<inbound>\r\n<base />\r\n</inbound>\r\n</policies>",
	}
	for i, d := range good {
		if ps := c.CheckOffline(d, nil); len(ps) > 0 {
			t.Errorf("%d: %v\n%s", i, ps, d)
		}
	}

	// Named values substituted: values with '<' and '&&' land intact.
	values := map[string]string{"hname": "X-A", "nv": `a<b & c`, "flag": "1 < 2 && true"}
	if ps := c.CheckOffline(good[11], values); len(ps) > 0 {
		t.Errorf("named values: %v", ps)
	}

	bad := []struct{ doc, want string }{
		{"<policies>\n<inbound>\n<set-variable name=\"a\" value=\"@(1 < (2 && true)\" />\n</inbound>\n</policies>", "3:"},
		{"<policies>\n<inbound>\n<!-- a comment -->\n<set-header name=\"a\" exists-action=\"override\"><value>a &bogus; b</value></set-header>\n</inbound>\n</policies>", "4:56: bad entity reference"},
		{"<policies>\n<inbound>\n<set-body><![CDATA[never closed</set-body>\n</inbound>\n</policies>", "3:11: unterminated CDATA section"},
		{"<policies>\n<inbound>\n<!-- never closed\n</inbound>\n</policies>", "3:1: unterminated comment"},
		{"<policies>\n<inbound>\n  <set-variable name=\"a\" value=\"@(1 +)\" />\n</inbound>\n</policies>", "3:"},
		{"<policies>\n<inbound>\n  <set-header name=\"a\" exists-action=\"override\"><value>x < y</value></set-header>\n</inbound>\n</policies>", "3:58: '<' in text"},
	}
	for _, b := range bad {
		ps := c.CheckOffline(b.doc, nil)
		if len(ps) == 0 || !strings.HasPrefix(ps[0].String(), b.want) {
			t.Errorf("%q: %v, want %q...", b.doc, ps, b.want)
		}
	}
}

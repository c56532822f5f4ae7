package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRelaxedDialect(t *testing.T) {
	doc := `<?xml version="1.0"?>
<!-- leading comment -->
<policies>
  <inbound>
    <choose>
      <when condition="@(context.LastError.Source == "validate-jwt" && context.Request.Headers.GetValueOrDefault("a", "") != "")">
        <set-header name="x" exists-action="override"><value>@(1 < 2 && 3 > 2 ? "a" : "b")</value></set-header>
      </when>
    </choose>
    <set-body>@{ var s = "}"; if (s.Length < 3) { return $"{s}{{x}}"; } return 'c'.ToString(); }</set-body>
    <set-variable name="v" value="@(&quot;x&quot; + &apos;y&apos;)" />
    <set-header name="a&amp;b" exists-action='override'><!-- c --><value>a &lt; b</value></set-header>
  </inbound>
</policies>
`
	d, err := Read(doc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Root.Name != "policies" || d.Root.Pos != (Pos{3, 1}) {
		t.Fatalf("root %s at %v", d.Root.Name, d.Root.Pos)
	}
	in := d.Root.Children[0]
	when := in.Children[0].Children[0]
	cond, _ := when.Attr("condition")
	if want := `@(context.LastError.Source == "validate-jwt" && context.Request.Headers.GetValueOrDefault("a", "") != "")`; cond.Value.Value != want {
		t.Fatalf("condition %q", cond.Value.Value)
	}
	if cond.Pos != (Pos{6, 13}) || cond.Value.PosAt(0) != (Pos{6, 24}) {
		t.Fatalf("condition at %v, value at %v", cond.Pos, cond.Value.PosAt(0))
	}
	val := when.Children[0].Children[0]
	if val.Text.Value != `@(1 < 2 && 3 > 2 ? "a" : "b")` || val.Pos != (Pos{7, 55}) {
		t.Fatalf("value %q at %v", val.Text.Value, val.Pos)
	}
	body := in.Children[1]
	if !strings.HasSuffix(body.Text.Value, "return 'c'.ToString(); }") {
		t.Fatalf("body %q", body.Text.Value)
	}
	sv, _ := in.Children[2].Attr("value")
	if sv.Value.Value != `@("x" + 'y')` {
		t.Fatalf("entity value %q", sv.Value.Value)
	}
	// Offsets map through decoded entities: the '+' is at column 44.
	if p := sv.Value.PosAt(strings.IndexByte(sv.Value.Value, '+')); p != (Pos{11, 51}) {
		t.Fatalf("+ at %v", p)
	}
	sh := in.Children[3]
	n, _ := sh.Attr("name")
	if n.Value.Value != "a&b" || sh.Children[0].Text.Value != "a < b" {
		t.Fatalf("got %q %q", n.Value.Value, sh.Children[0].Text.Value)
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"<policies>\n  <inbound>\n    <a b=\"@(x(1\"/>\n</inbound></policies>", "3:16: unterminated expression starting at 3:11"},
		{"<policies><inbound></outbound></policies>", "1:22: </outbound> does not close <inbound> opened at 1:11"},
		{"<policies>\n<inbound>", "2:1: element <inbound> is not closed"},
		{"<policies a=\"1\" a=\"2\"/>", `1:17: attribute "a" appears twice`},
		{"<policies a=\"x < y\"/>", `1:16: '<' in the value of attribute "a" (write &lt;)`},
		{"<policies>&bogus;</policies>", "1:11: bad entity reference (write &amp; for '&')"},
		{"", "1:1: document has no root element"},
		{"<a/><b/>", "1:5: only one root element is allowed"},
		{"<a b=\"@(x)y\"/>", `1:11: expected " to end attribute "b" after its expression`},
		{"<a b=\"@(x)  y\"/>", `1:13: expected " to end attribute "b" after its expression`},
		{"<a>@(\"abc)</a>", `1:15: unterminated string starting at 1:6 in expression starting at 1:4`},
		{"<a>@(x])</a>", `1:7: unexpected ']' in expression starting at 1:4`},
		{"<a>@(x(])</a>", `1:8: ']' does not match '(' at 1:7`},
		{"<a>x < y</a>", "1:6: '<' in text: write &lt;, or put it inside an expression @(...)"},
		{"<!DOCTYPE x><a/>", "1:1: DOCTYPE and other declarations are not allowed"},
		{strings.Repeat("<a>", MaxDepth+1), "1:193: elements are nested deeper than 64"},
	}
	for _, c := range cases {
		_, err := Read(c.doc)
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != c.want {
			t.Errorf("Read(%q) = %v, want %s", c.doc, err, c.want)
		}
	}
	if _, err := Read("<a>" + strings.Repeat(" ", MaxDocumentSize) + "</a>"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized document: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`<policies><inbound><base/><set-header name="a" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("a",""))</value></set-header></inbound></policies>`,
		`<policies><inbound><choose><when condition="@(context.LastError.Source == "validate-jwt")"><return-response/></when></choose></inbound></policies>`,
		`<a>@{ var x = $"{y}{{z}}"; return x < 3 && y > 4; }</a>`,
		`<a b='@(@"c""d")'><!-- x --><![CDATA[<raw>]]>&#x41;&#65;</a>`,
		`<a>@('(' + "\"" + /* ) */ "x")</a>`,
		`<a b=" @(1 < 2 && 3 > 2)" c="https://x/?a=1&b=2">Tom & Jerry &bogus;</a>`,
		`<set-body template="liquid"><soap:Body><c>{{body.a.b}}</c></soap:Body></set-body>`,
	} {
		f.Add(s)
	}
	files, _ := filepath.Glob("testdata/*/*.xml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Read(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		var walk func(e *Element)
		walk = func(e *Element) {
			if e.Name == "" {
				t.Fatal("empty element name")
			}
			for _, a := range e.Attrs {
				for i := range len(a.Value.Value) {
					if p := a.Value.PosAt(i); p.Line < 1 || p.Col < 1 {
						t.Fatalf("bad position %v", p)
					}
				}
			}
			for i := range len(e.Text.Value) {
				if p := e.Text.PosAt(i); p.Line < 1 || p.Col < 1 {
					t.Fatalf("bad position %v", p)
				}
			}
			for _, c := range e.Children {
				walk(c)
			}
		}
		walk(d.Root)
	})
}

func TestReadExpressionAttributeTrailingSpace(t *testing.T) {
	d, err := Read(`<a b="@(x == "y") " c='@{ return "'"; }'/>`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.Root.Attr("b")
	c, _ := d.Root.Attr("c")
	if b.Value.Value != `@(x == "y")` || c.Value.Value != `@{ return "'"; }` {
		t.Fatalf("b=%q c=%q", b.Value.Value, c.Value.Value)
	}
}

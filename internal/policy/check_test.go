package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/store"
)

// mapLookup is a Lookup over maps.
type mapLookup struct {
	values map[string]string
	frags  map[string]string
}

func (m mapLookup) NamedValue(_ context.Context, n string) (policy.ResolvedValue, bool, error) {
	v, ok := m.values[n]
	return policy.ResolvedValue{Value: v}, ok, nil
}

func (m mapLookup) Fragment(_ context.Context, id string) (string, bool, error) {
	v, ok := m.frags[id]
	return v, ok, nil
}

func newCompiler() *policy.Compiler {
	return policy.NewCompiler(policy.Options{Limiter: ratelimit.NewLocal(ratelimit.LocalOptions{})})
}

func TestSaveTimeRefusals(t *testing.T) {
	c := newCompiler()
	lk := mapLookup{values: map[string]string{"known": "v"}, frags: map[string]string{
		"ok":      `<fragment><set-header name="X-F" exists-action="override"><value>f</value></set-header></fragment>`,
		"inbound": `<fragment><rate-limit-by-key calls="1" renewal-period="1" counter-key="k"/></fragment>`,
	}}
	cases := []struct {
		name, doc, want string
	}{
		{"unknown policy", "<policies>\n  <inbound>\n    <set-headr name=\"a\"/>\n  </inbound>\n</policies>", "3:5: unknown policy 'set-headr'"},
		{"unsupported policy", "<policies><outbound><xsl-transform/></outbound></policies>", "1:21: policy 'xsl-transform' is not supported"},
		{"bad attribute value", "<policies><inbound>\n<set-header name=\"a\" exists-action=\"replace\"/></inbound></policies>", "2:37: set-header: attribute 'exists-action' must be one of override, skip, append, delete"},
		{"unknown attribute", "<policies><inbound><set-variable name=\"a\" value=\"b\" colour=\"red\"/></inbound></policies>", "1:53: set-variable: unknown attribute 'colour'"},
		{"missing attribute", "<policies><inbound><rate-limit-by-key calls=\"1\" renewal-period=\"60\"/></inbound></policies>", "1:20: rate-limit-by-key: attribute 'counter-key' is required"},
		{"wrong section", "<policies><outbound>\n  <rate-limit calls=\"1\" renewal-period=\"60\"/></outbound></policies>", "2:3: policy 'rate-limit' is not allowed in <outbound> (allowed in: inbound)"},
		{"not allowed in on-error", "<policies><on-error><set-body>x</set-body></on-error></policies>", "1:21: policy 'set-body' is not allowed in <on-error> (allowed in: inbound, backend, outbound)"},
		{"bad expression", "<policies><inbound>\n  <set-variable name=\"a\" value=\"@(1 +)\"/></inbound></policies>", "2:"},
		{"malformed markup", "<policies><inbound>\n  <set-variable name=\"a\" value=\"@(context.Request.Headers.GetValueOrDefault(\"a\")\"/>\n</inbound></policies>", "2:81: unterminated expression starting at 2:33"},
		{"missing named value", "<policies><inbound>\n  <set-variable name=\"a\" value=\"{{missing}}\"/></inbound></policies>", "2:33: named value 'missing' is not defined"},
		{"missing fragment", "<policies><inbound><include-fragment fragment-id=\"nope\"/></inbound></policies>", "1:38: fragment 'nope' does not exist"},
		{"fragment policy in wrong section", "<policies><outbound><include-fragment fragment-id=\"inbound\"/></outbound></policies>", "1:21: in fragment 'inbound' at 1:11: policy 'rate-limit-by-key' is not allowed in <outbound>"},
		{"base twice", "<policies><inbound><base/><base/></inbound></policies>", "1:27: <base/> appears twice in <inbound>"},
		{"base nested", "<policies><inbound><choose><when condition=\"true\"><base/></when></choose></inbound></policies>", "1:51: <base/> is only allowed directly inside a section"},
		{"wrong root", "<policy/>", "1:1: the root element must be <policies>, not <policy>"},
		{"section twice", "<policies><inbound/><inbound/></policies>", "1:21: section <inbound> appears twice"},
		{"when outside choose", "<policies><inbound><when condition=\"true\"/></inbound></policies>", "1:20: <when> is only allowed inside <choose>"},
		{"bad status", "<policies><outbound><set-status code=\"99\"/></outbound></policies>", "1:39: set-status: attribute 'code' must be an HTTP status between 100 and 599"},
		{"bad integer", "<policies><backend><forward-request timeout=\"soon\"/></backend></policies>", "1:46: forward-request: attribute 'timeout' must be an integer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := c.CheckDocument(context.Background(), "/apis/echo/policies/policy", tc.doc, lk)
			if len(ps) == 0 {
				t.Fatalf("no problem reported, want %s", tc.want)
			}
			got := ps[0].String()
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q (all: %v)", got, tc.want, ps)
			}
		})
	}
	good := `<policies><inbound><base/><set-variable name="a" value="{{known}}"/><include-fragment fragment-id="ok"/></inbound><outbound><include-fragment fragment-id="ok"/></outbound></policies>`
	if ps := c.CheckDocument(context.Background(), "/policies/policy", good, lk); len(ps) != 0 {
		t.Errorf("good document refused: %v", ps)
	}
}

func TestBadExpressionPosition(t *testing.T) {
	c := newCompiler()
	// The expression starts at column 32; its error is inside it.
	ps := c.CheckDocument(context.Background(), "/policies/policy",
		"<policies><inbound>\n  <set-variable name=\"a\" value=\"@(1 + )\"/></inbound></policies>", mapLookup{})
	if len(ps) != 1 || ps[0].Line != 2 || ps[0].Column < 32 || ps[0].Column > 40 || !strings.Contains(ps[0].Message, "bad expression") {
		t.Fatalf("got %v", ps)
	}
	// The same through a named value: positions stay in the saved text.
	ps = c.CheckDocument(context.Background(), "/policies/policy",
		"<policies><inbound>\n  <set-variable name=\"a\" value=\"{{e}}\"/>\n  <set-variable name=\"b\" value=\"@(1 + )\"/></inbound></policies>", mapLookup{values: map[string]string{"e": "a longer value than its reference"}})
	if len(ps) != 1 || ps[0].Line != 3 || ps[0].Column < 32 || ps[0].Column > 40 {
		t.Fatalf("got %v", ps)
	}
}

func TestRefusedSaveKeepsPreviousDocument(t *testing.T) {
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<set-header name="X-V" exists-action="override"><value>one</value></set-header>`, "", "", "")})
	if err := e.reload(map[string]string{"/apis/echo/policies/policy": doc(`<set-header name="X-V" exists-action="sometimes"/>`, "", "", "")}); err == nil {
		t.Fatal("a bad document compiled")
	}
	if r := e.get("/echo/x"); r.echo.Header["X-V"][0] != "one" {
		t.Fatalf("previous document not in force: %v", r.echo.Header)
	}
}

func TestNamedValueRecompilation(t *testing.T) {
	kr := testKeyring(t)
	docs := map[string]string{"/apis/echo/policies/policy": doc(
		`<set-header name="X-Plain" exists-action="override"><value>{{plain}}</value></set-header>`+
			`<set-header name="X-Secret" exists-action="override"><value>{{secret}}</value></set-header>`+
			`<set-header name="X-Expr" exists-action="override"><value>@("p:" + "{{plain}}")</value></set-header>`, "", "", "")}
	e := newEnv(t, docs, namedValue(t, kr, "plain", "first", false), namedValue(t, kr, "secret", `p"a<s&s`, true))
	r := e.get("/echo/x")
	if r.echo.Header["X-Plain"][0] != "first" || r.echo.Header["X-Secret"][0] != `p"a<s&s` || r.echo.Header["X-Expr"][0] != "p:first" {
		t.Fatalf("got %v", r.echo.Header)
	}
	if err := e.reload(docs, namedValue(t, kr, "plain", "second", false), namedValue(t, kr, "secret", "other", true)); err != nil {
		t.Fatal(err)
	}
	r = e.get("/echo/x")
	if r.echo.Header["X-Plain"][0] != "second" || r.echo.Header["X-Secret"][0] != "other" || r.echo.Header["X-Expr"][0] != "p:second" {
		t.Fatalf("after change: %v", r.echo.Header)
	}
	if strings.Contains(e.log.String(), "other") {
		t.Error("a secret value reached the log")
	}
}

func TestFragments(t *testing.T) {
	frag := fragment(t, "stamp", `<fragment><set-header name="X-Frag" exists-action="append"><value>@(context.Request.Method)</value></set-header></fragment>`)
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<include-fragment fragment-id="stamp"/><base/>`, "", `<include-fragment fragment-id="stamp"/>`, "")}, frag)
	r := e.get("/echo/x")
	if strings.Join(r.echo.Header["X-Frag"], ",") != "GET" || r.header.Get("X-Frag") != "GET" {
		t.Fatalf("got %v / %v", r.echo.Header, r.header)
	}
}

func TestUsersAndReferences(t *testing.T) {
	nv := rec(t, "/namedValues/limit", "namedValues", nvResource("limit-display", "5"))
	recs := []store.Record{
		nv,
		fragment(t, "f", `<fragment><set-variable name="a" value="{{limit-display}}"/></fragment>`),
		rec(t, "/apis/a/policies/policy", "apis/policies", policyResource(`<policies><inbound><include-fragment fragment-id="f"/></inbound></policies>`)),
		rec(t, "/policies/policy", "policies", policyResource(`<policies><inbound><set-variable name="a" value="{{limit}}"/></inbound></policies>`)),
	}
	users := policy.Users(recs, nv)
	if strings.Join(users, ",") != "/policyFragments/f,/policies/policy" {
		t.Errorf("named value users %v", users)
	}
	if users := policy.Users(recs, recs[1]); strings.Join(users, ",") != "/apis/a/policies/policy" {
		t.Errorf("fragment users %v", users)
	}
	refs := policy.References(`<policies><inbound><include-fragment fragment-id="f"/><set-variable name="{{a}}" value="{{b}}{{a}}"/></inbound></policies>`)
	if strings.Join(refs.NamedValues, ",") != "a,b" || strings.Join(refs.Fragments, ",") != "f" {
		t.Errorf("refs %+v", refs)
	}
}

func TestCheckOffline(t *testing.T) {
	c := newCompiler()
	d := `<policies><inbound><rate-limit-by-key calls="{{calls}}" renewal-period="60" counter-key="@(context.Request.IpAddress)"/><include-fragment fragment-id="x"/></inbound></policies>`
	if ps := c.CheckOffline(d, nil); len(ps) != 0 {
		t.Errorf("offline check refused: %v", ps)
	}
	if ps := c.CheckOffline(d, map[string]string{"calls": "ten"}); len(ps) != 1 || !strings.Contains(ps[0].Message, "must be an integer") {
		t.Errorf("with named values: %v", ps)
	}
	if ps := c.CheckOffline(d, map[string]string{}); len(ps) != 1 || !strings.Contains(ps[0].Message, "named value 'calls' is not defined") {
		t.Errorf("missing named value: %v", ps)
	}
}

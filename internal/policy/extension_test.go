package policy_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
)

// requireClaim is a stand-in for an extension such as validate-jwt.
type requireClaim struct {
	header string
	want   *policy.Value
}

func (p *requireClaim) Run(x *policy.Exchange) error {
	want, err := p.want.String(x)
	if err != nil {
		return err
	}
	if x.Request().Header.Get(p.header) != want {
		return policy.Failure(http.StatusUnauthorized, "TokenClaimValueNotAllowed", "Claim value not allowed.", http.Header{"Www-Authenticate": {"Bearer"}})
	}
	x.SetVariable("claim-ok", true)
	return nil
}

func TestExtensionPolicy(t *testing.T) {
	ext := policy.Extension{
		Name: "validate-jwt", Sections: []string{"inbound"}, Attributes: []string{"header-name", "value"},
		Compile: func(r *policy.ElementReader) (policy.ExtensionPolicy, error) {
			p := &requireClaim{header: r.String("header-name", "", true), want: r.Value("value", true)}
			if strings.HasPrefix(p.header, "X-Bad") {
				a, _ := r.Element().Attr("header-name")
				r.Fail(a.Value.PosAt(0), "bad header")
			}
			return p, nil
		},
	}
	c := policy.NewCompiler(policy.Options{Extensions: []policy.Extension{ext}, Logger: slog.New(slog.DiscardHandler)})
	ps := c.CheckDocument(context.Background(), "/policies/policy", `<policies><inbound><validate-jwt header-name="X-Bad" value="a" colour="x"/></inbound><outbound><validate-jwt header-name="a" value="b"/></outbound></policies>`, mapLookup{})
	got := []string{}
	for _, p := range ps {
		got = append(got, p.String())
	}
	want := "1:47: validate-jwt: bad header|1:64: validate-jwt: unknown attribute 'colour'|1:96: policy 'validate-jwt' is not allowed in <outbound> (allowed in: inbound)"
	if strings.Join(got, "|") != want {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}

	e := newEnv(t, nil)
	e.compiler = c
	set, err := c.CompileSet(t.Context(), append(e.src.records, policyRecords(t, map[string]string{
		"/apis/echo/policies/policy": doc(`<validate-jwt header-name="X-Claim" value="@(&quot;ok&quot;)"/>`, "", "",
			`<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header>`),
	})...))
	if err != nil {
		t.Fatal(err)
	}
	p := set.Pipeline("/apis/echo", "/apis/echo/operations/any", "")
	for _, tc := range []struct {
		claim  string
		status int
		reason string
	}{{"ok", 200, ""}, {"no", 401, "validate-jwt/TokenClaimValueNotAllowed"}} {
		w := newRecorder()
		req, _ := http.NewRequest(http.MethodGet, "http://gw/echo/x", nil)
		req.Header.Set("X-Claim", tc.claim)
		p.Serve(w, req, newCall(t, e), forwarderTo(e))
		if w.Code != tc.status || w.Header().Get("X-Reason") != tc.reason {
			t.Errorf("claim %q: %d %q %s", tc.claim, w.Code, w.Header().Get("X-Reason"), w.Body.String())
		}
		if tc.status == 401 && w.Header().Get("Www-Authenticate") != "Bearer" {
			t.Errorf("missing failure header: %v", w.Header())
		}
	}
}

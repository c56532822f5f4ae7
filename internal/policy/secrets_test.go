package policy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// TestSecretNamedValueNotInProblems: a save refused because of what a
// secret named value put into the document names the value {{sekrit}},
// never its text nor a piece of it. A plain value is shown as is.
func TestSecretNamedValueNotInProblems(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr := testKeyring(t)
	c := policy.NewCompiler(policy.Options{Open: kr.Open})
	const secret = "TOPSECRET-NV-VALUE-456"
	_, err = st.Update(ctx, func(tx store.Tx) error {
		for _, r := range []store.Record{
			namedValue(t, kr, "sekrit", secret, true),
			namedValue(t, kr, "plain", "PLAIN-VALUE", false),
			fragment(t, "leaky", `<fragment><{{sekrit}} /></fragment>`),
		} {
			if _, err := tx.Put(ctx, r, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, doc, want string }{
		{"expression", `<policies><inbound><set-header name="X" exists-action="override"><value>@({{sekrit}})</value></set-header></inbound></policies>`, "{{sekrit}}"},
		{"element name", `<policies><inbound><{{sekrit}} /></inbound></policies>`, "unknown policy '{{sekrit}}'"},
		{"attribute", `<policies><inbound><rate-limit-by-key calls="{{sekrit}}" renewal-period="60" counter-key="k"/></inbound></policies>`, "must be an integer"},
		{"fragment", `<policies><inbound><include-fragment fragment-id="leaky"/></inbound></policies>`, "unknown policy '{{sekrit}}'"},
		{"string literal", `<policies><inbound><set-variable name="v" value="@(&quot;{{sekrit}})"/></inbound></policies>`, ""},
	}
	_, err = st.Update(ctx, func(tx store.Tx) error {
		lk := c.StoreLookup(tx)
		for _, tc := range cases {
			ps := c.CheckDocument(ctx, "/apis/a/policies/policy", tc.doc, lk)
			if len(ps) == 0 {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			msg := policy.Problems(ps).Error()
			for _, piece := range []string{secret, "TOPSECRET", "VALUE", "456"} {
				if strings.Contains(msg, piece) {
					t.Errorf("%s: %q shows %q", tc.name, msg, piece)
				}
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q does not name %q", tc.name, msg, tc.want)
			}
		}
		// A plain named value is no secret: the message shows it.
		ps := c.CheckDocument(ctx, "/apis/a/policies/policy", `<policies><inbound><{{plain}} /></inbound></policies>`, lk)
		if len(ps) != 1 || ps[0].Message != "unknown policy 'PLAIN-VALUE'" {
			t.Errorf("plain: %v", ps)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOfflineNamedValuesShown: `policy check --named-values` has no
// secrets, so its messages show the values it substituted.
func TestOfflineNamedValuesShown(t *testing.T) {
	ps := newCompiler().CheckOffline(`<policies><inbound><{{v}} /></inbound></policies>`, map[string]string{"v": "TOPSECRET-NV-VALUE-456"})
	if len(ps) != 1 || ps[0].Message != "unknown policy 'TOPSECRET-NV-VALUE-456'" {
		t.Errorf("got %v", ps)
	}
}

// TestSecretNamedValueNotInLastError: a run time error whose message
// quotes a secret named value (a missing dictionary key) reaches
// context.LastError.Message with the value redacted.
func TestSecretNamedValueNotInLastError(t *testing.T) {
	kr := testKeyring(t)
	e := newEnv(t, nil)
	mustReload(t, e.reload(map[string]string{"/apis/echo/policies/policy": doc(
		`<set-variable name="v" value="@((string)context.Variables[&quot;{{sekrit}}&quot;])"/>`, "", "",
		`<return-response><set-status code="500"/><set-body>@(context.LastError.Message)</set-body></return-response>`)},
		namedValue(t, kr, "sekrit", "TOPSECRET-NV-VALUE-456", true)))
	r := e.get("/echo/x")
	if r.status != 500 || !strings.Contains(r.body, "{{sekrit}}") || strings.Contains(r.body, "TOPSECRET") || strings.Contains(r.body, "456") {
		t.Errorf("got %d %q", r.status, r.body)
	}
}

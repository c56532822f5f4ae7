package policy_test

import (
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
)

// FuzzCheck compiles arbitrary documents: compilation must report problems
// with real positions, never panic.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`<policies><inbound><base/><rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)"/></inbound></policies>`,
		`<policies><inbound><choose><when condition="@(context.Request.Method == "GET")"><return-response><set-status code="200"/></return-response></when><otherwise/></choose></inbound></policies>`,
		`<policies><backend><retry condition="@(true)" count="2" interval="1"><forward-request timeout="10"/></retry></backend></policies>`,
		`<fragment><set-header name="a" exists-action="append"><value>{{x}}</value></set-header></fragment>`,
		`<policies><inbound><cors><allowed-origins><origin>*</origin></allowed-origins></cors><ip-filter action="allow"><address>10.0.0.0/8</address></ip-filter></inbound></policies>`,
	} {
		f.Add(s)
	}
	c := policy.NewCompiler(policy.Options{})
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range c.CheckOffline(s, nil) {
			if p.Line < 1 || p.Column < 1 || p.Message == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}

package policy_test

import (
	"os"
	"path/filepath"
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
		`<policies><inbound><cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept</vary-by-header></cache-lookup></inbound><outbound><cache-store duration="@(60)"/><jsonp callback-parameter-name="cb"/><json-to-xml apply="always"/></outbound></policies>`,
		`<policies><outbound><set-body template="liquid">{% if body.a %}<x>{{body.a | upcase}}</x>{% endif %}</set-body><xml-to-json kind="direct" apply="always"/></outbound></policies>`,
		`<policies><inbound><wait for="any"><send-request mode="new" response-variable-name="r"><set-url>https://x/?a=1&b=2</set-url></send-request></wait><emit-metric name="m"><dimension name="API ID"/></emit-metric></inbound></policies>`,
	} {
		f.Add(s)
	}
	files, _ := filepath.Glob("testdata/reference/*.xml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(string(b))
		}
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

package policy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// bodyForwarder answers every call with a fixed body and content type.
type bodyForwarder struct {
	body        []byte
	contentType string
}

func (f bodyForwarder) Forward(context.Context, *gateway.Call, *http.Request, gateway.ForwardOptions) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {f.contentType}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body))}, nil
}

const benchJSON = `{"order":{"id":"42","customer":{"name":"Contoso","email":"a@contoso.example"},"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}],"note":"notebook"}}`

const benchXML = `<order id="42"><customer><name>Contoso</name><email>a@contoso.example</email></customer><item sku="a" qty="1"/><item sku="b" qty="2"/><note>notebook</note></order>`

func outboundDoc(outbound string) string {
	return `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/>` + outbound + `</outbound><on-error><base/></on-error></policies>`
}

var jsonBackend = bodyForwarder{body: []byte(benchJSON), contentType: "application/json"}

// BenchmarkPolicyCacheLookupHit: every call is answered from the
// in-process cache (the first one fills it).
func BenchmarkPolicyCacheLookupHit(b *testing.B) {
	benchPipelineFwd(b, `<policies><inbound><base/><cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept</vary-by-header></cache-lookup></inbound><backend><base/></backend><outbound><base/><cache-store duration="3600"/></outbound><on-error><base/></on-error></policies>`, jsonBackend, nil)
}

// BenchmarkPolicyCacheStoreMiss: every call misses (no-store from the
// backend is not used: the key varies by a header that changes) and
// stores the response.
func BenchmarkPolicyCacheStoreMiss(b *testing.B) {
	benchPipelineFwd(b, `<policies><inbound><base/><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" caching-type="internal"/></inbound><backend><base/></backend><outbound><base/><cache-store duration="3600" cache-response="@(context.Response.StatusCode == 200)"/><cache-remove-value key="x"/></outbound><on-error><base/></on-error></policies>`,
		missForwarder{}, nil)
}

// missForwarder answers like jsonBackend but forbids storing, so
// cache-store evaluates and skips... it is used to keep the miss path hot
// without growing the cache.
type missForwarder struct{}

func (missForwarder) Forward(ctx context.Context, c *gateway.Call, r *http.Request, o gateway.ForwardOptions) (*http.Response, error) {
	resp, _ := jsonBackend.Forward(ctx, c, r, o)
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

func BenchmarkPolicyFindAndReplace(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<find-and-replace from="notebook" to="laptop"/>`), jsonBackend, nil)
}

func BenchmarkPolicyJSONP(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<jsonp callback-parameter-name="cb"/>`), jsonBackend, func(r *http.Request) { r.URL.RawQuery = "cb=done" })
}

func BenchmarkPolicyRedirectContentURLs(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<redirect-content-urls/>`), jsonBackend, nil)
}

func BenchmarkPolicyJSONToXML(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<json-to-xml apply="always" consider-accept-header="false"/>`), jsonBackend, nil)
}

func BenchmarkPolicyXMLToJSON(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<xml-to-json kind="direct" apply="always" consider-accept-header="false"/>`),
		bodyForwarder{body: []byte(benchXML), contentType: "application/xml"}, nil)
}

func BenchmarkPolicySetBodyLiquid(b *testing.B) {
	benchPipelineFwd(b, outboundDoc(`<set-body template="liquid">{"id": "{{body.order.id}}", "who": "{{body.order.customer.name}}", "method": "{{context.Request.Method}}"}</set-body>`), jsonBackend, nil)
}

func BenchmarkPolicyEmitMetric(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/><emit-metric name="Request" namespace="bench"><dimension name="API ID"/><dimension name="Client IP" value="@(context.Request.IpAddress)"/></emit-metric></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

func BenchmarkPolicyTraceMetadata(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/><trace source="bench" severity="verbose"><message>m</message><metadata name="k" value="@(context.RequestId)"/></trace></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

func BenchmarkPolicyWait(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/><wait for="all"><cache-lookup-value key="k" variable-name="v" default-value="d"/></wait></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

func BenchmarkPolicyProxy(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/><proxy url="http://proxy.invalid:8080" username="u" password="p"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

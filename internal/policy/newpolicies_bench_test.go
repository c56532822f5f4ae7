package policy_test

import (
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

// Per-request cost of the policies of backends, the LLM gateway and
// cross-domain, each in a document of its own (compare
// BenchmarkPipelineForwardOnly).

func BenchmarkPolicySetBackendServiceBackendID(b *testing.B) {
	benchPipeline(b, doc(`<set-backend-service backend-id="b1" />`, "", "", ""),
		rec(b, "/backends/b1", "backends", &resource.Backend{URL: "http://backend.invalid/v1", CircuitBreaker: &resource.BackendCircuitBreaker{Rules: []resource.BackendCircuitRule{{
			FailureCondition: resource.BackendFailureCondition{Count: 5, Interval: "PT1M", StatusCodeRanges: []resource.BackendStatusCode{{Min: 500, Max: 599}}}, TripDuration: "PT1M"}}},
			Credentials: &resource.BackendCredentials{Header: map[string][]string{"X-Key": {"k"}}}}))
}

func BenchmarkPolicySetBackendServicePool(b *testing.B) {
	benchPipeline(b, doc(`<set-backend-service backend-id="pool" />`, "", "", ""),
		rec(b, "/backends/m1", "backends", &resource.Backend{URL: "http://backend.invalid/1"}),
		rec(b, "/backends/m2", "backends", &resource.Backend{URL: "http://backend.invalid/2"}),
		rec(b, "/backends/pool", "backends", &resource.Backend{Type: "Pool", Pool: &resource.BackendPool{Services: []resource.BackendPoolMember{{ID: "m1", Weight: 3}, {ID: "m2", Weight: 1}}}}))
}

func BenchmarkPolicyLLMTokenLimit(b *testing.B) {
	benchPipeline(b, doc(`<llm-token-limit counter-key="@(context.Request.IpAddress)" tokens-per-minute="1000000000" estimate-prompt-tokens="false" remaining-tokens-header-name="x-remaining" />`, "", "", ""))
}

func BenchmarkPolicyLLMEmitTokenMetric(b *testing.B) {
	benchPipeline(b, doc(`<llm-emit-token-metric namespace="llm"><dimension name="API ID" /><dimension name="Client IP" value="@(context.Request.IpAddress)" /></llm-emit-token-metric>`, "", "", ""))
}

func BenchmarkPolicyCrossDomain(b *testing.B) {
	benchPipeline(b, doc(`<cross-domain><cross-domain-policy><allow-access-from domain="*" /></cross-domain-policy></cross-domain>`, "", "", ""))
}

func BenchmarkPolicyQuotaBandwidth(b *testing.B) {
	benchPipeline(b, doc(`<quota-by-key bandwidth="1000000000" renewal-period="3600" counter-key="@(context.Request.IpAddress)" />`, "", "", ""))
}

func BenchmarkPolicyValidateContentNoBody(b *testing.B) {
	benchPipeline(b, doc(`<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent"><content type="application/json" validate-as="json" action="prevent" /></validate-content>`, "", "", ""))
}

func BenchmarkPolicyAuthenticationCertificate(b *testing.B) {
	cert, _ := clientCert(b, "bench")
	benchPipeline(b, doc(`<authentication-certificate certificate-id="bench" />`, "", "", ""), cert)
}

func BenchmarkPolicyValidateParameters(b *testing.B) {
	benchPipeline(b, doc(`<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="detect" />`, "", "", ""))
}

func BenchmarkPolicyValidateStatusCodeAndHeaders(b *testing.B) {
	benchPipeline(b, doc("", "", `<validate-status-code unspecified-status-code-action="ignore" /><validate-headers specified-header-action="prevent" unspecified-header-action="ignore" />`, ""))
}

package policy

// builtins is the one table of the policies Tollgate runs, registered the
// way extension policies are (Extension). Each family lives in its own
// file: policies_set.go (set-*, rewrite-uri), policies_routing.go
// (set-backend-service, forward-request, return-response, mock-response),
// policies_flow.go (choose, retry, limit-concurrency), policies_access.go
// (check-header, ip-filter, cors, authentication-basic), policies_limits.go
// (rate limits and quotas), policies_sendrequest.go, policies_cache.go and
// policies_trace.go. Adding a policy is its code in its family's file plus
// one line here.
func builtins() []Extension {
	const (
		in    = "inbound"
		be    = "backend"
		out   = "outbound"
		onErr = "on-error"
	)
	all := []string{in, be, out, onErr}
	notOnErr := []string{in, be, out}
	limitAttrs := func(attrs ...string) []string { return append(attrs, limitHeaderAttrs...) }
	return []Extension{
		// Setting things.
		{Name: "set-header", Sections: all, Attributes: []string{"name", "exists-action"}, Compile: compileSetHeader},
		{Name: "set-query-parameter", Sections: []string{in, be}, Attributes: []string{"name", "exists-action"}, Compile: compileSetQueryParameter},
		{Name: "set-variable", Sections: all, Attributes: []string{"name", "value"}, Compile: compileSetVariable},
		{Name: "set-method", Sections: []string{in, onErr}, Compile: compileSetMethod},
		{Name: "set-status", Sections: all, Attributes: []string{"code", "reason"}, Compile: compileSetStatus},
		{Name: "set-body", Sections: notOnErr, Attributes: []string{"template", "xsi-nil", "parse-date"}, Compile: compileSetBody},
		{Name: "rewrite-uri", Sections: []string{in}, Attributes: []string{"template", "copy-unmatched-params"}, Compile: compileRewriteURI},

		// Transformation.
		{Name: "find-and-replace", Sections: all, Attributes: []string{"from", "to"}, Compile: compileFindAndReplace},
		{Name: "jsonp", Sections: []string{out}, Attributes: []string{"callback-parameter-name"}, Compile: compileJSONP},
		{Name: "redirect-content-urls", Sections: []string{in, out}, Compile: compileRedirectContentURLs},
		{Name: "json-to-xml", Sections: []string{in, out, onErr}, Attributes: []string{"apply", "consider-accept-header", "parse-date", "namespace-separator", "namespace-prefix", "attribute-block-name"}, Compile: compileJSONToXML},
		{Name: "xml-to-json", Sections: []string{in, out, onErr}, Attributes: []string{"kind", "apply", "consider-accept-header", "always-array-child-elements"}, Compile: compileXMLToJSON},

		// Routing and responses.
		{Name: "proxy", Sections: []string{in}, Attributes: []string{"url", "username", "password"}, Compile: compileProxy},
		{Name: "set-backend-service", Sections: []string{in, be}, Attributes: []string{"base-url", "backend-id"}, Compile: compileSetBackendService},
		{Name: "forward-request", Sections: []string{be}, Attributes: []string{"timeout", "timeout-ms", "follow-redirects", "buffer-request-body", "buffer-response", "fail-on-error-status-code", "http-version", "continue-timeout"}, Compile: compileForwardRequest},
		{Name: "return-response", Sections: all, Attributes: []string{"response-variable-name"}, Compile: compileReturnResponse},
		{Name: "mock-response", Sections: []string{in, out, onErr}, Attributes: []string{"status-code", "content-type", "index"}, Compile: compileMockResponse},

		// Control flow.
		{Name: "choose", Sections: all, Compile: compileChoose},
		{Name: "retry", Sections: all, Attributes: []string{"condition", "count", "interval", "max-interval", "delta", "first-fast-retry"}, Compile: compileRetry},
		{Name: "limit-concurrency", Sections: all, Attributes: []string{"key", "max-count"}, Compile: compileLimitConcurrency},
		{Name: "wait", Sections: notOnErr, Attributes: []string{"for"}, Compile: compileWait},

		// Access.
		{Name: "check-header", Sections: []string{in}, Attributes: []string{"name", "failed-check-httpcode", "failed-check-error-message", "ignore-case"}, Compile: compileCheckHeader},
		{Name: "ip-filter", Sections: []string{in}, Attributes: []string{"action"}, Compile: compileIPFilter},
		{Name: "cors", Sections: []string{in}, Attributes: []string{"allow-credentials", "terminate-unmatched-request"}, Compile: compileCORS},
		{Name: "authentication-basic", Sections: []string{in}, Attributes: []string{"username", "password"}, Compile: compileAuthenticationBasic},

		// Limits.
		{Name: "rate-limit", Sections: []string{in}, Attributes: limitAttrs("calls", "renewal-period", "bandwidth"), Compile: compileRateLimit},
		{Name: "rate-limit-by-key", Sections: []string{in}, Attributes: limitAttrs("calls", "renewal-period", "counter-key", "increment-condition", "increment-count", "bandwidth", "first-period-start"), Compile: compileRateLimitByKey},
		{Name: "quota", Sections: []string{in}, Attributes: limitAttrs("calls", "renewal-period", "bandwidth"), Compile: compileQuota},
		{Name: "quota-by-key", Sections: []string{in}, Attributes: limitAttrs("calls", "renewal-period", "counter-key", "increment-condition", "increment-count", "bandwidth", "first-period-start"), Compile: compileQuotaByKey},

		// Calls out.
		{Name: "send-request", Sections: all, Attributes: []string{"mode", "response-variable-name", "timeout", "ignore-error"}, Compile: compileSendRequest},
		{Name: "send-one-way-request", Sections: all, Attributes: []string{"mode", "timeout"}, Compile: compileSendOneWayRequest},
		{Name: "emit-metric", Sections: all, Attributes: []string{"name", "value", "namespace"}, Compile: compileEmitMetric},

		// Caching.
		{Name: "cache-lookup-value", Sections: all, Attributes: []string{"key", "variable-name", "default-value", "caching-type"}, Compile: compileCacheLookupValue},
		{Name: "cache-store-value", Sections: all, Attributes: []string{"key", "value", "duration", "caching-type"}, Compile: compileCacheStoreValue},
		{Name: "cache-remove-value", Sections: all, Attributes: []string{"key", "caching-type"}, Compile: compileCacheRemoveValue},
		{Name: "cache-lookup", Sections: []string{in}, Attributes: []string{"vary-by-developer", "vary-by-developer-groups", "caching-type", "downstream-caching-type", "must-revalidate", "allow-private-response-caching"}, Compile: compileCacheLookup},
		{Name: "cache-store", Sections: []string{out}, Attributes: []string{"duration", "cache-response"}, Compile: compileCacheStore},

		// Validation, LLM gateway (policies_crossdomain.go, ...).
		{Name: "cross-domain", Sections: []string{in}, Compile: compileCrossDomain},
		{Name: "validate-parameters", Sections: []string{in}, Attributes: []string{"specified-parameter-action", "unspecified-parameter-action", "errors-variable-name"}, Compile: compileValidateParameters},
		{Name: "validate-headers", Sections: []string{out, onErr}, Attributes: []string{"specified-header-action", "unspecified-header-action", "errors-variable-name"}, Compile: compileValidateHeaders},
		{Name: "validate-status-code", Sections: []string{out, onErr}, Attributes: []string{"unspecified-status-code-action", "errors-variable-name"}, Compile: compileValidateStatusCode},
		{Name: "validate-client-certificate", Sections: []string{in}, Attributes: []string{"validate-revocation", "validate-trust", "validate-not-before", "validate-not-after", "ignore-error"}, Compile: compileValidateClientCertificate},
		{Name: "validate-content", Sections: []string{in, out, onErr}, Attributes: []string{"unspecified-content-type-action", "max-size", "size-exceeded-action", "errors-variable-name"}, Compile: compileValidateContent},
		{Name: "authentication-certificate", Sections: []string{in}, Attributes: []string{"thumbprint", "certificate-id", "body", "password"}, Compile: compileAuthenticationCertificate},
		{Name: "llm-token-limit", Sections: []string{in}, Attributes: llmTokenLimitAttrs, Compile: compileLLMTokenLimit},
		{Name: "azure-openai-token-limit", Sections: []string{in}, Attributes: llmTokenLimitAttrs, Compile: compileLLMTokenLimit},
		{Name: "llm-emit-token-metric", Sections: []string{in}, Attributes: []string{"namespace"}, Compile: compileLLMEmitTokenMetric},
		{Name: "azure-openai-emit-token-metric", Sections: []string{in}, Attributes: []string{"namespace"}, Compile: compileLLMEmitTokenMetric},

		{Name: "trace", Sections: all, Attributes: []string{"source", "severity"}, Compile: compileTrace},
	}
}

// unsupportedPolicies are APIM policies Tollgate does not run: a document
// using one is refused by name rather than as unknown. docs/policies.md
// lists them.
var unsupportedPolicies = map[string]bool{
	"authentication-managed-identity":     true,
	"azure-openai-semantic-cache-lookup":  true,
	"azure-openai-semantic-cache-store":   true,
	"cosmosdb-data-source":                true,
	"get-authorization-context":           true,
	"http-data-source":                    true,
	"invoke-dapr-binding":                 true,
	"llm-content-safety":                  true,
	"llm-semantic-cache-lookup":           true,
	"llm-semantic-cache-store":            true,
	"log-to-eventhub":                     true,
	"publish-event":                       true,
	"publish-to-dapr":                     true,
	"send-service-bus-message":            true,
	"set-graphql-resolver":                true,
	"sql-data-source":                     true,
	"validate-azure-ad-token":             true,
	"validate-graphql-request":            true,
	"validate-jwt":                        true,
	"validate-odata-request":              true,
	"xsl-transform":                       true,
	"azure-openai-content-safety":         true,
	"llm-semantic-cache-lookup-by-vector": true,
}

// UnsupportedPolicies lists the APIM policies Tollgate refuses by name.
func UnsupportedPolicies() []string {
	out := make([]string, 0, len(unsupportedPolicies))
	for n := range unsupportedPolicies {
		out = append(out, n)
	}
	return out
}

// StarterProductPolicy is APIM's default policy of the Starter product: 5
// calls per 60 seconds and 100 calls per week.
const StarterProductPolicy = `<policies>
  <inbound>
    <rate-limit calls="5" renewal-period="60" />
    <quota calls="100" renewal-period="604800" />
    <base />
  </inbound>
  <backend>
    <base />
  </backend>
  <outbound>
    <base />
  </outbound>
  <on-error>
    <base />
  </on-error>
</policies>`

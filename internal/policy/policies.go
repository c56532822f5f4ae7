package policy

// definitions is the one table of the policies Tollgate runs. Each family
// lives in its own file (policies_*.go).
func definitions() []*definition {
	const (
		in       = secInbound
		be       = secBackend
		out      = secOutbound
		onErr    = secOnError
		all      = secAll
		notOnErr = in | be | out
	)
	return []*definition{
		// include-fragment is expanded by the compiler; its fragment's
		// policies are checked against the section.
		{name: "include-fragment", sections: all},

		// Setting things.
		{name: "set-header", sections: all, compile: compileSetHeader},
		{name: "set-query-parameter", sections: in | be, compile: compileSetQueryParameter},
		{name: "set-variable", sections: all, compile: compileSetVariable},
		{name: "set-method", sections: in | onErr, compile: compileSetMethod},
		{name: "set-status", sections: all, compile: compileSetStatus},
		{name: "set-body", sections: notOnErr, compile: compileSetBody},
		{name: "rewrite-uri", sections: in, compile: compileRewriteURI},

		// Routing and responses.
		{name: "set-backend-service", sections: in | be, compile: compileSetBackendService},
		{name: "forward-request", sections: be, compile: compileForwardRequest},
		{name: "return-response", sections: all, compile: compileReturnResponse},
		{name: "mock-response", sections: in | out | onErr, compile: compileMockResponse},

		// Control flow.
		{name: "choose", sections: all, compile: compileChoose},
		{name: "retry", sections: all, compile: compileRetry},
		{name: "limit-concurrency", sections: notOnErr, compile: compileLimitConcurrency},

		// Access.
		{name: "check-header", sections: in, compile: compileCheckHeader},
		{name: "ip-filter", sections: in, compile: compileIPFilter},
		{name: "cors", sections: in, compile: compileCORS},
		{name: "authentication-basic", sections: in, compile: compileAuthenticationBasic},

		// Limits.
		{name: "rate-limit", sections: in, compile: compileRateLimit},
		{name: "rate-limit-by-key", sections: in, compile: compileRateLimitByKey},
		{name: "quota", sections: in, compile: compileQuota},
		{name: "quota-by-key", sections: in, compile: compileQuotaByKey},

		// Calls out.
		{name: "send-request", sections: all, compile: compileSendRequest},

		// Caching.
		{name: "cache-lookup-value", sections: notOnErr, compile: compileCacheLookupValue},
		{name: "cache-store-value", sections: notOnErr, compile: compileCacheStoreValue},
		{name: "cache-remove-value", sections: notOnErr, compile: compileCacheRemoveValue},

		{name: "trace", sections: all, compile: compileTrace},
	}
}

// unsupportedPolicies are APIM policies Tollgate does not run: a document
// using one is refused by name rather than as unknown. docs/policies.md
// lists them.
var unsupportedPolicies = map[string]bool{
	"authentication-certificate":          true,
	"authentication-managed-identity":     true,
	"azure-openai-emit-token-metric":      true,
	"azure-openai-semantic-cache-lookup":  true,
	"azure-openai-semantic-cache-store":   true,
	"azure-openai-token-limit":            true,
	"cache-lookup":                        true,
	"cache-store":                         true,
	"cosmosdb-data-source":                true,
	"cross-domain":                        true,
	"emit-metric":                         true,
	"find-and-replace":                    true,
	"get-authorization-context":           true,
	"http-data-source":                    true,
	"invoke-dapr-binding":                 true,
	"json-to-xml":                         true,
	"jsonp":                               true,
	"llm-content-safety":                  true,
	"llm-emit-token-metric":               true,
	"llm-semantic-cache-lookup":           true,
	"llm-semantic-cache-store":            true,
	"llm-token-limit":                     true,
	"log-to-eventhub":                     true,
	"proxy":                               true,
	"publish-event":                       true,
	"publish-to-dapr":                     true,
	"redirect-content-urls":               true,
	"send-one-way-request":                true,
	"send-service-bus-message":            true,
	"set-graphql-resolver":                true,
	"sql-data-source":                     true,
	"validate-azure-ad-token":             true,
	"validate-client-certificate":         true,
	"validate-content":                    true,
	"validate-graphql-request":            true,
	"validate-headers":                    true,
	"validate-jwt":                        true,
	"validate-odata-request":              true,
	"validate-parameters":                 true,
	"validate-status-code":                true,
	"wait":                                true,
	"xml-to-json":                         true,
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

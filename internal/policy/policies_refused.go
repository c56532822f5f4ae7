package policy

// refusalHints say, for policies Tollgate refuses by name
// (unsupportedPolicies), why and what to use instead. The compiler appends
// the hint to "policy 'x' is not supported".
const semanticCacheHint = "semantic caching needs an embeddings backend and a vector store, which Tollgate does not " +
	"have; cache exact prompts with <cache-lookup-value>/<cache-store-value> keyed on the request body"

var refusalHints = map[string]string{
	"llm-semantic-cache-lookup":           semanticCacheHint,
	"llm-semantic-cache-store":            semanticCacheHint,
	"llm-semantic-cache-lookup-by-vector": semanticCacheHint,
	"azure-openai-semantic-cache-lookup":  semanticCacheHint,
	"azure-openai-semantic-cache-store":   semanticCacheHint,
	"log-to-eventhub": "Azure Event Hubs is an Azure service; send the record to an HTTP collector " +
		"with <send-one-way-request> (or <send-request mode=\"new\">) instead",
	"send-service-bus-message": "Azure Service Bus is an Azure service; post the message to an HTTP endpoint " +
		"with <send-one-way-request> instead",
	"publish-to-dapr": "Dapr sidecars are not part of Tollgate; call the Dapr HTTP API " +
		"(http://localhost:3500/v1.0/publish/...) with <send-request> instead",
	"invoke-dapr-binding": "Dapr sidecars are not part of Tollgate; call the Dapr HTTP API " +
		"(http://localhost:3500/v1.0/bindings/...) with <send-request> instead",
	"cosmosdb-data-source": "Cosmos DB resolvers are Azure-only; put an HTTP service in front of the " +
		"database and call it with <send-request>",
	"sql-data-source": "Azure SQL resolvers are Azure-only; put an HTTP service in front of the " +
		"database and call it with <send-request>",
	"llm-content-safety": "Azure AI Content Safety is an Azure service; call a self-hosted moderation " +
		"endpoint with <send-request> and <choose> on its answer",
	"azure-openai-content-safety": "Azure AI Content Safety is an Azure service; call a self-hosted " +
		"moderation endpoint with <send-request> and <choose> on its answer",
}

// refusalHint is ": <hint>" for a refused policy with one, else "".
func refusalHint(name string) string {
	if h, ok := refusalHints[name]; ok {
		return ": " + h
	}
	return ""
}

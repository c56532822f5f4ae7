package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store/storetest"
)

const apimTree = "../../internal/apimimport/testdata/artifacts"

// The sample APIOps tree: a dry run changes nothing; the import applies
// what maps (with working policies) and reports the rest.
func TestImportAPIM(t *testing.T) {
	cliBackends(t, func(t *testing.T, s *cliServer) {
		dry := s.cli(t, "", "import", "apim", apimTree, "--dry-run")
		if dry.code != 0 || !strings.Contains(dry.stdout, "put /apis/petstore/operations/listPets/policies/policy") || !strings.Contains(dry.stdout, "nothing changed") {
			t.Fatalf("dry run: %d\n%s\n%s", dry.code, dry.stdout, dry.stderr)
		}
		if code, _ := mgmtGet(t, s, "/apis/petstore"); code != 404 {
			t.Fatal("dry run wrote")
		}
		r := s.cli(t, "", "import", "apim", apimTree)
		if r.code != 0 {
			t.Fatalf("import: %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"loggers/:", "diagnostics/:", "gateways/:",
			"petstore;rev=2: API revisions", "legacy-soap: soap APIs are not supported",
			"db-password/namedValueInformation.json: the extractor does not write secret values",
			"kv-secret/namedValueInformation.json: Key Vault references", "apis/petstore/diagnostics/: API diagnostics",
			"products/gold/groups.json: product groups", "Tollgate generates new ones",
			"owner /users/jdoe is not imported",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("report lacks %q:\n%s", want, r.stderr)
			}
		}
		for path, check := range map[string]func(m map[string]any) bool{
			"/apis/petstore": func(m map[string]any) bool {
				return m["path"] == "petstore" && m["serviceUrl"] == "http://127.0.0.1:9/v1"
			},
			"/apis/petstore/operations/showPetById":              func(m map[string]any) bool { return m["urlTemplate"] == "/pets/{petId}" },
			"/apis/petstore/operations/listPets/policies/policy": func(m map[string]any) bool { return strings.Contains(m["value"].(string), "set-query-parameter") },
			"/apis/petstore/policies/policy":                     func(m map[string]any) bool { return strings.Contains(m["value"].(string), "stamp") },
			"/apis/echo":                                         func(m map[string]any) bool { return m["subscriptionRequired"] == false },
			"/namedValues/backend-tier":                          func(m map[string]any) bool { return m["value"] == "gold" },
			"/policyFragments/stamp":                             func(m map[string]any) bool { return m["description"] == "Stamps the tier" },
			"/policies/policy":                                   func(m map[string]any) bool { return strings.Contains(m["value"].(string), "X-Gateway") },
			"/products/gold":                                     func(m map[string]any) bool { return m["subscriptionsLimit"] == float64(5) },
			"/products/gold/policies/policy":                     func(m map[string]any) bool { return strings.Contains(m["value"].(string), "rate-limit") },
			"/products/gold/apis/petstore":                       func(m map[string]any) bool { return true },
			"/products/open/apis/echo":                           func(m map[string]any) bool { return true },
			"/subscriptions/gold-team":                           func(m map[string]any) bool { return m["scope"] == "/products/gold" },
			"/backends/pets-backend":                             func(m map[string]any) bool { return m["url"] == "https://pets.internal" },
			// A WebSocket API: ws/wss protocols, its service URL in https
			// terms, and APIM's one operation with its policy.
			"/apis/chat": func(m map[string]any) bool {
				return m["serviceUrl"] == "https://chat.internal/socket" && fmt.Sprint(m["protocols"]) == "[wss]"
			},
			"/apis/chat/operations/onHandshake":                 func(m map[string]any) bool { return m["method"] == "GET" && m["urlTemplate"] == "/" },
			"/apis/chat/operations/onHandshake/policies/policy": func(m map[string]any) bool { return strings.Contains(m["value"].(string), "X-Handshake") },
		} {
			code, body := mgmtGet(t, s, path)
			var m map[string]any
			json.Unmarshal(body, &m)
			if code != 200 || !check(m) {
				t.Errorf("%s: %d %s", path, code, body)
			}
		}
		for _, gone := range []string{"/namedValues/db-password", "/apis/legacy-soap", "/apis/petstore;rev=2"} {
			if code, _ := mgmtGet(t, s, gone); code == 200 {
				t.Errorf("%s was imported", gone)
			}
		}
		// Importing again is idempotent.
		if r := s.cli(t, "", "import", "apim", apimTree); r.code != 0 {
			t.Fatalf("second import: %d %s", r.code, r.stderr)
		}
	})
}

// writeTree writes an APIOps-shaped tree of files (relative path -> text)
// into a temporary folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const apimHelloSpec = `openapi: 3.0.1
info: {title: t, version: "1"}
paths:
  /hello:
    get:
      operationId: hello
      responses: {"200": {description: ok}}
`

// Backends of an APIOps tree arrive with their fields; a pool's members
// map from ARM ids; set-backend-service backend-id policies imported in
// the same run route through them; links to what was not imported (a
// GraphQL API, a SOAP backend) are reported and not attempted, and the
// run exits 0.
func TestImportAPIMBackends(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { importAPIMBackends(t) })
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := storetest.PostgresDSN(t)
		importAPIMBackends(t, "--database", dsn)
	})
}

func importAPIMBackends(t *testing.T, extra ...string) {
	type seen struct{ path, key, auth, code string }
	var last atomic.Value
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(seen{r.URL.Path, r.Header.Get("X-Key"), r.Header.Get("Authorization"), r.URL.Query().Get("code")})
		_, _ = w.Write([]byte("backend " + r.URL.Path))
	}))
	defer backend.Close()
	arm := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso"
	policy := func(backendID string) string {
		return `<policies><inbound><base /><set-backend-service backend-id="` + backendID + `" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	api := func(path, extra string) string {
		return `{"properties": {"displayName": "` + path + `", "path": "` + path + `", "serviceUrl": "http://127.0.0.1:9", "protocols": ["https"], "subscriptionRequired": false` + extra + `}}`
	}
	tree := writeTree(t, map[string]string{
		"named values/backend-key/namedValueInformation.json": `{"properties": {"displayName": "backend-key", "value": "k1"}}`,
		"named values/vault/namedValueInformation.json":       `{"properties": {"displayName": "vault", "secret": true}}`,
		"backends/b1/backendInformation.json": `{"properties": {
			"title": "One", "description": "the first", "url": "` + backend.URL + `/one", "protocol": "http",
			"resourceId": "https://management.azure.com/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/one",
			"proxy": {"url": "http://proxy:3128"},
			"credentials": {"header": {"X-Key": ["s3cret"]}, "query": {"code": ["{{backend-key}}"]}, "authorization": {"scheme": "Basic", "parameter": "dXNlcjpwdw=="}},
			"tls": {"validateCertificateChain": false, "validateCertificateName": false},
			"circuitBreaker": {"rules": [{"name": "r1", "failureCondition": {"count": 5, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT30S", "acceptRetryAfter": true}]}}}`,
		"backends/b2/backendInformation.json":    `{"properties": {"url": "` + backend.URL + `/two", "protocol": "http"}}`,
		"backends/soapy/backendInformation.json": `{"properties": {"url": "https://soap.example", "protocol": "soap"}}`,
		"backends/pool/backendInformation.json": `{"properties": {"type": "Pool", "description": "both",
			"circuitBreaker": {"rules": [{"failureCondition": {"count": 1, "interval": "PT1M", "errorReasons": ["Timeout"]}, "tripDuration": "PT1M"}]},
			"pool": {"services": [{"id": "` + arm + `/backends/b1", "priority": 1, "weight": 3}, {"id": "/backends/b2", "priority": 2}, {"id": "/backends/soapy"}]}}}`,
		"apis/svc/apiInformation.json":                     api("svc", ""),
		"apis/svc/specification.yaml":                      apimHelloSpec,
		"apis/svc/policy.xml":                              policy("b1"),
		"apis/pooled/apiInformation.json":                  api("pooled", ""),
		"apis/pooled/specification.yaml":                   apimHelloSpec,
		"apis/pooled/policy.xml":                           policy("pool"),
		"apis/lost/apiInformation.json":                    api("lost", ""),
		"apis/lost/policy.xml":                             policy("nowhere"),
		"apis/vaulted/apiInformation.json":                 api("vaulted", ""),
		"apis/vaulted/policy.xml":                          `<policies><inbound><set-header name="X-V" exists-action="override"><value>{{vault}}</value></set-header></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/gql/apiInformation.json":                     api("gql", `, "type": "graphql"`),
		"apis/gql/specification.graphql":                   "type Query { a: Int }",
		"apis/ver-v1/apiInformation.json":                  api("ver", `, "apiVersion": "v1", "apiVersionSetId": "/apiVersionSets/seg"`),
		"apis/hv-v2/apiInformation.json":                   api("hv", `, "apiVersion": "v2", "apiVersionSetId": "`+arm+`/apiVersionSets/hdr"`),
		"version sets/seg/versionSetInformation.json":      `{"properties": {"displayName": "seg", "versioningScheme": "Segment"}}`,
		"version sets/hdr/versionSetInformation.json":      `{"properties": {"displayName": "hdr", "versioningScheme": "Header", "versionHeaderName": "Api-Version"}}`,
		"products/p1/productInformation.json":              `{"properties": {"displayName": "p1", "state": "published", "subscriptionRequired": true}}`,
		"products/p1/apis/svc/productApiInformation.json":  `{}`,
		"products/p1/apis/gql/productApiInformation.json":  `{}`,
		"subscriptions/s-p1/subscriptionInformation.json":  `{"properties": {"displayName": "s-p1", "scope": "` + arm + `/products/p1", "state": "active"}}`,
		"subscriptions/s-gql/subscriptionInformation.json": `{"properties": {"displayName": "s-gql", "scope": "/apis/gql", "state": "active"}}`,
	})

	srv, _ := testServer(t, t.TempDir(), extra...)
	mg, gw := srv.urls["management"], srv.urls["gateway"]
	code, out, errs := runCLI(t, "import", "apim", tree, "--management-url", mg, "--admin-key", srv.adminKey)
	if code != 0 || !strings.Contains(out, " 0 failed") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"products/p1/apis/gql: the link of product p1 to API gql is not imported because API gql was not imported",
		"subscriptions/s-gql/subscriptionInformation.json: subscription s-gql is not imported because API gql was not imported",
		"apis/gql: graphql APIs are not supported",
		"backends/soapy/backendInformation.json: SOAP backends are not supported",
		"backends/pool/backendInformation.json: pool member /backends/soapy is left out of the pool because backend soapy was not imported",
		"backends/pool/backendInformation.json: circuitBreaker is not imported: circuitBreaker: is set on the pool's members",
		"backends/b1/backendInformation.json: resourceId",
		"backends/b1/backendInformation.json: proxy is not imported",
		"apis/vaulted/policy.xml: the policy of API vaulted is not imported because named value vault was not imported",
		"apis/hv-v2: version v2 of version set hdr is chosen by the header Api-Version",
		`warning: apis/lost/policy.xml: set-backend-service backend-id="nowhere": backend nowhere is not in the tree`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("report lacks %q:\n%s", want, errs)
		}
	}
	for _, never := range []string{"/products/p1/apis/gql", "/subscriptions/s-gql", "/backends/soapy", "/apis/vaulted/policies"} {
		if strings.Contains(out, never) {
			t.Errorf("%s was attempted:\n%s", never, out)
		}
	}
	get := func(path string) map[string]any {
		t.Helper()
		st, _, body := call(t, "GET", mg+path, "", srv.admin()...)
		var m map[string]any
		if st != 200 || json.Unmarshal(body, &m) != nil {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
		return m
	}
	b1 := get("/backends/b1")
	j, _ := json.Marshal(b1)
	for _, want := range []string{`"title":"One"`, `"description":"the first"`, `"url":"` + backend.URL + `/one"`,
		`"header":{"X-Key":[]}`, `"query":{"code":[]}`, `"authorization":{"scheme":"Basic"}`,
		`"validateCertificateChain":false`, `"tripDuration":"PT30S"`, `"acceptRetryAfter":true`, `"statusCodeRanges":[{"max":599,"min":500}]`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("backend b1 lacks %s: %s", want, j)
		}
	}
	if strings.Contains(string(j), "s3cret") || strings.Contains(string(j), "resourceId") {
		t.Errorf("backend b1: %s", j)
	}
	pool := get("/backends/pool")
	j, _ = json.Marshal(pool)
	if pool["type"] != "Pool" || !strings.Contains(string(j), `"services":[{"id":"/backends/b1","priority":1,"weight":3},{"id":"/backends/b2","priority":2,"weight":1}]`) || pool["circuitBreaker"] != nil {
		t.Errorf("pool: %s", j)
	}
	if p := get("/apis/ver-v1"); p["path"] != "ver/v1" {
		t.Errorf("segment version at %v", p["path"])
	}
	for _, gone := range []string{"/apis/hv-v2", "/apis/gql", "/subscriptions/s-gql", "/backends/soapy"} {
		if st, _, _ := call(t, "GET", mg+gone, "", srv.admin()...); st != 404 {
			t.Errorf("%s: %d", gone, st)
		}
	}
	// The policies imported in the same run route through the backends.
	for path, want := range map[string]seen{
		"/svc/hello":    {"/one/hello", "s3cret", "Basic dXNlcjpwdw==", "k1"},
		"/pooled/hello": {"/one/hello", "s3cret", "Basic dXNlcjpwdw==", "k1"},
	} {
		var st int
		var body []byte
		for i := 0; i < 50; i++ {
			if st, _, body = call(t, "GET", gw+path, ""); st == 200 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got, _ := last.Load().(seen); st != 200 || string(body) != "backend "+want.path || got != want {
			t.Errorf("GET %s: %d %s, backend saw %+v, want %+v", path, st, body, got, want)
		}
	}
	// Importing again succeeds; the warning about a backend the server
	// now has is moot.
	if st, _, body := call(t, "PUT", mg+"/backends/nowhere", `{"url": "`+backend.URL+`/nowhere"}`, srv.admin()...); st != 201 {
		t.Fatalf("PUT backend: %d %s", st, body)
	}
	code, out, errs = runCLI(t, "import", "apim", tree, "--management-url", mg, "--admin-key", srv.adminKey)
	if code != 0 || strings.Contains(errs, `backend-id="nowhere"`) || strings.Contains(errs, "credentials refer to") {
		t.Fatalf("second import: %d\n%s\n%s", code, out, errs)
	}
}

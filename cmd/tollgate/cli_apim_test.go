package main

import (
	"encoding/json"
	"strings"
	"testing"
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

package apimimport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

func TestReadSampleTree(t *testing.T) {
	plan, err := Read(context.Background(), "testdata/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, it := range plan.Items {
		pos[it.Path] = i + 1
	}
	// Referenced resources come first, as apply orders them.
	for _, order := range [][2]string{
		{"/namedValues/backend-tier", "/apis/petstore/policies/policy"},
		{"/policyFragments/stamp", "/apis/petstore/policies/policy"},
		{"/apis/petstore", "/apis/petstore/operations/listPets"},
		{"/apis/petstore/operations/listPets", "/apis/petstore/operations/listPets/policies/policy"},
		{"/products/gold", "/products/gold/apis/petstore"},
		{"/products/gold", "/subscriptions/gold-team"},
		{"/backends/pets-backend", "/apis/petstore/policies/policy"},
	} {
		if pos[order[0]] == 0 || pos[order[1]] == 0 || pos[order[0]] > pos[order[1]] {
			t.Errorf("%s (at %d) must come before %s (at %d)", order[0], pos[order[0]], order[1], pos[order[1]])
		}
	}
	var skipped []string
	for _, s := range plan.Skipped {
		skipped = append(skipped, s.Source+": "+s.Why)
	}
	all := strings.Join(skipped, "\n")
	for _, want := range []string{"loggers/", "gateways/", "petstore;rev=2", "legacy-soap", "db-password", "kv-secret"} {
		if !strings.Contains(all, want) {
			t.Errorf("not reported: %s\n%s", want, all)
		}
	}
	for _, it := range plan.Items {
		if strings.Contains(it.Path, "legacy") || strings.Contains(it.Path, "rev=") || strings.Contains(it.Path, "db-password") {
			t.Errorf("planned %s", it.Path)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/subscriptions/x/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso/products/starter": "/products/starter",
		"/subscriptions/x/resourceGroups/rg/providers/microsoft.apimanagement/service/contoso/users/1":          "/users/1",
		"/products/starter": "/products/starter",
		"/apis":             "/apis",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadRefusesNonFolder(t *testing.T) {
	if _, err := Read(context.Background(), "testdata/artifacts/policy.xml"); err == nil {
		t.Fatal("a file was read as a tree")
	}
	if _, err := Read(context.Background(), "testdata/nope"); err == nil {
		t.Fatal("a missing folder was read")
	}
}

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

// Backends come after the named values and before the policies naming
// them; what refers to something left out is left out too, each with a
// reason.
func TestReadBackendsAndLinks(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"named values/nv/namedValueInformation.json":   `{"properties": {"displayName": "nv", "value": "x"}}`,
		"named values/sec/namedValueInformation.json":  `{"properties": {"displayName": "sec-display", "secret": true}}`,
		"backends/b1/backendInformation.json":          `{"properties": {"url": "https://one.example", "credentials": {"header": {"k": ["{{nv}}"], "s": ["{{sec}}"]}}}}`,
		"backends/fabric/backendInformation.json":      `{"properties": {"url": "fabric:/app", "protocol": "http", "properties": {"serviceFabricCluster": {"managementEndpoints": ["https://c"]}}}}`,
		"backends/pool/backendInformation.json":        `{"properties": {"type": "Pool", "pool": {"services": [{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.ApiManagement/service/x/backends/b1"}, {"id": "/backends/fabric"}, {"id": "/apis/nope"}]}}}`,
		"apis/a/apiInformation.json":                   `{"properties": {"displayName": "a", "path": "a", "serviceUrl": "https://a.example"}}`,
		"apis/a/specification.yaml":                    "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n      operationId: op\n      responses: {'200': {description: ok}}\n",
		"apis/a/operations/other/policy.xml":           `<policies><inbound /><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/a/policy.xml":                            `<policies><inbound><set-backend-service backend-id="b1" /><set-header name="x" exists-action="override"><value>{{nv}}</value></set-header></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/s/apiInformation.json":                   `{"properties": {"displayName": "s", "path": "s", "type": "soap"}}`,
		"apis/both/apiInformation.json":                `{"properties": {"displayName": "both", "path": "both", "type": "http", "apiType": "http"}}`,
		"apis/a/operations/op/policy.xml":              `<policies><inbound><set-header name="x" exists-action="override"><value>{{sec-display}}</value></set-header></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"products/p/productInformation.json":           `{"properties": {"displayName": "p"}}`,
		"products/p/apis.json":                         `[{"name": "a"}, {"name": "s"}]`,
		"subscriptions/x/subscriptionInformation.json": `{"properties": {"scope": "/apis/s"}}`,
	})
	plan, err := Read(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, it := range plan.Items {
		pos[it.Path] = i + 1
	}
	for _, order := range [][2]string{{"/namedValues/nv", "/backends/b1"}, {"/backends/b1", "/apis/a"}, {"/backends/pool", "/apis/a/policies/policy"}, {"/apis/a", "/products/p/apis/a"}, {"/apis/both", "/products/p"}} {
		if pos[order[0]] == 0 || pos[order[1]] == 0 || pos[order[0]] > pos[order[1]] {
			t.Errorf("%s (at %d) must come before %s (at %d)", order[0], pos[order[0]], order[1], pos[order[1]])
		}
	}
	for _, gone := range []string{"/backends/fabric", "/apis/s", "/products/p/apis/s", "/subscriptions/x", "/apis/a/operations/op/policies/policy"} {
		if pos[gone] != 0 {
			t.Errorf("planned %s", gone)
		}
	}
	pool := plan.Items[pos["/backends/pool"]-1].Body.(*resource.Backend)
	if len(pool.Pool.Services) != 1 || pool.Pool.Services[0].ID != "/backends/b1" {
		t.Errorf("pool members: %+v", pool.Pool.Services)
	}
	var report []string
	for _, s := range plan.Skipped {
		report = append(report, s.Source+": "+s.Why)
	}
	for _, w := range plan.Warnings {
		report = append(report, "warning: "+w.Source+": "+w.Why)
	}
	all := strings.Join(report, "\n")
	for _, want := range []string{
		"backends/fabric/backendInformation.json: Service Fabric backends are not supported",
		`pool.services[2]: "/apis/nope" does not name a backend`,
		"pool member /backends/fabric is left out of the pool because backend fabric was not imported",
		"products/p/apis.json: the link of product p to API s is not imported because API s was not imported",
		"subscriptions/x/subscriptionInformation.json: subscription x is not imported because API s was not imported",
		"apis/a/operations/op/policy.xml: the policy of operation op of API a is not imported because named value sec was not imported",
		"warning: backends/b1/backendInformation.json: credentials refer to {{sec}}, which this import does not write: calls to backend b1 fail until named value sec exists",
		"apis/a/operations/other/policy.xml: the policy of operation other of API a is not imported because operation other is not in the API's specification",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("not reported: %s\n%s", want, all)
		}
	}
	if strings.Contains(all, "subscription keys") || strings.Contains(all, "backend-id") || strings.Contains(all, "{{nv}}") {
		t.Errorf("reported wrongly:\n%s", all)
	}
}

package apimimport

import (
	"context"
	"strings"
	"testing"
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

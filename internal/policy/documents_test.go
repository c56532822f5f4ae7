package policy_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRealDocuments compiles the APIM documents in testdata/documents, in
// both the relaxed dialect and exported strict XML, with their named values,
// and the examples of APIM's policy reference pages (testdata/reference,
// one file per example).
func TestRealDocuments(t *testing.T) {
	files, err := filepath.Glob("testdata/documents/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documents: %v", err)
	}
	examples, err := filepath.Glob("testdata/reference/*.xml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no reference examples: %v", err)
	}
	files = append(files, examples...)
	c := newCompiler()
	values := map[string]string{"api-version": "2024-01-01", "client-id": "app", "client-secret": `s3cr&t<`, "proxy-user": "u", "proxy-password": `p&ss<`}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if ps := c.CheckOffline(string(b), values); len(ps) > 0 {
			t.Errorf("%s: %v", f, ps)
		}
	}
}

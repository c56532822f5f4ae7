package policy_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRealDocuments compiles the APIM documents in testdata/documents, in
// both the relaxed dialect and exported strict XML, with their named values.
func TestRealDocuments(t *testing.T) {
	files, err := filepath.Glob("testdata/documents/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documents: %v", err)
	}
	c := newCompiler()
	values := map[string]string{"api-version": "2024-01-01", "client-id": "app", "client-secret": `s3cr&t<`}
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

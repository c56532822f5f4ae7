package policy_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReferenceExamples compiles the examples of APIM's policy reference
// pages (testdata/reference, one file per example) offline, as tollgate
// policy check does: each must be accepted.
func TestReferenceExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/reference/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	c := newCompiler()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if ps := c.CheckOffline(string(b), nil); len(ps) > 0 {
			t.Errorf("%s: %v", f, ps)
		}
	}
}

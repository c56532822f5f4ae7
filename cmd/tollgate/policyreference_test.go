package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// The policy reference examples kept with the policy engine pass
// tollgate policy check.
func TestPolicyCheckReferenceExamples(t *testing.T) {
	files, err := filepath.Glob("../../internal/policy/testdata/reference/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var out, errb bytes.Buffer
	if code := runPolicy(append([]string{"check"}, files...), &out, &errb); code != 0 {
		t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}

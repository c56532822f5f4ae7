package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The policy reference examples kept with the policy engine pass
// tollgate policy check, and are saved and read back unchanged through
// the management API.
func TestPolicyReferenceExamples(t *testing.T) {
	files, err := filepath.Glob("../../internal/policy/testdata/reference/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var out, errb bytes.Buffer
	if code := runPolicy(append([]string{"check"}, files...), &out, &errb); code != 0 {
		t.Errorf("policy check: exit %d\n%s%s", code, out.String(), errb.String())
	}

	srv, _ := testServer(t, t.TempDir())
	mg := srv.urls["management"]
	for _, nv := range []string{"proxy-user", "proxy-password"} {
		if st, _, b := call(t, "PUT", mg+"/namedValues/"+nv, `{"displayName": "`+nv+`", "value": "x"}`, srv.admin()...); st != 201 {
			t.Fatalf("named value: %d %s", st, b)
		}
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", string(text)); st != 200 && st != 201 {
			t.Errorf("%s: saved with %d %s", filepath.Base(f), st, b)
			continue
		}
		st, _, b := call(t, "GET", mg+"/apis/echo-api/policies/policy", "", srv.admin()...)
		var got struct{ Value string }
		if err := json.Unmarshal(b, &got); st != 200 || err != nil || got.Value != string(text) {
			t.Errorf("%s: read back %d %.200s", filepath.Base(f), st, b)
		}
	}
}

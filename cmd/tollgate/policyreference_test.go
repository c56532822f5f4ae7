package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// referenceNamedValues are the named values the reference examples use.
var referenceNamedValues = map[string]string{
	"proxy-user": "x", "proxy-password": "x",
	"jwt-signing-key": "c2lnbmluZy1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXM=", "aad-tenant-id": "contoso.onmicrosoft.com",
	"aad-client-application-id": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "subscription-id": "0000", "resource-group": "rg",
	"vm-name": "vm1", "sql-connection": "Server=sql;Database=db",
}

// referenceNamedValuesFile writes referenceNamedValues for --named-values.
func referenceNamedValuesFile(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(referenceNamedValues)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "named-values.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// The policy reference examples kept with the policy engine pass
// tollgate policy check, and are saved and read back unchanged through
// the management API.
func TestPolicyReferenceExamples(t *testing.T) {
	files, err := filepath.Glob("../../internal/policy/testdata/reference/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	ext, _ := filepath.Glob("../../internal/policy/testdata/reference/extensions/*.xml")
	if len(ext) == 0 {
		t.Fatal("no examples of the policies other packages register")
	}
	files = append(files, ext...)
	var out, errb bytes.Buffer
	if code := runPolicy(append([]string{"check", "--named-values", referenceNamedValuesFile(t)}, files...), &out, &errb); code != 0 {
		t.Errorf("policy check: exit %d\n%s%s", code, out.String(), errb.String())
	}

	srv, _ := testServer(t, t.TempDir())
	mg := srv.urls["management"]
	for nv, v := range referenceNamedValues {
		body, _ := json.Marshal(map[string]string{"displayName": nv, "value": v})
		if st, _, b := call(t, "PUT", mg+"/namedValues/"+nv, string(body), srv.admin()...); st != 201 {
			t.Fatalf("named value: %d %s", st, b)
		}
	}
	frag := `{"format": "rawxml", "value": "<fragment><set-header name=\"x-fragment\" exists-action=\"override\"><value>1</value></set-header></fragment>"}`
	if st, _, b := call(t, "PUT", mg+"/policyFragments/myFragment", frag, srv.admin()...); st != 201 {
		t.Fatalf("fragment: %d %s", st, b)
	}
	// validate-jwt-6 verifies tokens with the public key of a certificate.
	_, _, der := gatewayTLSFiles(t, t.TempDir())
	cert, _ := json.Marshal(map[string]string{"data": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))})
	if st, _, b := call(t, "PUT", mg+"/certificates/my-rsa-cert", string(cert), srv.admin()...); st != 201 {
		t.Fatalf("certificate: %d %s", st, b)
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

// The reference examples Tollgate refuses (testdata/reference/refused) are
// refused by tollgate policy check with file:line:column and the missing
// piece, as each file's "refused:" comment says.
func TestPolicyReferenceRefusals(t *testing.T) {
	files, err := filepath.Glob("../../internal/policy/testdata/reference/refused/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no refused examples: %v", err)
	}
	nv := referenceNamedValuesFile(t)
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(text), "<!-- refused: ")
		want, _, _ := strings.Cut(rest, " -->")
		if !ok || want == "" {
			t.Fatalf("%s: no refused: comment", f)
		}
		var out, errb bytes.Buffer
		code := runPolicy([]string{"check", "--named-values", nv, f}, &out, &errb)
		all := out.String() + errb.String()
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", filepath.Base(f), code, all)
		}
		found := false
		for _, line := range strings.Split(strings.TrimSpace(all), "\n") {
			if !strings.HasPrefix(line, f+":") {
				t.Errorf("%s: a line without its place: %q", filepath.Base(f), line)
			}
			found = found || strings.Contains(line, want)
		}
		if !found {
			t.Errorf("%s: want a problem with %q, got\n%s", filepath.Base(f), want, all)
		}
	}
}

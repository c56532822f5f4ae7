package policy_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRealDocuments compiles the APIM documents in testdata/documents, in
// both the relaxed dialect and exported strict XML, with their named values,
// and the examples of APIM's policy reference pages (testdata/reference,
// one file per example; the examples of policies that other packages
// register, in testdata/reference/extensions, and the refused ones, in
// testdata/reference/refused, are checked by the CLI's test).
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
	for k, v := range referenceValues {
		values[k] = v
	}
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

// referenceValues are the named values the reference examples use.
var referenceValues = map[string]string{
	"jwt-signing-key": "c2lnbmluZy1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXM=", "aad-tenant-id": "contoso.onmicrosoft.com",
	"aad-client-application-id": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "subscription-id": "0000", "resource-group": "rg",
	"vm-name": "vm1", "sql-connection": "Server=sql;Database=db",
}

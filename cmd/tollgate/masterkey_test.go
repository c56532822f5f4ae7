package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMasterKeyRotation: `tollgate keys rotate --drop-old` adds a master
// key, re-wraps every sealed value while the server serves, and drops the
// old key: every secret still opens through listSecrets, and after a
// restart with only the new key in the key file the gateway still opens
// the credential manager's stored token (get-authorization-context) and
// finds subscriptions by key.
func TestMasterKeyRotation(t *testing.T) {
	dir := t.TempDir()
	srv, _ := testServer(t, dir)
	mg := srv.urls["management"]
	do := func(s *server, method, path, body string, want int) map[string]any {
		t.Helper()
		return mgmtDo(t, s, method, path, body, want)
	}
	// Sealed things: a secret named value, a provider's client secret and
	// a connection's stored token (client credentials against the built-in
	// identity provider), subscription keys.
	do(srv, "PUT", "/namedValues/password", `{"displayName": "password", "value": "s3cret-value", "secret": true}`, 201)
	do(srv, "PUT", "/directory/applications/reports", `{"displayName": "Reports", "identifierUris": ["api://reports"], "appRoles": [{"value": "Reports.Read", "allowedMemberTypes": ["Application"]}]}`, 201)
	client := do(srv, "PUT", "/directory/applications/cm-client", `{"displayName": "CM", "requiredResourceAccess": [{"resourceAppId": "api://reports", "resourceAccess": [{"id": "Reports.Read", "type": "Role"}]}]}`, 201)
	do(srv, "POST", "/directory/applications/cm-client/grantAdminConsent", "", 200)
	secret := do(srv, "POST", "/directory/applications/cm-client/addPassword", `{}`, 200)["secretText"].(string)
	do(srv, "PUT", "/authorizationProviders/reports", `{"identityProvider": "tollgate", "oauth2": {"grantTypes": {"clientCredentials": {"clientId": "`+client["appId"].(string)+`", "clientSecret": "`+secret+`", "resourceUri": "api://reports"}}}}`, 201)
	if c := do(srv, "PUT", "/authorizationProviders/reports/authorizations/svc", `{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}`, 201); c["status"] != "Connected" {
		t.Fatalf("connection: %v", c)
	}
	xml := `<policies><inbound><base />
<get-authorization-context provider-id="reports" authorization-id="svc" context-variable-name="auth" />
<return-response><set-status code="200" />
<set-body>@(((Authorization)context.Variables["auth"]).AccessToken.StartsWith("ey") ? "token" : "none")</set-body></return-response>
</inbound></policies>`
	if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", xml); st != 201 && st != 200 {
		t.Fatalf("policy: %d %s", st, b)
	}
	secrets := func(s *server) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, p := range []string{"/namedValues/password", "/authorizationProviders/reports", "/subscriptions/admin-unlimited", "/subscriptions/admin-starter"} {
			out[p] = do(s, "POST", p+"/listSecrets", "", 200)
		}
		return out
	}
	before := secrets(srv)
	key := before["/subscriptions/admin-unlimited"]["primaryKey"].(string)
	useToken := func(s *server, when string) {
		t.Helper()
		st, _, b := call(t, "GET", s.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key)
		if st != 200 || string(b) != "token" {
			t.Fatalf("%s: get-authorization-context: %d %s", when, st, b)
		}
	}
	useToken(srv, "before")
	oldFile, _ := os.ReadFile(filepath.Join(dir, "master.key"))

	// Rotation without dropping: two keys, then drop-old as a second step.
	code, out, errs := runCLI(t, "keys", "rotate", "--management-url", mg, "--admin-key", srv.adminKey)
	if code != 0 || !strings.Contains(out, "re-wrapped") || !strings.Contains(out, "drop-old") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errs)
	}
	var kf struct{ Keys []string }
	if b, _ := os.ReadFile(filepath.Join(dir, "master.key")); json.Unmarshal(b, &kf) != nil || len(kf.Keys) != 2 {
		t.Fatalf("key file after rotate: %s", b)
	}
	useToken(srv, "after rotate")
	code, out, errs = runCLI(t, "keys", "rotate", "--drop-old", "--management-url", mg, "--admin-key", srv.adminKey)
	if code != 0 || !strings.Contains(out, "Dropped 2 older keys") {
		t.Fatalf("keys rotate --drop-old: %d %s %s", code, out, errs)
	}
	newFile, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	if json.Unmarshal(newFile, &kf) != nil || len(kf.Keys) != 1 || strings.Contains(string(oldFile), kf.Keys[0]) {
		t.Fatalf("key file after --drop-old: %s (was %s)", newFile, oldFile)
	}
	for p, want := range before {
		if got := secrets(srv)[p]; mustMarshal(got) != mustMarshal(want) {
			t.Fatalf("%s after rotation: %v, want %v", p, got, want)
		}
	}
	useToken(srv, "after drop")

	// Restart: only the new key exists; everything stored still opens.
	if err := srv.shutdown(); err != nil {
		t.Fatal(err)
	}
	srv2, _ := testServer(t, dir)
	for p, want := range before {
		if got := secrets(srv2)[p]; mustMarshal(got) != mustMarshal(want) {
			t.Fatalf("%s after restart: %v, want %v", p, got, want)
		}
	}
	useToken(srv2, "after restart")
	if st, _, b := call(t, "GET", srv2.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", before["/subscriptions/admin-starter"]["primaryKey"].(string)); st != 200 {
		t.Fatalf("starter key after restart: %d %s", st, b)
	}

	// drop-old with a single key has nothing to drop and succeeds.
	code, _, errs = runCLI(t, "keys", "drop-old", "--management-url", srv2.urls["management"], "--admin-key", srv2.adminKey)
	if code != 0 {
		t.Fatalf("drop-old with one key: %d %s", code, errs)
	}
}

// TestMasterKeyRotationRefusedWithEnvKey: a master key given in the
// environment is not the server's to rotate: 409 with what to do, and the
// server keeps working with its key.
func TestMasterKeyRotationRefusedWithEnvKey(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--gateway-addr", "127.0.0.1:0", "--management-addr", "127.0.0.1:0",
		"--portal-addr", "", "--identity-addr", "127.0.0.1:0", "--log-level", "warn"}
	cfg, err := loadServeConfig(args, func(k string) string {
		if k == "TOLLGATE_MASTER_KEY" {
			return base64.StdEncoding.EncodeToString(make([]byte, 32))
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.shutdown() })
	code, _, errs := runCLI(t, "keys", "rotate", "--management-url", srv.urls["management"], "--admin-key", srv.adminKey)
	if code != 1 || !strings.Contains(errs, "MasterKeyNotInFile") || !strings.Contains(errs, "TOLLGATE_MASTER_KEY") {
		t.Fatalf("keys rotate with an environment key: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a key file was made")
	}
	mgmtDo(t, srv, "POST", "/subscriptions/admin-starter/listSecrets", "", 200)
}

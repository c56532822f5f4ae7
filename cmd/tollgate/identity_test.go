package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(string) string { return "" }, httpClient: http.DefaultClient})
	return code, out.String(), errb.String()
}

func mustJSON(t *testing.T, status int, want int, body []byte) map[string]any {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, body)
	}
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("not JSON: %s", body)
		}
	}
	return m
}

// TestLoginWithDirectoryApp: an application granted the management API's
// read role logs the CLI in; the CLI then reads with the token, and is
// refused writes. The signing key rotates through the CLI too.
func TestLoginWithDirectoryApp(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	mg := srv.urls["management"]
	st, _, b := call(t, "PUT", mg+"/directory/applications/cli-reader", `{
		"displayName": "CLI reader",
		"requiredResourceAccess": [{"resourceAppId": "api://tollgate-management",
			"resourceAccess": [{"id": "Management.Read.All", "type": "Role"}]}]}`, srv.admin()...)
	app := mustJSON(t, st, 201, b)
	st, _, b = call(t, "POST", mg+"/directory/applications/cli-reader/addPassword", `{"displayName": "cli"}`, srv.admin()...)
	secret, _ := mustJSON(t, st, 200, b)["secretText"].(string)
	st, _, b = call(t, "POST", mg+"/directory/applications/cli-reader/grantAdminConsent", "", srv.admin()...)
	if st/100 != 2 {
		t.Fatalf("grantAdminConsent: %d %s", st, b)
	}

	cliDir := t.TempDir() // no admin key here: the CLI must use the token
	code, out, errs := runCLI(t, "login", "--client-id", app["appId"].(string), "--client-secret", secret,
		"--identity-url", srv.urls["identity"], "--data-dir", cliDir)
	if code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errs)
	}
	if strings.Contains(out+errs, secret) {
		t.Error("login printed the client secret")
	}
	code, out, errs = runCLI(t, "get", "apis", "--management-url", mg, "--data-dir", cliDir)
	if code != 0 || !strings.Contains(out, "echo-api") {
		t.Fatalf("get apis with the token: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, "delete", "api", "echo-api", "--management-url", mg, "--data-dir", cliDir)
	if code == 0 || !strings.Contains(out+errs, "403") && !strings.Contains(out+errs, "Management.ReadWrite.All") {
		t.Fatalf("delete with a read-only token: %d %s %s", code, out, errs)
	}

	// Rotation publishes a second key in the JWKS.
	keys := func() int {
		st, _, b := call(t, "GET", srv.urls["identity"]+"/default/discovery/v2.0/keys", "")
		return len(mustJSON(t, st, 200, b)["keys"].([]any))
	}
	before := keys()
	code, out, errs = runCLI(t, "keys", "rotate-signing", "--management-url", mg, "--admin-key", srv.adminKey)
	if code != 0 {
		t.Fatalf("keys rotate-signing: %d %s %s", code, out, errs)
	}
	if after := keys(); after != before+1 {
		t.Errorf("JWKS has %d keys after rotation, %d before", after, before)
	}
}

// TestDirectoryLists: the directory's collections list like any other,
// including the built-in management application.
func TestDirectoryLists(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	st, _, b := call(t, "GET", srv.urls["management"]+"/directory/applications", "", srv.admin()...)
	list := mustJSON(t, st, 200, b)
	if !strings.Contains(string(b), "api://tollgate-management") || list["count"].(float64) < 1 {
		t.Fatalf("directory applications: %s", b)
	}
	st, _, b = call(t, "GET", srv.urls["management"]+"/directory", "", srv.admin()...)
	if dir := mustJSON(t, st, 200, b); dir["tenantId"] == "" || dir["name"] != "default" {
		t.Fatalf("GET /directory: %s", b)
	}
}

// TestTokenSettings: the access token lifetime and signing algorithm set on
// serve reach the tokens.
func TestTokenSettings(t *testing.T) {
	srv, _ := testServer(t, t.TempDir(), "--access-token-lifetime", "5m", "--signing-alg", "ES256")
	mg := srv.urls["management"]
	st, _, b := call(t, "PUT", mg+"/directory/applications/svc", `{"displayName": "svc",
		"requiredResourceAccess": [{"resourceAppId": "api://tollgate-management",
			"resourceAccess": [{"id": "Management.Read.All", "type": "Role"}]}]}`, srv.admin()...)
	app := mustJSON(t, st, 201, b)
	st, _, b = call(t, "POST", mg+"/directory/applications/svc/addPassword", `{}`, srv.admin()...)
	secret := mustJSON(t, st, 200, b)["secretText"].(string)
	call(t, "POST", mg+"/directory/applications/svc/grantAdminConsent", "", srv.admin()...)
	st, _, b = call(t, "POST", srv.urls["identity"]+"/default/oauth2/v2.0/token",
		"grant_type=client_credentials&scope=api://tollgate-management/.default&client_id="+app["appId"].(string)+"&client_secret="+secret,
		"Content-Type", "application/x-www-form-urlencoded")
	tok := mustJSON(t, st, 200, b)
	if tok["expires_in"].(float64) != 300 {
		t.Errorf("expires_in = %v, want 300", tok["expires_in"])
	}
	header, _ := base64Decode(strings.Split(tok["access_token"].(string), ".")[0])
	if !strings.Contains(header, `"ES256"`) {
		t.Errorf("token header %s is not ES256", header)
	}
}

func base64Decode(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

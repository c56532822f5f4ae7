package credential_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// TestRewrap: after a master key rotation, Rewrap moves every sealed token
// and client secret to the new key, so that the old one can be retired.
func TestRewrap(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	e.consented(t)
	e.clientCredentialsProvider(t)
	e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials",
		"parameters": map[string]any{"clientSecret": mustSecret(t, e)}}, nil)
	ctx := context.Background()
	if _, err := e.m.Token(ctx, "idp", "gw"); err != nil {
		t.Fatal(err)
	}
	newKEK := newKEK(t)
	opts := func(kr *keyring.Keyring) credential.Options {
		return credential.Options{Store: e.st, Keyring: kr, Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now,
			BuiltinURL: e.idpSrv.URL + "/" + e.tenant, Gateway: credential.Identity{TenantID: e.tenant, ObjectID: gatewayOID}}
	}
	// Before: the new key alone opens nothing.
	only, err := credential.New(opts(keyring.New(newKEK)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.Token(ctx, "saas", "alice"); err == nil {
		t.Fatal("tokens opened without their key")
	}
	rotated, err := credential.New(opts(keyring.New(newKEK, e.kek)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := rotated.Rewrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two stored tokens, two providers' secrets, one connection's secret.
	if n != 5 {
		t.Fatalf("rewrapped %d values, want 5", n)
	}
	if n, err := rotated.Rewrap(ctx); err != nil || n != 0 {
		t.Fatalf("second run: %d %v", n, err)
	}
	only, _ = credential.New(opts(keyring.New(newKEK)))
	for _, c := range [][2]string{{"saas", "alice"}, {"idp", "gw"}} {
		if a, err := only.Token(ctx, c[0], c[1]); err != nil || a.AccessToken == "" {
			t.Fatalf("%v with the new key only: %v", c, err)
		}
	}
}

// mustSecret adds a second password to the gateway client, for a
// connection's own client secret.
func mustSecret(t *testing.T, e *env) string {
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/gateway-client/addPassword", map[string]any{"displayName": "conn"}, &added)
	return added.SecretText
}

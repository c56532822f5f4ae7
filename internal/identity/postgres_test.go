package identity_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store/postgres"
)

// newPostgresEnv is newEnv on PostgreSQL (a schema of its own, dropped at
// cleanup); it skips when TOLLGATE_TEST_POSTGRES is unset.
func newPostgresEnv(t *testing.T, tweak ...func(*identity.Options)) *env {
	return newPostgresEnvVia(t, "", tweak...)
}

// newPostgresEnvVia is newPostgresEnv with the provider's store connecting
// through hostPort (a proxy) instead of the database's own address.
func newPostgresEnvVia(t *testing.T, hostPort string, tweak ...func(*identity.Options)) *env {
	base := os.Getenv("TOLLGATE_TEST_POSTGRES")
	if base == "" {
		t.Skip("TOLLGATE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	var b [8]byte
	rand.Read(b[:])
	schema := "tg_identity_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TOLLGATE_TEST_POSTGRES: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if hostPort != "" {
		u.Host = hostPort
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	kek, _ := keyring.NewLocalKEK(key)
	return newEnvOn(t, st, keyring.New(kek), tweak...)
}

// TestOnPostgres runs both seeds, refresh reuse detection and a two-node
// bootstrap on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	e := newPostgresEnv(t)
	res, client, secret := e.seedClientCredentials()
	at := e.ccToken(t, client.AppID, secret, res.AppID)
	if _, err := e.verifyJWT(at, res.AppID); err != nil {
		t.Fatal(err)
	}
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	code := e.codeFor(s, newBrowser(t, s.redirect), "openid offline_access api://"+s.backend.AppID+"/Colors.Read", challenge)
	st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	if st != 200 {
		t.Fatal(out)
	}
	rt1 := out["refresh_token"].(string)
	refresh := func(rt string) (int, map[string]any) {
		return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	}
	st, out = refresh(rt1)
	if st != 200 {
		t.Fatal(out)
	}
	rt2 := out["refresh_token"].(string)
	if st, _ := refresh(rt1); st != 400 {
		t.Fatalf("reuse: %d", st)
	}
	if st, _ := refresh(rt2); st != 400 {
		t.Fatalf("family after reuse: %d", st)
	}
	// A second node sees the same tenant and keys, and accepts the first
	// node's tokens for the management API.
	e2 := newEnvOn(t, e.store, e.kr)
	if e2.tenantID != e.tenantID {
		t.Fatal("second node made another tenant")
	}
	e.must(http.StatusOK, "POST", "/directory/signingKeys/rotate", map[string]any{"publishDelaySeconds": 0}, nil)
	if n := len(e2.jwks()); n != 2 {
		t.Fatalf("second node's JWKS after rotation: %d keys", n)
	}
}

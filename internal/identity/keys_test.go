package identity_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/identity"
)

func (e *env) ccToken(t *testing.T, clientID, secret, resource string) string {
	t.Helper()
	st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {resource + "/.default"}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, out)
	}
	return out["access_token"].(string)
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t, func(o *identity.Options) {
		o.AccessTokenLifetime = 10 * time.Minute
		o.IDTokenLifetime = 10 * time.Minute
		o.KeyPublishDelay = 30 * time.Minute
	})
	res, client, secret := e.seedClientCredentials()
	old := e.ccToken(t, client.AppID, secret, res.AppID)
	oldKID := header(t, old)["kid"]
	if n := len(e.jwks()); n != 1 {
		t.Fatalf("JWKS before rotation: %d keys", n)
	}

	// Rotate through the management API, as `tollgate keys rotate-signing`.
	var rotated identity.RotatedKey
	e.must(http.StatusOK, "POST", "/directory/signingKeys/rotate", nil, &rotated)
	if rotated.KID == "" || rotated.KID == oldKID || rotated.Alg != "RS256" {
		t.Fatalf("rotated %+v", rotated)
	}
	// Published at once, but not signing yet.
	if keys := e.jwks(); len(keys) != 2 || keys[rotated.KID] == nil {
		t.Fatalf("JWKS after rotation: %v", keys)
	}
	if kid := header(t, e.ccToken(t, client.AppID, secret, res.AppID))["kid"]; kid != oldKID {
		t.Fatalf("new key signs before its publish delay: %v", kid)
	}
	// After the publish delay the new key signs; the old token still
	// verifies while it is valid, with an independent library.
	e.clock.Advance(31 * time.Minute)
	fresh := e.ccToken(t, client.AppID, secret, res.AppID)
	if kid := header(t, fresh)["kid"]; kid != rotated.KID {
		t.Fatalf("new token kid %v, want %s", kid, rotated.KID)
	}
	if _, err := e.verifyJWT(fresh, res.AppID); err != nil {
		t.Fatal(err)
	}
	if e.jwks()[oldKID.(string)] == nil {
		t.Fatal("old key unpublished while its tokens may be valid")
	}
	// A token signed by the old key just before the switch is still valid
	// until it expires; the key stays published until then.
	e.clock.Advance(-2 * time.Minute)
	last := e.ccToken(t, client.AppID, secret, res.AppID)
	if header(t, last)["kid"] != oldKID {
		t.Fatal("expected the old key before the switch")
	}
	e.clock.Advance(2*time.Minute + 7*time.Minute)
	if _, err := e.verifyJWT(last, res.AppID); err != nil {
		t.Fatalf("old key's token before its expiry: %v", err)
	}
	// Once every token of the old key has expired, it leaves the JWKS.
	e.clock.Advance(20 * time.Minute)
	if keys := e.jwks(); len(keys) != 1 || keys[rotated.KID] == nil {
		t.Fatalf("JWKS after the old key's tokens expired: %v", keys)
	}
	var list struct {
		Count int `json:"count"`
	}
	e.must(http.StatusOK, "GET", "/directory/signingKeys", nil, &list)
	if list.Count != 2 {
		t.Fatalf("signingKeys list: %d", list.Count)
	}
	// The next rotation drops the expired key from storage.
	e.must(http.StatusOK, "POST", "/directory/signingKeys/rotate", map[string]any{"publishDelaySeconds": 0}, &rotated)
	e.must(http.StatusOK, "GET", "/directory/signingKeys", nil, &list)
	if list.Count != 2 {
		t.Fatalf("signingKeys after pruning: %d", list.Count)
	}
	if kid := header(t, e.ccToken(t, client.AppID, secret, res.AppID))["kid"]; kid != rotated.KID {
		t.Fatalf("immediate rotation: kid %v", kid)
	}
	e.must(http.StatusBadRequest, "POST", "/directory/signingKeys/rotate", map[string]any{"publishDelaySeconds": -1}, nil)
}

func TestScheduledRotationOneNode(t *testing.T) {
	e := newEnv(t, func(o *identity.Options) { o.KeyRotationInterval = time.Hour })
	// A second node on the same store.
	e2 := newEnvOn(t, e.store, e.kr, func(o *identity.Options) { o.KeyRotationInterval = time.Hour })
	e.clock.Advance(2 * time.Hour)
	e2.clock.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { e.p.Run(ctx); done <- struct{}{} }()
	go func() { e2.p.Run(ctx); done <- struct{}{} }()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.jwks()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Give the other node a moment to (wrongly) rotate too.
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	<-done
	if n := len(e.jwks()); n != 2 {
		t.Fatalf("after a scheduled rotation by two nodes: %d keys, want 2", n)
	}
}

func TestES256(t *testing.T) {
	e := newEnv(t, func(o *identity.Options) { o.SigningAlg = "ES256" })
	res, client, secret := e.seedClientCredentials()
	at := e.ccToken(t, client.AppID, secret, res.AppID)
	if h := header(t, at); h["alg"] != "ES256" {
		t.Fatalf("alg %v", h["alg"])
	}
	if _, err := e.verifyJWT(at, res.AppID); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.New(identity.Options{Store: e.store, Keyring: e.kr, Issuer: "http://x", SigningAlg: "HS256"}); err == nil {
		t.Fatal("HS256 accepted")
	}
}

package jwtvalidate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	m := map[string]crypto.Signer{}
	for _, n := range []string{"rsa1", "rsa2", "rsa3", "rsa4"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		m[n] = k
	}
	for n, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		m[n] = k
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	m["ed"] = ed
	return m
})

func key(name string) crypto.Signer { return testKeys()[name] }

// provider is an OpenID provider started in a test: its own keys and
// issuer, a request counter, and a switch to take it down.
type provider struct {
	t         *testing.T
	srv       *httptest.Server
	issuer    string
	mu        sync.Mutex
	keys      map[string]crypto.Signer // kid -> key
	discovery atomic.Int64
	jwks      atomic.Int64
	down      atomic.Bool
}

func newProvider(t *testing.T, keys map[string]crypto.Signer) *provider {
	p := &provider{t: t, keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discovery.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		p.jwks.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		var set jose.JSONWebKeySet
		for kid, k := range p.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	p.issuer = p.srv.URL + "/v2.0"
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) url() string { return p.srv.URL + "/.well-known/openid-configuration" }

func (p *provider) setKeys(keys map[string]crypto.Signer) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

// claims are a valid token's claims for this provider.
func (p *provider) claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": p.issuer, "aud": "api://resource", "sub": "user-1", "azp": "client-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"scp": "Colors.Read Colors.Write", "roles": []string{"Reader", "Writer"},
	}
}

// sign makes a token; header entries override the defaults.
func sign(t testing.TB, method jwt.SigningMethod, k any, kid string, claims jwt.MapClaims, hdr ...any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		tok.Header[hdr[i].(string)] = hdr[i+1]
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Unix(1_900_000_000, 0)} }

func mustNew(t testing.TB, cfg Config, deps Deps) *Validator {
	t.Helper()
	v, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.WarmUp(context.Background()); err != nil {
		t.Logf("warm up: %v", err)
	}
	return v
}

// wantReason asserts that validating raw fails with reason.
func wantReason(t *testing.T, v *Validator, raw, reason string) *Error {
	t.Helper()
	tok, err := v.Validate(context.Background(), raw)
	if err == nil {
		t.Fatalf("token accepted (%v), want %s", tok.Claims(), reason)
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	if e.Reason != reason {
		t.Fatalf("reason %s (%s), want %s", e.Reason, e.Message, reason)
	}
	return e
}

func wantOK(t *testing.T, v *Validator, raw string) *Token {
	t.Helper()
	tok, err := v.Validate(context.Background(), raw)
	if err != nil {
		t.Fatalf("token refused: %v", err)
	}
	return tok
}

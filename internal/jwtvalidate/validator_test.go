package jwtvalidate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

func openidValidator(t *testing.T, p *provider, clk *clock, cfg Config) *Validator {
	t.Helper()
	cfg.OpenIDConfigs = append(cfg.OpenIDConfigs, OpenIDConfig{URL: p.url()})
	ks := NewKeySets(KeySetsOptions{Client: p.srv.Client(), Now: clk.now})
	return mustNew(t, cfg, Deps{KeySets: ks, Now: clk.now})
}

func TestOpenIDEveryAlgorithm(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1"), "e256": key("p256"), "e384": key("p384"), "e521": key("p521"), "ed": key("ed")})
	v := openidValidator(t, p, clk, Config{Audiences: []string{"api://resource"}})
	for _, c := range []struct {
		m   jwt.SigningMethod
		kid string
	}{
		{jwt.SigningMethodRS256, "r1"}, {jwt.SigningMethodRS384, "r1"}, {jwt.SigningMethodRS512, "r1"},
		{jwt.SigningMethodPS256, "r1"}, {jwt.SigningMethodPS384, "r1"}, {jwt.SigningMethodPS512, "r1"},
		{jwt.SigningMethodES256, "e256"}, {jwt.SigningMethodES384, "e384"}, {jwt.SigningMethodES512, "e521"},
		{jwt.SigningMethodEdDSA, "ed"},
	} {
		t.Run(c.m.Alg(), func(t *testing.T) {
			raw := sign(t, c.m, p.keys[c.kid], c.kid, p.claims(clk.now()))
			tok := wantOK(t, v, raw)
			if tok.Subject != "user-1" || tok.Issuer != p.issuer || tok.Audiences[0] != "api://resource" || tok.Algorithm != c.m.Alg() || tok.KeyID != c.kid {
				t.Errorf("token = %+v", tok)
			}
			if c := tok.Claims(); c["azp"] != "client-1" || len(c["roles"].([]any)) != 2 {
				t.Errorf("claims = %v", c)
			}
			if !tok.ExpiresAt.Equal(clk.now().Add(time.Hour)) || !tok.IssuedAt.Equal(clk.now()) {
				t.Errorf("times exp=%v iat=%v", tok.ExpiresAt, tok.IssuedAt)
			}
			// Without kid, every key is tried.
			wantOK(t, v, sign(t, c.m, p.keys[c.kid], "", p.claims(clk.now())))
		})
	}
	// An ES256 token whose kid names the P-384 key: the alg does not fit.
	wantReason(t, v, sign(t, jwt.SigningMethodES256, key("p256"), "e384", p.claims(clk.now())), ReasonTokenSignatureInvalid)
	// Signed by a key the provider does not publish, under a known kid.
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "r1", p.claims(clk.now())), ReasonTokenSignatureInvalid)
}

func TestStaticKeys(t *testing.T) {
	clk := newClock()
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaPub := key("rsa2").Public().(*rsa.PublicKey)
	v := mustNew(t, Config{SigningKeys: []StaticKey{
		{ID: "hmac", Symmetric: secret},
		{N: base64.RawURLEncoding.EncodeToString(rsaPub.N.Bytes()), E: "AQAB"},
		{ID: "cert", PublicKey: key("p256").Public()},
	}}, Deps{Now: clk.now})
	claims := jwt.MapClaims{"sub": "s", "exp": clk.now().Add(time.Minute).Unix()}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		wantOK(t, v, sign(t, m, secret, "hmac", claims))
		wantOK(t, v, sign(t, m, secret, "", claims))
	}
	// Each key is tried in turn: the n/e key has no id, so it is tried for any kid.
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "", claims))
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "whatever", claims))
	wantOK(t, v, sign(t, jwt.SigningMethodES256, key("p256"), "cert", claims))
	// A kid naming a keyed entry restricts to it: the HMAC key signed, kid "cert".
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, "cert", claims), ReasonTokenSignatureInvalid)
	wantReason(t, v, sign(t, jwt.SigningMethodHS256, []byte("another secret of at least 32 bytes!"), "hmac", claims), ReasonTokenSignatureInvalid)
}

// RFC 8725 section 2.1: an HS256 token "signed" with the RSA public key as
// the HMAC secret must never verify against that public key.
func TestHMACWithPublicKeyRefused(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	der, _ := x509.MarshalPKIXPublicKey(key("rsa1").Public())
	pemKey := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
	// Also with the same public key configured statically.
	v := openidValidator(t, p, clk, Config{SigningKeys: []StaticKey{{PublicKey: key("rsa1").Public()}}})
	for _, secret := range [][]byte{der, []byte(pemKey), key("rsa1").Public().(*rsa.PublicKey).N.Bytes()} {
		wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, "r1", p.claims(clk.now())), ReasonTokenSignatureInvalid)
		wantReason(t, v, sign(t, jwt.SigningMethodHS256, secret, "", p.claims(clk.now())), ReasonTokenSignatureInvalid)
	}
}

func TestAlgNone(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	claims := p.claims(clk.now())
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "r1", claims)
	v := openidValidator(t, p, clk, Config{})
	e := wantReason(t, v, none, ReasonTokenSignatureInvalid)
	if !strings.Contains(e.Message, "not signed") {
		t.Errorf("message %q", e.Message)
	}
	// A "none" token with a signature appended is still unsigned.
	real := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", claims)
	wantReason(t, v, none+real[strings.LastIndexByte(real, '.')+1:], ReasonTokenSignatureInvalid)
	// Other spellings of none are unknown algorithms.
	for _, alg := range []string{"None", "NONE", "nOnE", ""} {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `"}`))
		wantReason(t, v, h+none[strings.IndexByte(none, '.'):], ReasonTokenSignatureInvalid)
	}
	// Accepted only when require-signed-tokens is false.
	lax := mustNew(t, Config{RequireSignedTokens: Bool(false), Issuers: []string{p.issuer}}, Deps{Now: clk.now})
	tok := wantOK(t, lax, none)
	if tok.Algorithm != "none" || tok.Subject != "user-1" {
		t.Errorf("token %+v", tok)
	}
	// Signed tokens still need a key that verifies them even then.
	wantReason(t, lax, real, ReasonTokenSignatureKeyNotFound)
}

// An unknown kid refetches the key set at most once per 5 minutes, however
// many forged kids arrive.
func TestUnknownKidStorm(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{})
	if got := p.jwks.Load(); got != 1 {
		t.Fatalf("jwks fetched %d times at build, want 1", got)
	}
	clk.add(5*time.Minute + time.Second)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kid := "forged-" + string(rune('a'+i%26)) + strings.Repeat("x", i)
			tok, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, key("rsa2"), kid, p.claims(clk.now())))
			if err == nil || err.(*Error).Reason != ReasonTokenSignatureKeyNotFound {
				t.Errorf("forged kid: %v %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if got := p.jwks.Load(); got != 2 {
		t.Fatalf("jwks fetched %d times after the storm, want 2 (one refetch)", got)
	}
	// A new signing key published at the provider is found by the next
	// unknown-kid refetch, once 5 minutes have passed.
	p.setKeys(map[string]crypto.Signer{"r1": key("rsa1"), "r2": key("rsa2")})
	fresh := sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", p.claims(clk.now()))
	wantReason(t, v, fresh, ReasonTokenSignatureKeyNotFound)
	if got := p.jwks.Load(); got != 2 {
		t.Fatalf("jwks fetched %d times, want 2", got)
	}
	clk.add(5 * time.Minute)
	fresh = sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", p.claims(clk.now()))
	wantOK(t, v, fresh)
	if got := p.jwks.Load(); got != 3 {
		t.Fatalf("jwks fetched %d times, want 3", got)
	}
}

// jku and x5u are never followed: the attacker's server sees no request,
// and its key verifies nothing.
func TestJkuX5uIgnored(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	evil := newProvider(t, map[string]crypto.Signer{"evil": key("rsa3")})
	v := openidValidator(t, p, clk, Config{})
	for _, h := range []string{"jku", "x5u"} {
		for _, kid := range []string{"evil", "r1", ""} {
			raw := sign(t, jwt.SigningMethodRS256, key("rsa3"), kid, p.claims(clk.now()), h, evil.srv.URL+"/keys")
			want := ReasonTokenSignatureInvalid
			if kid == "evil" {
				want = ReasonTokenSignatureKeyNotFound
			}
			wantReason(t, v, raw, want)
		}
	}
	// An embedded jwk is not used either.
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: key("rsa3").Public()})
	var m map[string]any
	json.Unmarshal(jwk, &m)
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa3"), "", p.claims(clk.now()), "jwk", m), ReasonTokenSignatureInvalid)
	if n := evil.jwks.Load() + evil.discovery.Load(); n != 0 {
		t.Fatalf("the jku/x5u server got %d requests", n)
	}
}

func TestCritRefused(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{})
	raw := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now()), "crit", []string{"exp"})
	wantReason(t, v, raw, ReasonJwtInvalid)
}

func TestLifetime(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	strict := openidValidator(t, p, clk, Config{CacheSize: -1})
	skewed := openidValidator(t, p, clk, Config{ClockSkew: 2 * time.Minute, CacheSize: -1})
	now := clk.now()
	mk := func(edit func(jwt.MapClaims)) string {
		c := p.claims(now)
		edit(c)
		return sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	}
	cases := []struct {
		name         string
		raw          string
		strict, skew string // "" means accepted
	}{
		{"expired long ago", mk(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }), ReasonTokenExpired, ReasonTokenExpired},
		{"expired within skew", mk(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), ReasonTokenExpired, ""},
		{"expires now", mk(func(c jwt.MapClaims) { c["exp"] = now.Unix() }), ReasonTokenExpired, ""},
		{"not yet valid", mk(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), ReasonTokenNotYetValid, ReasonTokenNotYetValid},
		{"not yet valid within skew", mk(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), ReasonTokenNotYetValid, ""},
		{"issued in the future", mk(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }), ReasonTokenNotYetValid, ReasonTokenNotYetValid},
		{"issued in the future within skew", mk(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }), ReasonTokenNotYetValid, ""},
		{"no exp", mk(func(c jwt.MapClaims) { delete(c, "exp") }), ReasonJwtInvalid, ReasonJwtInvalid},
		{"exp is a string", mk(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), ReasonJwtInvalid, ReasonJwtInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, x := range []struct {
				v    *Validator
				want string
			}{{strict, c.strict}, {skewed, c.skew}} {
				if x.want == "" {
					wantOK(t, x.v, c.raw)
				} else {
					wantReason(t, x.v, c.raw, x.want)
				}
			}
		})
	}
	lax := openidValidator(t, p, clk, Config{RequireExpirationTime: Bool(false)})
	wantOK(t, lax, cases[7].raw)
}

func TestIssuerAndAudience(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{Audiences: []string{"api://other", "api://resource"}})
	mk := func(k string, val any) string {
		c := p.claims(clk.now())
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	}
	wantOK(t, v, mk("aud", []string{"x", "api://resource"}))
	wantReason(t, v, mk("aud", "api://wrong"), ReasonTokenAudienceNotAllowed)
	wantReason(t, v, mk("aud", []string{"a", "b"}), ReasonTokenAudienceNotAllowed)
	wantReason(t, v, mk("aud", nil), ReasonTokenAudienceNotAllowed)
	// The discovery document's issuer is required by default.
	wantReason(t, v, mk("iss", "https://evil.example/v2.0"), ReasonTokenIssuerNotAllowed)
	wantReason(t, v, mk("iss", nil), ReasonTokenIssuerNotAllowed)
	// Configured issuers are accepted too.
	v2 := openidValidator(t, p, clk, Config{Issuers: []string{"https://sts.example/tenant/"}})
	wantOK(t, v2, mk("iss", "https://sts.example/tenant/"))
	wantOK(t, v2, mk("iss", p.issuer))
	wantReason(t, v2, mk("iss", "https://sts.example/other/"), ReasonTokenIssuerNotAllowed)
	// Static keys with issuers configured check them; without, they don't.
	s := mustNew(t, Config{SigningKeys: []StaticKey{{PublicKey: key("rsa1").Public()}}, Issuers: []string{"i1"}}, Deps{Now: clk.now})
	wantOK(t, s, mk("iss", "i1"))
	wantReason(t, s, mk("iss", "i2"), ReasonTokenIssuerNotAllowed)
}

// Multi-tenant metadata names its issuer with {tenantid}.
func TestTenantPlaceholderIssuer(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	base := p.srv.URL
	p.issuer = base + "/{tenantid}/v2.0"
	v := openidValidator(t, p, clk, Config{})
	c := p.claims(clk.now())
	c["tid"], c["iss"] = "t-123", base+"/t-123/v2.0"
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c))
	c["iss"] = base + "/t-999/v2.0"
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c), ReasonTokenIssuerNotAllowed)
}

func TestMalformedTokens(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{})
	good := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now()))
	parts := strings.Split(good, ".")
	wantReason(t, v, "", ReasonTokenNotPresent)
	tampered := []byte(good)
	if tampered[len(good)-20] == 'A' {
		tampered[len(good)-20] = 'B'
	} else {
		tampered[len(good)-20] = 'A'
	}
	wantReason(t, v, string(tampered), ReasonTokenSignatureInvalid)
	// A token cut inside its signature no longer verifies.
	wantReason(t, v, good[:len(good)-6], ReasonTokenSignatureInvalid)
	for name, raw := range map[string]string{
		"truncated":            good[:len(parts[0])+20],
		"truncated to 2 parts": parts[0] + "." + parts[1],
		"one part":             parts[0],
		"four parts":           good + ".x",
		"bad base64 header":    "!!" + good,
		"bad base64 payload":   parts[0] + ".*" + parts[1] + "." + parts[2],
		"padded signature":     good + "==",
		"header not JSON":      base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2],
		"oversized":            parts[0] + "." + strings.Repeat("A", MaxTokenBytes) + "." + parts[2],
		"garbage":              "a.b.c",
		"JWE without keys":     "a.b.c.d.e",
	} {
		t.Run(name, func(t *testing.T) {
			e := wantReason(t, v, raw, ReasonJwtInvalid)
			if name == "oversized" && !strings.Contains(e.Message, "16384") {
				t.Errorf("message %q", e.Message)
			}
		})
	}
	// A payload that is not a JSON object, correctly signed.
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"r1"}`))
	pl := base64.RawURLEncoding.EncodeToString([]byte(`[1,2]`))
	sig, _ := jwt.SigningMethodRS256.Sign(hdr+"."+pl, key("rsa1"))
	wantReason(t, v, hdr+"."+pl+"."+base64.RawURLEncoding.EncodeToString(sig), ReasonJwtInvalid)
}

func TestRequiredClaims(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	mk := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c) }
	base := p.claims(clk.now())
	tok := mk(base)

	missing := openidValidator(t, p, clk, Config{RequiredClaims: []Claim{{Name: "aud"}, {Name: "oid"}, {Name: "tid"}}})
	e := wantReason(t, missing, tok, ReasonTokenClaimNotFound)
	if e.Message != "JWT token is missing the following claims: oid, tid. Access denied." {
		t.Errorf("message %q", e.Message)
	}
	cases := []struct {
		claim Claim
		ok    bool
	}{
		{Claim{Name: "scp", Match: "any", Separator: " ", Values: []string{"Colors.Read"}}, true},
		{Claim{Name: "scp", Match: "all", Separator: " ", Values: []string{"Colors.Read", "Colors.Write"}}, true},
		{Claim{Name: "scp", Match: "all", Separator: " ", Values: []string{"Colors.Read", "Colors.Admin"}}, false},
		{Claim{Name: "scp", Match: "any", Separator: " ", Values: []string{"Colors.Admin", "Colors.Write"}}, true},
		{Claim{Name: "scp", Values: []string{"Colors.Read"}}, false}, // no separator: the whole string
		{Claim{Name: "roles", Values: []string{"Reader"}}, true},     // match defaults to all
		{Claim{Name: "roles", Values: []string{"Reader", "Admin"}}, false},
		{Claim{Name: "roles", Match: "any", Values: []string{"Reader", "Admin"}}, true},
		{Claim{Name: "aud", Values: []string{"api://resource"}}, true},
		{Claim{Name: "sub", Values: []string{"user-2"}}, false},
	}
	for i, c := range cases {
		v := openidValidator(t, p, clk, Config{RequiredClaims: []Claim{c.claim}})
		if c.ok {
			wantOK(t, v, tok)
			continue
		}
		e := wantReason(t, v, tok, ReasonTokenClaimValueNotAllowed)
		want := map[string]string{
			"scp": "Claim scp value of Colors.Read Colors.Write is not allowed. Access denied.", "roles": "Claim roles value of Reader,Writer is not allowed. Access denied.",
			"sub": "Claim sub value of user-1 is not allowed. Access denied.",
		}[c.claim.Name]
		if e.Message != want {
			t.Errorf("case %d: message %q, want %q", i, e.Message, want)
		}
	}
}

func TestClientApplicationIDs(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{ClientApplicationIDs: []string{"client-1", "client-2"}})
	c := p.claims(clk.now())
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c))
	c["azp"] = "client-3"
	e := wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c), ReasonTokenClaimValueNotAllowed)
	if e.Message != "Claim azp value of client-3 is not allowed. Access denied." {
		t.Errorf("message %q", e.Message)
	}
	delete(c, "azp")
	c["appid"] = "client-2" // v1 tokens
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c))
	delete(c, "appid")
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c), ReasonTokenClaimNotFound)
}

// A provider going down keeps the last good keys: new tokens signed with
// them still validate, and the scheduled refresh leaves them in place.
func TestProviderDownKeepsKeys(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{CacheSize: -1})
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now())))
	p.down.Store(true)
	clk.add(2 * time.Hour)
	src := v.sources[0]
	if _, err := src.refresh(context.Background(), refreshScheduled); err == nil {
		t.Fatal("refresh against a down provider succeeded")
	}
	before := p.jwks.Load() + p.discovery.Load()
	for range 5 {
		wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now())))
	}
	// Stale keys trigger at most one background refresh per retry interval.
	time.Sleep(50 * time.Millisecond)
	if n := p.jwks.Load() + p.discovery.Load() - before; n > 1 {
		t.Errorf("%d fetches while down within one retry interval", n)
	}
	// Unknown kids while down do not erase the keys either.
	clk.add(10 * time.Minute)
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", p.claims(clk.now())), ReasonTokenSignatureKeyNotFound)
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now())))
}

// A provider that is down when the validator is built does not fail the
// build; its keys are fetched when it comes back.
func TestProviderDownAtBuild(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	p.down.Store(true)
	v := openidValidator(t, p, clk, Config{})
	raw := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now()))
	wantReason(t, v, raw, ReasonTokenSignatureKeyNotFound)
	p.down.Store(false)
	clk.add(16 * time.Second)
	wantOK(t, v, raw)
}

// Sizes and time are bounded on every fetch.
func TestFetchBounds(t *testing.T) {
	clk := newClock()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	defer big.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	// The size limit is checked with a generous timeout, so a slow run
	// cannot turn it into a timeout; the timeout with a server that hangs.
	for _, c := range []struct {
		url, want string
		timeout   time.Duration
	}{{big.URL, "larger than 1048576 bytes", 30 * time.Second}, {slow.URL, "deadline exceeded", 100 * time.Millisecond}} {
		ks := NewKeySets(KeySetsOptions{Now: clk.now, FetchTimeout: c.timeout})
		v, err := New(Config{OpenIDConfigs: []OpenIDConfig{{URL: c.url}}}, Deps{KeySets: ks, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.WarmUp(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("warm up error = %v, want %q", err, c.want)
		}
	}
}

func TestCache(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1"), "r2": key("rsa2")})
	v := openidValidator(t, p, clk, Config{Audiences: []string{"api://resource"}})
	c := p.claims(clk.now())
	c["exp"] = clk.now().Add(10 * time.Minute).Unix()
	raw := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	t1 := wantOK(t, v, raw)
	if t2 := wantOK(t, v, raw); t2 != t1 {
		t.Fatal("second validation was not served from the cache")
	}
	// The cache is per validator: its config's checks still apply elsewhere.
	other := openidValidator(t, p, clk, Config{Audiences: []string{"api://other"}})
	wantReason(t, other, raw, ReasonTokenAudienceNotAllowed)
	// Entries end at the token's exp.
	clk.add(10 * time.Minute)
	wantReason(t, v, raw, ReasonTokenExpired)

	// A key leaving the key set empties the tokens it verified.
	c = p.claims(clk.now())
	c["exp"] = clk.now().Add(3 * time.Hour).Unix()
	r1, r2 := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c), sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", c)
	wantOK(t, v, r1)
	wantOK(t, v, r2)
	p.setKeys(map[string]crypto.Signer{"r2": key("rsa2")})
	clk.add(time.Hour)
	if _, err := v.sources[0].refresh(context.Background(), refreshScheduled); err != nil {
		t.Fatal(err)
	}
	wantReason(t, v, r1, ReasonTokenSignatureKeyNotFound)
	if t2 := wantOK(t, v, r2); t2.KeyID != "r2" {
		t.Fatal(t2)
	}
	// Bounded.
	small := openidValidator(t, p, clk, Config{CacheSize: 32})
	for i := range 200 {
		c := p.claims(clk.now())
		c["n"] = i
		wantOK(t, small, sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", c))
	}
	if n := small.cache.Len(); n > 32 {
		t.Fatalf("cache holds %d tokens, bound 32", n)
	}
}

func TestLocalKeys(t *testing.T) {
	clk := newClock()
	calls := 0
	local := func(ctx context.Context) (jose.JSONWebKeySet, string, error) {
		calls++
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key("rsa4").Public(), KeyID: "k4", Use: "sig", Algorithm: "RS256"}}}, "https://id.local/tenant/v2.0", nil
	}
	v := mustNew(t, Config{LocalKeys: true, Audiences: []string{"app"}}, Deps{LocalKeys: local, Now: clk.now})
	c := jwt.MapClaims{"iss": "https://id.local/tenant/v2.0", "aud": "app", "exp": clk.now().Add(time.Hour).Unix()}
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa4"), "k4", c))
	// The JWK's alg restricts the key.
	wantReason(t, v, sign(t, jwt.SigningMethodPS256, key("rsa4"), "k4", c), ReasonTokenSignatureInvalid)
	c["iss"] = "https://elsewhere/v2.0"
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa4"), "k4", c), ReasonTokenIssuerNotAllowed)
	if calls != 1 {
		t.Errorf("local keys read %d times, want 1", calls)
	}
	if _, err := New(Config{LocalKeys: true}, Deps{}); err == nil {
		t.Error("LocalKeys without Deps.LocalKeys accepted")
	}
}

func jweOf(t *testing.T, inner string, pub *rsa.PublicKey, alg jose.KeyAlgorithm, enc jose.ContentEncryption) string {
	t.Helper()
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: pub}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt([]byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWE(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	dec := key("rsa3").(*rsa.PrivateKey)
	v := openidValidator(t, p, clk, Config{DecryptionKeys: []DecryptionKey{{PrivateKey: key("rsa4")}, {PrivateKey: dec}}})
	inner := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now()))
	jwe := jweOf(t, inner, &dec.PublicKey, jose.RSA_OAEP_256, jose.A256GCM)
	tok := wantOK(t, v, jwe)
	hseg, rest, _ := strings.Cut(inner, ".")
	pseg, _, _ := strings.Cut(rest, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(hseg)
	pb, _ := base64.RawURLEncoding.DecodeString(pseg)
	if tok.HeaderJSON() != string(hb) || tok.PayloadJSON() != string(pb) || tok.Subject != "user-1" {
		t.Errorf("token %+v", tok)
	}
	if wantOK(t, v, jwe) != tok {
		t.Error("the same JWE was not served from the cache")
	}
	wantReason(t, v, jweOf(t, inner, &dec.PublicKey, jose.RSA_OAEP, jose.A256GCM), ReasonJwtInvalid)
	wantReason(t, v, jweOf(t, inner, &dec.PublicKey, jose.RSA_OAEP_256, jose.A128CBC_HS256), ReasonJwtInvalid)
	wantReason(t, v, jweOf(t, inner, &key("rsa2").(*rsa.PrivateKey).PublicKey, jose.RSA_OAEP_256, jose.A256GCM), ReasonJwtInvalid)
	// The inner token is checked like any other.
	bad := sign(t, jwt.SigningMethodRS256, key("rsa2"), "r1", p.claims(clk.now()))
	wantReason(t, v, jweOf(t, bad, &dec.PublicKey, jose.RSA_OAEP_256, jose.A256GCM), ReasonTokenSignatureInvalid)
	wantReason(t, v, jweOf(t, "not a jwt", &dec.PublicKey, jose.RSA_OAEP_256, jose.A256GCM), ReasonJwtInvalid)

	// Anything but an RSA private key is refused when the config is built.
	_, err := New(Config{SigningKeys: []StaticKey{{PublicKey: key("rsa1").Public()}}, DecryptionKeys: []DecryptionKey{{Symmetric: make([]byte, 32)}}}, Deps{})
	if err == nil || !strings.Contains(err.Error(), "RSA-OAEP-256 with A256GCM") {
		t.Errorf("symmetric decryption key: %v", err)
	}
	_, err = New(Config{SigningKeys: []StaticKey{{PublicKey: key("rsa1").Public()}}, DecryptionKeys: []DecryptionKey{{PrivateKey: key("p256")}}}, Deps{})
	if err == nil || !strings.Contains(err.Error(), "RSA-OAEP-256 with A256GCM") {
		t.Errorf("EC decryption key: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := key("p256").(*ecdsa.PrivateKey)
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no keys":       {Config{}, "no signing keys"},
		"short hmac":    {Config{SigningKeys: []StaticKey{{Symmetric: []byte("short")}}}, "at least 32 bytes"},
		"n without e":   {Config{SigningKeys: []StaticKey{{N: "AQAB"}}}, "n and e must both be given"},
		"two kinds":     {Config{SigningKeys: []StaticKey{{Symmetric: make([]byte, 32), PublicKey: ecKey.Public()}}}, "exactly one"},
		"small rsa":     {Config{SigningKeys: []StaticKey{{PublicKey: &small.PublicKey}}}, "too small"},
		"bad n":         {Config{SigningKeys: []StaticKey{{N: "!!", E: "AQAB"}}}, "n is not base64url"},
		"even e":        {Config{SigningKeys: []StaticKey{{N: base64.RawURLEncoding.EncodeToString(key("rsa1").Public().(*rsa.PublicKey).N.Bytes()), E: base64.RawURLEncoding.EncodeToString(big.NewInt(4).Bytes())}}}, "odd"},
		"bad match":     {Config{SigningKeys: []StaticKey{{PublicKey: ecKey.Public()}}, RequiredClaims: []Claim{{Name: "x", Match: "some"}}}, "match must be all or any"},
		"no claim name": {Config{SigningKeys: []StaticKey{{PublicKey: ecKey.Public()}}, RequiredClaims: []Claim{{}}}, "name is required"},
		"bad url":       {Config{OpenIDConfigs: []OpenIDConfig{{URL: "ftp://x"}}}, "absolute http(s) URL"},
		"negative skew": {Config{SigningKeys: []StaticKey{{PublicKey: ecKey.Public()}}, ClockSkew: -time.Second}, "clock-skew"},
	}
	for name, c := range cases {
		_, err := New(c.cfg, Deps{KeySets: NewKeySets(KeySetsOptions{})})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	// No deps, no network: openid-config and the built-in provider count as keys.
	if err := Check(Config{OpenIDConfigs: []OpenIDConfig{{URL: "https://id.example/.well-known/openid-configuration"}}}); err != nil {
		t.Error(err)
	}
	if err := Check(Config{LocalKeys: true}); err != nil {
		t.Error(err)
	}
	if err := Check(Config{}); err == nil {
		t.Error("no keys accepted")
	}
	if err := (StaticKey{Symmetric: []byte("short")}).Check(); err == nil {
		t.Error("short key accepted")
	}
	if err := (DecryptionKey{Symmetric: make([]byte, 32)}).Check(); err == nil {
		t.Error("symmetric decryption key accepted")
	}
}

// Run refreshes key sets in the background, and forgets unused ones.
func TestKeySetsRun(t *testing.T) {
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	ks := NewKeySets(KeySetsOptions{Client: p.srv.Client(), RefreshInterval: 20 * time.Millisecond, RetryInterval: time.Millisecond})
	v := mustNew(t, Config{OpenIDConfigs: []OpenIDConfig{{URL: p.url()}}}, Deps{KeySets: ks})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ks.Run(ctx) }()
	// A key published later is picked up by the scheduled refresh alone.
	p.setKeys(map[string]crypto.Signer{"r1": key("rsa1"), "r2": key("rsa2")})
	deadline := time.Now().Add(60 * time.Second)
	for {
		// In use meanwhile, as a validator's lookups keep it: on a busy
		// machine two intervals may pass before the refresh runs.
		v.sources[0].touch()
		g := v.sources[0].cur.Load()
		if g != nil && len(g.keys) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never picked up the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Unused for two intervals, the set is dropped.
	for {
		ks.mu.Lock()
		n := len(ks.sets)
		ks.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unused key set never dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

func TestTokenMemo(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{})
	raw := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now()))
	calls := 0
	fn := func(tok *Token) any { calls++; return tok.Subject }
	for range 3 {
		if got := wantOK(t, v, raw).Memo(fn); got != "user-1" {
			t.Fatalf("memo = %v", got)
		}
	}
	if calls != 1 {
		t.Fatalf("memo computed %d times for a cached token, want 1", calls)
	}
}

// A key rotated in at the provider is found by the first token that uses
// it, once the last fetch is older than the short minimum (30 seconds),
// not 5 minutes after the last scheduled fetch. A kid still unknown after
// that refetch starts the 5-minute guard.
func TestRotatedKeyFoundAtOnce(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	v := openidValidator(t, p, clk, Config{})
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now())))
	if got := p.jwks.Load(); got != 1 {
		t.Fatalf("jwks fetched %d times at build, want 1", got)
	}

	// The provider rotates: r2 replaces r1. Within 30 s of the last fetch
	// the new kid is not looked up yet.
	p.setKeys(map[string]crypto.Signer{"r2": key("rsa2")})
	clk.add(10 * time.Second)
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", p.claims(clk.now())), ReasonTokenSignatureKeyNotFound)
	if got := p.jwks.Load(); got != 1 {
		t.Fatalf("jwks fetched %d times within the minimum interval, want 1", got)
	}
	clk.add(21 * time.Second)
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa2"), "r2", p.claims(clk.now())))
	if got := p.jwks.Load(); got != 2 {
		t.Fatalf("jwks fetched %d times, want 2 (one refetch for the new kid)", got)
	}
	// The rotated-out key verifies nothing any more.
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", p.claims(clk.now())), ReasonTokenSignatureKeyNotFound)

	// A second rotation a minute later is found as quickly: a refetch
	// that found its kid does not start the 5-minute guard.
	clk.add(time.Minute)
	p.setKeys(map[string]crypto.Signer{"r2": key("rsa2"), "r3": key("rsa3")})
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa3"), "r3", p.claims(clk.now())))
	if got := p.jwks.Load(); got != 3 {
		t.Fatalf("jwks fetched %d times, want 3", got)
	}

	// A kid the provider does not have: one refetch, then none for 5
	// minutes, however many tokens carry unknown kids.
	clk.add(time.Minute)
	for i := range 20 {
		wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa4"), "forged-"+strings.Repeat("x", i), p.claims(clk.now())), ReasonTokenSignatureKeyNotFound)
		clk.add(10 * time.Second)
	}
	if got := p.jwks.Load(); got != 4 {
		t.Fatalf("jwks fetched %d times after unknown kids for 200 s, want 4 (one refetch)", got)
	}
	p.setKeys(map[string]crypto.Signer{"r3": key("rsa3"), "r4": key("rsa4")})
	wantReason(t, v, sign(t, jwt.SigningMethodRS256, key("rsa4"), "r4", p.claims(clk.now())), ReasonTokenSignatureKeyNotFound)
	clk.add(2 * time.Minute)
	wantOK(t, v, sign(t, jwt.SigningMethodRS256, key("rsa4"), "r4", p.claims(clk.now())))
	if got := p.jwks.Load(); got != 5 {
		t.Fatalf("jwks fetched %d times, want 5", got)
	}
}

// RS256/384/512 go through each key's precomputed verifier (rsaverify),
// from a key set and from configured keys: a signed token is accepted,
// the same token with any one signature bit flipped is refused.
func TestRSASignatureBitFlips(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	fromJWKS := openidValidator(t, p, clk, Config{})
	rsaPub := key("rsa1").Public().(*rsa.PublicKey)
	static := mustNew(t, Config{SigningKeys: []StaticKey{
		{ID: "ne", N: base64.RawURLEncoding.EncodeToString(rsaPub.N.Bytes()), E: "AQAB"},
		{ID: "cert", PublicKey: rsaPub},
	}}, Deps{Now: clk.now})
	keys := append([]*verKey{}, static.static...)
	keys = append(keys, fromJWKS.sources[0].cur.Load().keys...)
	for _, k := range keys {
		if k.rsa == nil {
			t.Fatalf("key %q has no precomputed verifier", k.kid)
		}
	}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodRS384, jwt.SigningMethodRS512} {
		for _, c := range []struct {
			v   *Validator
			kid string
		}{{fromJWKS, "r1"}, {static, "ne"}, {static, "cert"}} {
			claims := p.claims(clk.now())
			raw := sign(t, m, key("rsa1"), c.kid, claims)
			wantOK(t, c.v, raw)
			dot := strings.LastIndexByte(raw, '.')
			sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
			if err != nil {
				t.Fatal(err)
			}
			for _, bit := range []int{0, 7, 8*len(sig)/2 + 3, 8*len(sig) - 1} {
				bad := append([]byte(nil), sig...)
				bad[bit/8] ^= 0x80 >> (bit % 8)
				forged := raw[:dot+1] + base64.RawURLEncoding.EncodeToString(bad)
				if e := wantReason(t, c.v, forged, ReasonTokenSignatureInvalid); e != errSignature {
					t.Fatalf("%s kid %s bit %d: %v", m.Alg(), c.kid, bit, e)
				}
			}
			// The token is signed with SHA-256 but claims another alg.
			if m != jwt.SigningMethodRS256 {
				other := sign(t, jwt.SigningMethodRS256, key("rsa1"), c.kid, claims)
				hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + m.Alg() + `","kid":"` + c.kid + `","typ":"JWT"}`))
				_, rest, _ := strings.Cut(other, ".")
				wantReason(t, c.v, hdr+"."+rest, ReasonTokenSignatureInvalid)
			}
		}
	}
}

// A validated token's fields are its own: validation works in reused
// buffers, and the strings it keeps must not point into them.
func TestTokenFieldsSurviveLaterValidations(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	rsaPub := key("rsa1").Public().(*rsa.PublicKey)
	jwks := openidValidator(t, p, clk, Config{Audiences: []string{"api://resource"}, CacheSize: -1})
	// A key without an id: the token's kid is kept as the token says it.
	static := mustNew(t, Config{SigningKeys: []StaticKey{{PublicKey: rsaPub}}, CacheSize: -1}, Deps{Now: clk.now})
	type want struct{ kid, typ, sub, id, iss, aud string }
	for _, c := range []struct {
		v     *Validator
		kid   string
		claim jwt.MapClaims
		want  want
	}{
		{jwks, "r1", jwt.MapClaims{"sub": "first-subject", "jti": "first-id", "aud": "api://resource", "iss": p.issuer},
			want{"r1", "JWT", "first-subject", "first-id", p.issuer, "api://resource"}},
		{static, "kid-of-no-key", jwt.MapClaims{"sub": "sub\twith \"escapes\" é", "jti": "j", "aud": "someone-else", "iss": "https://elsewhere/"},
			want{"kid-of-no-key", "JWT", "sub\twith \"escapes\" é", "j", "https://elsewhere/", "someone-else"}},
	} {
		c.claim["exp"] = clk.now().Add(time.Hour).Unix()
		tok := wantOK(t, c.v, sign(t, jwt.SigningMethodRS256, key("rsa1"), c.kid, c.claim))
		for i := range 20 {
			other := jwt.MapClaims{"sub": strings.Repeat("x", 10+i), "jti": strings.Repeat("y", 30-i), "aud": strings.Repeat("z", 40),
				"iss": p.issuer, "exp": clk.now().Add(time.Hour).Unix()}
			kid := strings.Repeat("k", len(c.kid))
			if c.v == jwks {
				other["aud"], kid = "api://resource", c.kid
			}
			wantOK(t, c.v, sign(t, jwt.SigningMethodRS256, key("rsa1"), kid, other, "typ", "ABC"))
		}
		got := want{tok.KeyID, tok.Type, tok.Subject, tok.ID, tok.Issuer, strings.Join(tok.Audiences, ",")}
		if got != c.want {
			t.Errorf("after later validations the token reads %+v, want %+v", got, c.want)
		}
	}
}

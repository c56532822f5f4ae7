package jwtvalidate

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tollgate/tollgate/internal/rsaverify"
)

// benchToken is an Entra-shaped access token: the claims a real one has.
func benchToken(b *testing.B, p *provider) string {
	c := p.claims(time.Now())
	for k, v := range map[string]any{
		"oid": "5f0b6d4e-1c1d-4b5e-9e6f-3b8a1c2d3e4f", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"ver": "2.0", "name": "Ana Lopez", "preferred_username": "ana@example.com", "uti": "AbCdEfGhIjKlMnOp",
		"rh": "0.AAAA", "idp": "https://sts.example/", "aio": strings.Repeat("E", 60),
	} {
		c[k] = v
	}
	return sign(b, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
}

// BenchmarkBareRSAVerify is the floor: SHA-256 of the signing input and
// the key's precomputed rsaverify check (what validation runs), on the
// same token, signature already decoded. crypto/rsa's own cost is
// rsaverify's BenchmarkVerify2048.
func BenchmarkBareRSAVerify(b *testing.B) {
	p := newProvider(&testing.T{}, map[string]crypto.Signer{"r1": key("rsa1")})
	defer p.srv.Close()
	raw := benchToken(b, p)
	i := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[i+1:])
	pub := bareKey(b)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(raw[:i]))
		if err := pub.VerifyPKCS1v15(crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func bareKey(b *testing.B) *rsaverify.PublicKey {
	pub, err := rsaverify.New(key("rsa1").Public().(*rsa.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	return pub
}

func benchValidator(b *testing.B, cacheSize int) (*Validator, string) {
	v, p := benchSetup(b, cacheSize)
	return v, benchToken(b, p)
}

// benchSetup is a validator of the benchmarks' config (openid-config keys,
// aud, a required claim) with its keys fetched, and the provider.
func benchSetup(b *testing.B, cacheSize int) (*Validator, *provider) {
	p := newProvider(&testing.T{}, map[string]crypto.Signer{"r1": key("rsa1"), "r2": key("rsa2")})
	b.Cleanup(p.srv.Close)
	v, err := New(Config{
		OpenIDConfigs:  []OpenIDConfig{{URL: p.url()}},
		Audiences:      []string{"api://resource"},
		RequiredClaims: []Claim{{Name: "scp", Match: "any", Separator: " ", Values: []string{"Colors.Read"}}},
		CacheSize:      cacheSize,
	}, Deps{KeySets: NewKeySets(KeySetsOptions{Client: p.srv.Client()})})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.WarmUp(context.Background()); err != nil {
		b.Fatal(err)
	}
	return v, p
}

// BenchmarkValidateRS256Uncached is a full validation (openid-config keys,
// aud, a required claim) with the cache off.
func BenchmarkValidateRS256Uncached(b *testing.B) {
	v, raw := benchValidator(b, -1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateCached is a client reusing its token.
func BenchmarkValidateCached(b *testing.B) {
	v, raw := benchValidator(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRS256VsBare alternates a bare verification and an uncached
// validation of the same token in one loop, so load from other processes
// hits both alike, and reports both and the overhead in percent.
func BenchmarkRS256VsBare(b *testing.B) {
	v, raw := benchValidator(b, -1)
	ctx := context.Background()
	i := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[i+1:])
	pub := bareKey(b)
	var bare, full time.Duration
	for b.Loop() {
		t0 := time.Now()
		h := sha256.Sum256([]byte(raw[:i]))
		if err := pub.VerifyPKCS1v15(crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := v.Validate(ctx, raw); err != nil {
			b.Fatal(err)
		}
		full += time.Since(t1)
		bare += t1.Sub(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/op")
	b.ReportMetric(float64(full.Nanoseconds())/n, "validate-ns/op")
	b.ReportMetric(100*(float64(full)/float64(bare)-1), "overhead-%")
}

// BenchmarkValidateUnique is every client presenting a token the gateway
// has not seen: 1,024 distinct tokens round robin through a cache of 256,
// so each validation checks a signature, inserts its token and evicts the
// oldest.
func BenchmarkValidateUnique(b *testing.B) {
	v, p := benchSetup(b, 256)
	tokens := make([]string, 1024)
	for i := range tokens {
		c := p.claims(time.Now())
		c["jti"] = fmt.Sprintf("%016x", i)
		c["oid"] = "5f0b6d4e-1c1d-4b5e-9e6f-3b8a1c2d3e4f"
		c["tid"] = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		tokens[i] = sign(b, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	}
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if n := v.cache.Len(); n > 256 {
		b.Fatalf("cache holds %d tokens", n)
	}
}

package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestTokensFetchesDistinctTokens(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != "cid" ||
			r.Form.Get("client_secret") != "s3cret" || r.Form.Get("scope") != "api://bench/.default" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer"}`, calls.Add(1))
	}))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "tokens.txt")
	t.Setenv("JWTKIT_CLIENT_SECRET", "s3cret")
	err := run(context.Background(), []string{"tokens", "-token-url", srv.URL, "-client-id", "cid",
		"-scope", "api://bench/.default", "-n", "50", "-c", "3", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(lines) != 50 || len(seen) != 50 {
		t.Fatalf("got %d lines, %d distinct; want 50 distinct", len(lines), len(seen))
	}
}

func TestTokensReportsProviderError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	t.Setenv("JWTKIT_CLIENT_SECRET", "wrong")
	err := run(context.Background(), []string{"tokens", "-token-url", srv.URL, "-client-id", "cid",
		"-n", "10", "-out", filepath.Join(t.TempDir(), "t")})
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v, want the provider's invalid_client", err)
	}
}

func TestPEMFromJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "kid": "ec", "use": "sig", "crv": "P-256", "x": "AA", "y": "AA"},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		{"kty": "RSA", "kid": "k1", "use": "sig", "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())},
	}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwks)
	}))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "pub.pem")
	if err := run(context.Background(), []string{"pem", "-jwks", srv.URL, "-out", out}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("not a PEM public key: %q", data)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(pub) {
		t.Fatal("PEM key differs from the JWKS key")
	}
	if err := run(context.Background(), []string{"pem", "-jwks", srv.URL, "-kid", "nope", "-out", out}); err == nil {
		t.Fatal("unknown kid accepted")
	}
}

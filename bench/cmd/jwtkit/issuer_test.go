package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestIssuerTokensVerifyAgainstItsJWKS(t *testing.T) {
	is, err := newIssuer("http://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(is.handler())
	defer srv.Close()

	cfgBody, err := get(context.Background(), srv.Client(), srv.URL+"/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(cfgBody, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://issuer.test" || cfg.JWKSURI != "http://issuer.test/keys" {
		t.Fatalf("openid-configuration = %+v", cfg)
	}
	jwks, err := get(context.Background(), srv.Client(), srv.URL+"/keys")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := rsaKeyFromJWKS(jwks, issuerKID)
	if err != nil {
		t.Fatal(err)
	}

	toks, err := is.mintMany("api://bench", "f0", 20)
	if err != nil {
		t.Fatal(err)
	}
	jtis := map[string]bool{}
	for _, tok := range toks {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts", len(parts))
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("signature does not verify with the JWKS key: %v", err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct {
			Iss string `json:"iss"`
			Aud string `json:"aud"`
			Jti string `json:"jti"`
			Exp int64  `json:"exp"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if c.Iss != "http://issuer.test" || c.Aud != "api://bench" || c.Exp <= time.Now().Unix() {
			t.Fatalf("claims = %+v", c)
		}
		jtis[c.Jti] = true
	}
	if len(jtis) != len(toks) {
		t.Fatalf("%d distinct jti for %d tokens", len(jtis), len(toks))
	}
}

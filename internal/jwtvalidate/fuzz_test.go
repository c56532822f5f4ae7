package jwtvalidate

import (
	"context"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzValidate feeds arbitrary tokens to a validator with every kind of
// key and check configured: it must never panic, and anything it accepts
// must carry a signature from a configured key.
func FuzzValidate(f *testing.F) {
	now := time.Unix(1_900_000_000, 0)
	secret := []byte("0123456789abcdef0123456789abcdef")
	dec := key("rsa3").(*rsa.PrivateKey)
	claims := jwt.MapClaims{"iss": "iss", "aud": []string{"a", "b"}, "sub": "s", "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "scp": "x y", "azp": "c"}
	seeds := []string{
		sign(f, jwt.SigningMethodRS256, key("rsa1"), "r1", claims),
		sign(f, jwt.SigningMethodES256, key("p256"), "", claims),
		sign(f, jwt.SigningMethodHS256, secret, "h", claims),
		sign(f, jwt.SigningMethodEdDSA, key("ed"), "", claims),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims),
		sign(f, jwt.SigningMethodRS256, key("rsa1"), "r1", claims, "crit", []string{"b64"}),
		"", ".", "..", "....", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("A", 100),
	}
	e, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &dec.PublicKey}, nil)
	obj, _ := e.Encrypt([]byte(seeds[0]))
	jwe, _ := obj.CompactSerialize()
	seeds = append(seeds, jwe)
	for _, s := range seeds {
		f.Add(s)
	}
	v, err := New(Config{
		SigningKeys:    []StaticKey{{ID: "h", Symmetric: secret}, {ID: "r1", PublicKey: key("rsa1").Public()}, {PublicKey: key("p256").Public()}, {PublicKey: key("ed").Public()}},
		DecryptionKeys: []DecryptionKey{{PrivateKey: dec}},
		Audiences:      []string{"a"}, Issuers: []string{"iss"}, ClientApplicationIDs: []string{"c"},
		RequiredClaims: []Claim{{Name: "scp", Match: "any", Separator: " ", Values: []string{"x"}}},
		CacheSize:      64,
	}, Deps{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Validate(context.Background(), raw)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if tok.Algorithm == "none" || tok.Algorithm == "" {
			t.Fatalf("accepted an unsigned token %q", raw)
		}
		_ = tok.Claims()
	})
}

package jwtpolicy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
)

// The Jwt object built from what validation read is the one
// expression.ParseJwt makes of the same token, field for field, claims and
// header included (decoded on first use).
func TestJwtObjectFromValidation(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtvalidate.New(jwtvalidate.Config{SigningKeys: []jwtvalidate.StaticKey{{PublicKey: &key.PublicKey}}}, jwtvalidate.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, claims := range map[string]jwt.MapClaims{
		"everything": {"jti": "id-1", "iss": "https://issuer", "sub": "user-7", "aud": []string{"a", "b"},
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
			"roles": []string{"Reader", "Writer"}, "n": 3.5, "ok": true, "obj": map[string]any{"x": 1}},
		"one audience, fractional exp, no iat": {"sub": "s", "aud": "only", "exp": float64(now.Add(time.Hour).Unix()) + 0.25},
		"no audience, no subject":              {"exp": now.Add(time.Hour).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
			tok.Header["typ"] = "at+jwt"
			raw, err := tok.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			vt, err := v.Validate(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			got := parseJwt(vt).(*expression.Jwt)
			want, err := expression.ParseJwt(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Id != want.Id || got.Issuer != want.Issuer || got.Subject != want.Subject ||
				got.Algorithm != want.Algorithm || got.Type != want.Type || !reflect.DeepEqual(got.Audiences, want.Audiences) {
				t.Errorf("fields: got %+v, want %+v", got, want)
			}
			for _, tt := range [][2]*time.Time{{got.ExpirationTime, want.ExpirationTime}, {got.NotBefore, want.NotBefore}, {got.IssuedAt, want.IssuedAt}} {
				if (tt[0] == nil) != (tt[1] == nil) || (tt[0] != nil && (!tt[0].Equal(*tt[1]) || tt[0].Location() != tt[1].Location())) {
					t.Errorf("time: got %v, want %v", tt[0], tt[1])
				}
			}
			if got.Claims != nil {
				t.Error("claims decoded before anything asked for them")
			}
			if !reflect.DeepEqual(got.AllClaims(), want.Claims) || !reflect.DeepEqual(got.AllHeader(), want.Header) {
				t.Errorf("claims %v / header %v, want %v / %v", got.AllClaims(), got.AllHeader(), want.Claims, want.Header)
			}
		})
	}
}

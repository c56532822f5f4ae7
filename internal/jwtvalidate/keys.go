package jwtvalidate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tollgate/tollgate/internal/rsaverify"
)

// keyKind is what a key can verify; a token's alg must name a method of
// the same kind, so a public key can never be used as an HMAC secret.
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindP521
	kindEd25519
	kindHMAC
)

// method is how one alg is verified.
type method struct {
	m    jwt.SigningMethod
	kind keyKind
	// pkcs1 is the digest of an RS* alg, which a key's precomputed
	// verifier checks; 0 for the others, which golang-jwt checks.
	pkcs1 crypto.Hash
}

// methods maps every accepted alg to its verifier and the key kind it
// needs. Anything not listed ("none" aside) is refused.
var methods = map[string]method{
	"RS256": {jwt.SigningMethodRS256, kindRSA, crypto.SHA256},
	"RS384": {jwt.SigningMethodRS384, kindRSA, crypto.SHA384},
	"RS512": {jwt.SigningMethodRS512, kindRSA, crypto.SHA512},
	"PS256": {jwt.SigningMethodPS256, kindRSA, 0},
	"PS384": {jwt.SigningMethodPS384, kindRSA, 0},
	"PS512": {jwt.SigningMethodPS512, kindRSA, 0},
	"ES256": {jwt.SigningMethodES256, kindP256, 0},
	"ES384": {jwt.SigningMethodES384, kindP384, 0},
	"ES512": {jwt.SigningMethodES512, kindP521, 0},
	"EdDSA": {jwt.SigningMethodEdDSA, kindEd25519, 0},
	"HS256": {jwt.SigningMethodHS256, kindHMAC, 0},
	"HS384": {jwt.SigningMethodHS384, kindHMAC, 0},
	"HS512": {jwt.SigningMethodHS512, kindHMAC, 0},
}

// minRSABits is the smallest RSA modulus accepted (RFC 7518 section 3.3).
const minRSABits = 2048

// verKey is one verification key. Cached tokens point at the key that
// verified them; revoked is set when the key leaves its key set, which
// empties those cache entries.
type verKey struct {
	kid     string
	alg     string // the JWK's alg, "" when unrestricted
	kind    keyKind
	key     any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
	thumb   string
	revoked atomic.Bool
	// rsa is key's verifier with its Montgomery constants computed once,
	// for RS* tokens; nil for other kinds and for moduli it does not take
	// (over 8192 bits), which golang-jwt verifies.
	rsa *rsaverify.PublicKey
}

// newVerKey makes a key, precomputing an RSA key's verifier.
func newVerKey(kid, alg string, kind keyKind, key any) *verKey {
	k := &verKey{kid: kid, alg: alg, kind: kind, key: key}
	if pub, ok := key.(*rsa.PublicKey); ok {
		k.rsa, _ = rsaverify.New(pub)
	}
	return k
}

// verifies reports whether sig is k's signature of input by m; hashed is
// input's digest for an RS* alg.
func (k *verKey) verifies(m method, input string, hashed, sig []byte) bool {
	if m.pkcs1 == 0 || k.rsa == nil {
		return m.m.Verify(input, sig, k.key) == nil
	}
	return k.rsa.VerifyPKCS1v15(m.pkcs1, hashed, sig) == nil
}

// fits reports whether a token with alg may be verified by k.
func (k *verKey) fits(alg string, kind keyKind) bool {
	return k.kind == kind && (k.alg == "" || k.alg == alg)
}

// publicKeyKind classifies an asymmetric public key.
func publicKeyKind(pub any) (keyKind, any, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return 0, nil, fmt.Errorf("RSA key of %d bits is too small (at least %d)", k.N.BitLen(), minRSABits)
		}
		return kindRSA, k, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return kindP256, k, nil
		case elliptic.P384():
			return kindP384, k, nil
		case elliptic.P521():
			return kindP521, k, nil
		}
		return 0, nil, errors.New("unsupported elliptic curve")
	case ed25519.PublicKey:
		return kindEd25519, k, nil
	case *ed25519.PublicKey:
		return kindEd25519, *k, nil
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return publicKeyKind(k.(crypto.Signer).Public())
	}
	return 0, nil, fmt.Errorf("unsupported key type %T", pub)
}

// fromJWK converts a published key. Symmetric ("oct") and encryption keys
// are never taken from a key set: only configured secrets verify HMAC.
func fromJWK(j jose.JSONWebKey) (*verKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("key %q has use %q", j.KeyID, j.Use)
	}
	if _, ok := j.Key.([]byte); ok {
		return nil, fmt.Errorf("key %q is symmetric", j.KeyID)
	}
	kind, key, err := publicKeyKind(j.Key)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", j.KeyID, err)
	}
	if j.Algorithm != "" {
		m, ok := methods[j.Algorithm]
		if !ok || m.kind != kind {
			return nil, fmt.Errorf("key %q: alg %q does not fit the key", j.KeyID, j.Algorithm)
		}
	}
	pub := jose.JSONWebKey{Key: key}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", j.KeyID, err)
	}
	k := newVerKey(j.KeyID, j.Algorithm, kind, key)
	k.thumb = string(tp)
	return k, nil
}

// StaticKey is one configured signing key (<issuer-signing-keys><key>):
// exactly one of Symmetric, N and E, or PublicKey is set.
type StaticKey struct {
	// ID matches the token's kid when both are set.
	ID string
	// Symmetric is an HMAC secret (the element's base64 text, decoded).
	Symmetric []byte
	// N and E are an RSA key's base64url modulus and exponent.
	N, E string
	// PublicKey is an asymmetric key, e.g. a certificate's.
	PublicKey crypto.PublicKey
}

// Check reports what is wrong with a key, as New would.
func (s StaticKey) Check() error {
	_, err := s.compile()
	return err
}

// minHMACBytes is the smallest HMAC secret accepted: HS256's hash size.
const minHMACBytes = 32

func (s StaticKey) compile() (*verKey, error) {
	set := 0
	if len(s.Symmetric) > 0 {
		set++
	}
	if s.N != "" || s.E != "" {
		set++
	}
	if s.PublicKey != nil {
		set++
	}
	if set != 1 {
		return nil, errors.New("give exactly one of a symmetric key, n and e, or a certificate")
	}
	switch {
	case len(s.Symmetric) > 0:
		if len(s.Symmetric) < minHMACBytes {
			return nil, fmt.Errorf("a symmetric key must be at least %d bytes, got %d", minHMACBytes, len(s.Symmetric))
		}
		return &verKey{kid: s.ID, kind: kindHMAC, key: append([]byte(nil), s.Symmetric...)}, nil
	case s.PublicKey != nil:
		kind, key, err := publicKeyKind(s.PublicKey)
		if err != nil {
			return nil, err
		}
		return newVerKey(s.ID, "", kind, key), nil
	}
	if s.N == "" || s.E == "" {
		return nil, errors.New("n and e must both be given")
	}
	n, err := b64(s.N)
	if err != nil {
		return nil, fmt.Errorf("n is not base64url: %w", err)
	}
	e, err := b64(s.E)
	if err != nil {
		return nil, fmt.Errorf("e is not base64url: %w", err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("e must be 1 to 4 bytes")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("e must be an odd number of at least 3")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	kind, key, err := publicKeyKind(pub)
	if err != nil {
		return nil, err
	}
	return newVerKey(s.ID, "", kind, key), nil
}

// b64 decodes base64url with or without padding, and plain base64, as
// n/e values are found written in the wild.
func b64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// DecryptionKey is one <decryption-keys><key>: an RSA private key for
// RSA-OAEP-256. Symmetric is accepted only to refuse it with a clear
// message.
type DecryptionKey struct {
	ID         string
	PrivateKey crypto.PrivateKey
	Symmetric  []byte
}

// Check reports what is wrong with a decryption key, as New would.
func (d DecryptionKey) Check() error {
	_, err := d.compile()
	return err
}

func (d DecryptionKey) compile() (*rsa.PrivateKey, error) {
	if len(d.Symmetric) > 0 {
		return nil, errors.New("symmetric decryption keys are not supported: Tollgate decrypts only RSA-OAEP-256 with A256GCM, which needs an RSA private key (a certificate with its private key)")
	}
	k, ok := d.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T cannot decrypt: Tollgate decrypts only RSA-OAEP-256 with A256GCM, which needs an RSA private key", d.PrivateKey)
	}
	if k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key of %d bits is too small (at least %d)", k.N.BitLen(), minRSABits)
	}
	return k, nil
}

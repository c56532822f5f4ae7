package resource

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// testPFX makes a self-signed certificate and its key as a PFX.
func testPFX(t testing.TB, enc *pkcs12.Encoder, cn, password string) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := enc.Encode(key, cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return pfx, cert
}

// withMacIterations rewrites a PFX's MAC iteration count.
func withMacIterations(t testing.TB, pfx []byte, n int) []byte {
	t.Helper()
	var p struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			MacSalt    []byte
			Iterations int `asn1:"optional,default:1"`
		} `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(pfx, &p); err != nil {
		t.Fatal(err)
	}
	p.MacData.Iterations = n
	out, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodePFX(t *testing.T) {
	for name, enc := range map[string]*pkcs12.Encoder{"modern (AES, PBKDF2)": pkcs12.Modern, "legacy (3DES)": pkcs12.LegacyDES, "legacy (RC2)": pkcs12.LegacyRC2} {
		pfx, cert := testPFX(t, enc, "pfx-"+name, "s3cret")
		key, leaf, _, err := DecodePFX(pfx, "s3cret")
		if err != nil || !leaf.Equal(cert) || key == nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, _, _, err := DecodePFX(pfx, "wrong"); err == nil || !strings.Contains(err.Error(), "opens with the password") {
			t.Errorf("%s, wrong password: %v", name, err)
		}
	}
	pfx, _ := testPFX(t, pkcs12.Modern, "slow", "pw")
	if _, _, _, err := DecodePFX(withMacIterations(t, pfx, 2_000_000), "pw"); err == nil || !strings.Contains(err.Error(), "asks for 2000000 key-derivation rounds") {
		t.Errorf("two million MAC rounds: %v", err)
	}
	if _, _, _, err := DecodePFX(withMacIterations(t, pfx, 1000), "pw"); err == nil || strings.Contains(err.Error(), "rounds") {
		// The MAC no longer matches, but the count is allowed.
		t.Errorf("a thousand MAC rounds: %v", err)
	}
	if _, _, _, err := DecodePFX(make([]byte, MaxCertificateBytes+1), "pw"); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized: %v", err)
	}
}

// TestCertificatePFX: a certificate resource takes APIM's form, a base64
// PFX and its password, and keeps it as PEM without the password.
func TestCertificatePFX(t *testing.T) {
	pfx, cert := testPFX(t, pkcs12.Modern, "from-pfx", "pw")
	c := &Certificate{Data: base64.StdEncoding.EncodeToString(pfx), Password: "pw"}
	c.Normalize()
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	got, err := c.Parse()
	if err != nil || !got.Equal(cert) || c.Password != "" || !strings.Contains(c.PrivateKey, "BEGIN PRIVATE KEY") {
		t.Errorf("parsed %v, err %v, password %q, key %q", got, err, c.Password, c.PrivateKey)
	}
	for name, tc := range map[string]struct {
		c      Certificate
		target string
		want   string
	}{
		"wrong password":        {Certificate{Data: base64.StdEncoding.EncodeToString(pfx), Password: "nope"}, "data", "opens with the password"},
		"not base64":            {Certificate{Data: "not a certificate"}, "data", "neither PEM"},
		"password for PEM":      {Certificate{Data: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", Password: "pw"}, "password", "only for a PFX"},
		"base64 that isn't PFX": {Certificate{Data: base64.StdEncoding.EncodeToString([]byte("hello")), Password: "pw"}, "data", "not a PFX"},
	} {
		c := tc.c
		c.Normalize()
		errs := c.Validate()
		if len(errs) == 0 || errs[0].Target != tc.target || !strings.Contains(errs[0].Message, tc.want) {
			t.Errorf("%s: %v", name, errs)
		}
	}
}

// FuzzDecodePFX: a PFX never panics the decoder, and one asking for too
// many rounds is refused before any are run.
func FuzzDecodePFX(f *testing.F) {
	modern, _ := testPFX(f, pkcs12.Modern, "fuzz", "pw")
	legacy, _ := testPFX(f, pkcs12.LegacyRC2, "fuzz", "pw")
	f.Add(modern, "pw")
	f.Add(legacy, "pw")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Fuzz(func(t *testing.T, der []byte, password string) {
		_, _, _, _ = DecodePFX(der, password)
	})
}

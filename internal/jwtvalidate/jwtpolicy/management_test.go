package jwtpolicy_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/jwtvalidate/jwtpolicy"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// Saving a document through the management API, wired as serve wires it:
// bad elements are refused with their line and column, certificate-id is
// checked against the certificates stored (private keys opened with the
// keyring).
func TestSaveThroughManagement(t *testing.T) {
	st, kr := openStore(t)
	c := policy.NewCompiler(policy.Options{Open: kr.Open, Extensions: jwtpolicy.Extensions(jwtpolicy.Deps{
		JWT:         jwtvalidate.Deps{KeySets: jwtvalidate.NewKeySets(jwtvalidate.KeySetsOptions{})},
		Certificate: jwtpolicy.StoreCertificates(st, kr.Open),
	})})
	m := newManagement(st, kr)
	m.Handle("apis/policies", management.Hooks{Check: c.SaveCheck})
	srv := httptest.NewServer(m)
	defer srv.Close()
	do := func(method, path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer admin-key-0123456789")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	if s, b := do("PUT", "/apis/colors", map[string]any{"path": "colors"}); s != 201 {
		t.Fatal(s, b)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, keyPEM := selfSigned(t, ec, &ec.PublicKey)
	if s, b := do("PUT", "/certificates/signer", map[string]any{"data": certPEM + keyPEM}); s != 201 {
		t.Fatal(s, b)
	}
	bad := "<policies>\n<inbound>\n<validate-jwt header-name=\"Authorization\" clock-skew=\"soon\">\n<issuer-signing-keys><key certificate-id=\"nope\"/></issuer-signing-keys>\n</validate-jwt>\n</inbound>\n</policies>"
	s, b := do("PUT", "/apis/colors/policies/policy", map[string]any{"format": "rawxml", "value": bad})
	if s != 400 || !strings.Contains(b, "3:55: validate-jwt: attribute 'clock-skew' must be an integer") || !strings.Contains(b, "4:43: validate-jwt: certificate 'nope' does not exist") {
		t.Fatalf("bad document: %d %s", s, b)
	}
	good := `<policies><inbound><validate-jwt header-name="Authorization"><issuer-signing-keys><key certificate-id="signer"/></issuer-signing-keys><decryption-keys><key certificate-id="signer"/></decryption-keys></validate-jwt></inbound></policies>`
	// The signer is an EC certificate: it verifies, but cannot decrypt.
	if s, b := do("PUT", "/apis/colors/policies/policy", map[string]any{"format": "rawxml", "value": good}); s != 400 || !strings.Contains(b, "RSA-OAEP-256 with A256GCM") {
		t.Fatalf("EC decryption key: %d %s", s, b)
	}
	good = strings.Replace(good, `<decryption-keys><key certificate-id="signer"/></decryption-keys>`, "", 1)
	if s, b := do("PUT", "/apis/colors/policies/policy", map[string]any{"format": "rawxml", "value": good}); s != 201 {
		t.Fatalf("good document: %d %s", s, b)
	}
	// The certificate is in use now.
	if s, b := do("DELETE", "/certificates/signer", nil); s != 409 {
		t.Fatalf("delete used certificate: %d %s", s, b)
	}
}

// Saving a validate-jwt that checks neither the audience nor any claim
// succeeds (APIM accepts it) but the answer carries a Warning header; with
// an audience it carries none, and the body is the usual one either way.
func TestSaveWarnsAnyTokenType(t *testing.T) {
	st, kr := openStore(t)
	c := policy.NewCompiler(policy.Options{Open: kr.Open, Extensions: jwtpolicy.Extensions(jwtpolicy.Deps{
		JWT: jwtvalidate.Deps{KeySets: jwtvalidate.NewKeySets(jwtvalidate.KeySetsOptions{})},
	})})
	m := newManagement(st, kr)
	m.Handle("apis/policies", management.Hooks{Check: c.SaveCheckWarning(management.AddWarning)})
	srv := httptest.NewServer(m)
	defer srv.Close()
	put := func(path string, body any) (int, http.Header, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("PUT", srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer admin-key-0123456789")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, res.Header, out
	}
	if s, _, b := put("/apis/orders", map[string]any{"path": "orders"}); s != 201 {
		t.Fatal(s, b)
	}
	open := "<policies>\n<inbound>\n<validate-jwt header-name=\"Authorization\">\n<openid-config url=\"http://127.0.0.1:1/.well-known/openid-configuration\"/>\n</validate-jwt>\n</inbound>\n</policies>"
	s, h, b := put("/apis/orders/policies/policy", map[string]any{"format": "rawxml", "value": open})
	if s != 201 || b["value"] != open {
		t.Fatalf("save: %d %v", s, b)
	}
	want := `299 - "value: 3:1: validate-jwt: neither <audiences> nor <required-claims>: any token the issuer signs is accepted, ID tokens included`
	if w := h.Values("Warning"); len(w) != 1 || !strings.HasPrefix(w[0], want) {
		t.Errorf("Warning header %q, want one starting %q", w, want)
	}
	withAud := strings.Replace(open, "</validate-jwt>", "<audiences><audience>api://orders</audience></audiences>\n</validate-jwt>", 1)
	if s, h, b := put("/apis/orders/policies/policy", map[string]any{"format": "rawxml", "value": withAud}); s != 200 || len(h.Values("Warning")) != 0 {
		t.Errorf("with an audience: %d %v %v", s, h.Values("Warning"), b)
	}
}

// openStore opens a SQLite store (closed with the test) and a keyring.
func openStore(t *testing.T) (*sqlite.Store, *keyring.Keyring) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, _ := keyring.NewLocalKEK(bytes.Repeat([]byte{7}, 32))
	return st, keyring.New(kek)
}

// newManagement is the management API over st, with the admin key
// "admin-key-0123456789".
func newManagement(st *sqlite.Store, kr *keyring.Keyring) *management.Server {
	return management.New(management.Options{Store: st, Registry: resource.NewRegistry(), Keyring: kr, Hasher: keyring.NewHasher([]byte("h")), AdminKey: "admin-key-0123456789"})
}

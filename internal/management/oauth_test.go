package management_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/tollgate/tollgate/internal/store"
)

func authServer() m {
	return m{
		"displayName": "Colors OAuth", "description": "For the test console",
		"authorizationEndpoint": "https://id.example/t/oauth2/v2.0/authorize", "tokenEndpoint": "https://id.example/t/oauth2/v2.0/token",
		"grantTypes": []string{"authorizationCodeWithPkce", "clientCredentials"}, "defaultScope": "api://colors/Colors.Read",
		"clientId": "console-app", "clientSecret": "s3cret-value-of-the-console",
		"tokenBodyParameters": []m{{"name": "resource", "value": "private-ish"}},
	}
}

func TestAuthorizationServerCRUD(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		got := a.must(201, "PUT", "/authorizationServers/colors", authServer())
		if _, ok := got["clientSecret"]; ok {
			t.Errorf("PUT answer shows clientSecret: %v", got)
		}
		if got["useInTestConsole"] != true || got["bearerTokenSendingMethods"].([]any)[0] != "authorizationHeader" || got["clientAuthenticationMethod"].([]any)[0] != "Basic" {
			t.Errorf("defaults not filled: %v", got)
		}
		got = a.must(200, "GET", "/authorizationServers/colors", nil)
		if _, ok := got["clientSecret"]; ok || got["clientId"] != "console-app" {
			t.Errorf("GET = %v", got)
		}
		// The secret is stored sealed.
		rec, err := st.Get(context.Background(), "/authorizationServers/colors")
		if err != nil || strings.Contains(string(rec.Body), "s3cret-value") {
			t.Fatalf("stored body shows the secret (%v): %s", err, rec.Body)
		}
		sec := a.must(200, "POST", "/authorizationServers/colors/listSecrets", nil)
		if sec["clientSecret"] != "s3cret-value-of-the-console" {
			t.Errorf("listSecrets = %v", sec)
		}
		// PATCH keeps the secret.
		a.must(200, "PATCH", "/authorizationServers/colors", m{"description": "changed"})
		if sec := a.must(200, "POST", "/authorizationServers/colors/listSecrets", nil); sec["clientSecret"] != "s3cret-value-of-the-console" {
			t.Errorf("after PATCH listSecrets = %v", sec)
		}
		if list := a.must(200, "GET", "/authorizationServers", nil); list["count"].(float64) != 1 {
			t.Errorf("list = %v", list)
		}
		a.must(204, "DELETE", "/authorizationServers/colors", nil)
	})
}

func TestAuthorizationServerValidation(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		r := a.do("PUT", "/authorizationServers/bad", m{
			"displayName": strings.Repeat("x", 51), "grantTypes": []string{"implicit", "authorizationCode", "magic"},
			"tokenEndpoint": "ftp://x", "clientRegistrationEndpoint": "not a url",
			"clientAuthenticationMethod": []string{"Header"}, "bearerTokenSendingMethods": []string{"cookie"},
			"tokenBodyParameters": []m{{"name": ""}},
		})
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		_, _, details := errorOf(t, r)
		for _, target := range []string{"displayName", "grantTypes[0]", "grantTypes[2]", "tokenEndpoint", "authorizationEndpoint",
			"clientRegistrationEndpoint", "clientAuthenticationMethod[0]", "bearerTokenSendingMethods[0]", "tokenBodyParameters[0].name", "clientId"} {
			if details[target] == "" {
				t.Errorf("no error for %s: %v", target, details)
			}
		}
		if !strings.Contains(details["grantTypes[0]"], "not offered") {
			t.Errorf("implicit: %q", details["grantTypes[0]"])
		}
		if r := a.do("PUT", "/authorizationServers/nogrant", m{"tokenEndpoint": "https://x/token", "clientId": "c"}); r.status != 400 {
			t.Errorf("no grant types: %d", r.status)
		}
		// Client credentials alone needs no authorization endpoint.
		a.must(201, "PUT", "/authorizationServers/cc", m{"tokenEndpoint": "https://x/token", "clientId": "c", "grantTypes": []string{"clientCredentials"}})
	})
}

func TestOpenIDConnectProvider(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		r := a.do("PUT", "/openidConnectProviders/bad", m{"metadataEndpoint": "nope"})
		_, _, details := errorOf(t, r)
		if r.status != 400 || details["metadataEndpoint"] == "" || details["clientId"] == "" {
			t.Fatalf("bad provider: %d %v", r.status, details)
		}
		got := a.must(201, "PUT", "/openidConnectProviders/keycloak", m{
			"displayName": "Keycloak", "metadataEndpoint": "https://kc.example/realms/r/.well-known/openid-configuration",
			"clientId": "portal", "clientSecret": "kc-secret-123",
		})
		if _, ok := got["clientSecret"]; ok {
			t.Errorf("clientSecret shown: %v", got)
		}
		if sec := a.must(200, "POST", "/openidConnectProviders/keycloak/listSecrets", nil); sec["clientSecret"] != "kc-secret-123" {
			t.Errorf("listSecrets = %v", sec)
		}
	})
}

// An API may name only servers that exist, and a server an API names
// cannot be deleted.
func TestAPIAuthenticationReferences(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		api := m{"displayName": "Colors", "path": "colors", "serviceUrl": "https://backend.example",
			"authenticationSettings": m{"oAuth2": m{"authorizationServerId": "colors", "scope": "api://colors/Colors.Read"}, "openid": m{"openidProviderId": "kc"}}}
		r := a.do("PUT", "/apis/colors", api)
		if r.status != 400 {
			t.Fatalf("missing references: %d %s", r.status, r.body)
		}
		_, _, details := errorOf(t, r)
		if !strings.Contains(details["authenticationSettings.oAuth2.authorizationServerId"], "/authorizationServers/colors does not exist") ||
			!strings.Contains(details["authenticationSettings.openid.openidProviderId"], "/openidConnectProviders/kc does not exist") {
			t.Errorf("details = %v", details)
		}
		r = a.do("PUT", "/apis/colors", m{"path": "colors", "authenticationSettings": m{"oAuth2": m{"authorizationServerId": "../x"}}})
		if _, _, d := errorOf(t, r); r.status != 400 || d["authenticationSettings.oAuth2.authorizationServerId"] == "" {
			t.Errorf("bad id: %d %v", r.status, d)
		}
		a.must(201, "PUT", "/authorizationServers/colors", authServer())
		a.must(201, "PUT", "/openidConnectProviders/kc", m{"metadataEndpoint": "https://kc.example/.well-known/openid-configuration", "clientId": "p"})
		a.must(201, "PUT", "/apis/colors", api)

		for _, p := range []string{"/authorizationServers/colors", "/openidConnectProviders/kc"} {
			r := a.do("DELETE", p, nil)
			if r.status != 409 {
				t.Fatalf("DELETE %s: %d %s", p, r.status, r.body)
			}
			if _, msg, _ := errorOf(t, r); !strings.Contains(msg, "/apis/colors") {
				t.Errorf("DELETE %s: message %q does not name the API", p, msg)
			}
		}
		// Once the API no longer names them, they can go. The full path
		// form of a reference works too.
		a.must(200, "PUT", "/apis/colors", m{"path": "colors", "authenticationSettings": m{"oAuth2": m{"authorizationServerId": "/authorizationServers/colors"}}})
		a.must(204, "DELETE", "/openidConnectProviders/kc", nil)
		if r := a.do("DELETE", "/authorizationServers/colors", nil); r.status != 409 {
			t.Errorf("path-form reference not seen: %d", r.status)
		}
	})
}

func TestPortalAuthServers(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		a.must(201, "PUT", "/authorizationServers/colors", authServer())
		a.must(201, "PUT", "/openidConnectProviders/kc", m{"displayName": "Keycloak", "metadataEndpoint": "https://kc.example/.well-known/openid-configuration", "clientId": "p", "clientSecret": "kc-secret"})
		a.must(201, "PUT", "/apis/colors", m{"path": "colors", "authenticationSettings": m{
			"oAuth2": m{"authorizationServerId": "colors", "scope": "api://colors/Colors.Write"},
			"openid": m{"openidProviderId": "kc", "bearerTokenSendingMethods": []string{"authorizationHeader"}}}})
		a.must(201, "PUT", "/apis/plain", m{"path": "plain"})

		r := a.do("GET", "/portal/apis/colors/authorizationServers", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for _, secret := range []string{"s3cret", "kc-secret", "private-ish", "clientSecret", "tokenBodyParameters"} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("portal view shows %q: %s", secret, r.body)
			}
		}
		list := r.json(t)["value"].([]any)
		if len(list) != 2 {
			t.Fatalf("value = %v", list)
		}
		o := list[0].(map[string]any)
		if o["id"] != "/authorizationServers/colors" || o["type"] != "oauth2" || o["clientId"] != "console-app" || o["scope"] != "api://colors/Colors.Write" ||
			o["authorizationEndpoint"] != "https://id.example/t/oauth2/v2.0/authorize" || o["grantTypes"].([]any)[0] != "authorizationCodeWithPkce" {
			t.Errorf("oauth2 entry = %v", o)
		}
		if p := list[1].(map[string]any); p["type"] != "openid" || p["metadataEndpoint"] != "https://kc.example/.well-known/openid-configuration" {
			t.Errorf("openid entry = %v", p)
		}
		if got := a.must(200, "GET", "/portal/apis/plain/authorizationServers", nil); got["count"].(float64) != 0 {
			t.Errorf("plain = %v", got)
		}
		if r := a.do("GET", "/portal/apis/nope/authorizationServers", nil); r.status != 404 {
			t.Errorf("missing API: %d", r.status)
		}
		if r := a.do("POST", "/portal/apis/colors/authorizationServers", nil); r.status != 405 {
			t.Errorf("POST: %d", r.status)
		}
		if r := a.do("GET", "/portal/apis/colors/authorizationServers", nil, "Authorization", ""); r.status != 401 {
			t.Errorf("no credential: %d", r.status)
		}
	})
}

func selfSigned(t *testing.T, cn string, key any) (certPEM string, keyPEM string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"Tollgate"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
}

func TestCertificates(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert1, key1 := selfSigned(t, "signer-one", k1)
	cert2, key2 := selfSigned(t, "signer-two", k2)
	block, _ := pem.Decode([]byte(cert1))
	sum := sha1.Sum(block.Bytes)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		got := a.must(201, "PUT", "/certificates/signer", m{"data": cert1 + key1})
		if got["thumbprint"] != thumb || got["subject"] != "CN=signer-one,O=Tollgate" || got["expirationDate"] != "2031-01-02T03:04:05Z" {
			t.Errorf("certificate info = %v", got)
		}
		if strings.Contains(got["data"].(string), "PRIVATE KEY") || got["privateKey"] != nil {
			t.Errorf("the private key is shown: %v", got)
		}
		rec, _ := st.Get(context.Background(), "/certificates/signer")
		if strings.Contains(string(rec.Body), "PRIVATE KEY") {
			t.Errorf("the private key is stored in clear: %s", rec.Body)
		}
		// Certificates have no listSecrets: the private key never leaves.
		if r := a.do("POST", "/certificates/signer/listSecrets", nil); r.status < 400 {
			t.Errorf("listSecrets on a certificate: %d %s", r.status, r.body)
		}
		// Read-only fields sent by a client are replaced.
		got = a.must(200, "PATCH", "/certificates/signer", m{"thumbprint": "forged"})
		if got["thumbprint"] != thumb {
			t.Errorf("thumbprint after PATCH = %v", got["thumbprint"])
		}
		rec2, _ := st.Get(context.Background(), "/certificates/signer")
		if !strings.Contains(string(rec2.Body), `"privateKey":"`) {
			t.Errorf("PATCH lost the private key: %s", rec2.Body)
		}
		// A new certificate without a key drops the old certificate's key.
		a.must(200, "PUT", "/certificates/signer", m{"data": cert2})
		rec3, _ := st.Get(context.Background(), "/certificates/signer")
		if strings.Contains(string(rec3.Body), `"privateKey"`) {
			t.Errorf("old key kept for a new certificate: %s", rec3.Body)
		}
		// A key given separately must belong to the certificate.
		a.must(200, "PUT", "/certificates/signer", m{"data": cert2, "privateKey": key2})
		for name, c := range map[string]struct {
			body   m
			target string
			msg    string
		}{
			"not PEM":         {m{"data": "hello"}, "data", "neither PEM"},
			"empty":           {m{"data": ""}, "data", "is required"},
			"key first":       {m{"data": key1 + cert1}, "data", "must start with a PEM certificate"},
			"bad DER":         {m{"data": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "data", "not a valid X.509 certificate"},
			"chain":           {m{"data": cert1 + cert2}, "data", "only a private key may follow"},
			"wrong key":       {m{"data": cert1 + key2}, "privateKey", "does not belong"},
			"wrong key field": {m{"data": cert1, "privateKey": key2}, "privateKey", "does not belong"},
			"garbage key":     {m{"data": cert1, "privateKey": "nope"}, "privateKey", "not a PEM private key"},
		} {
			r := a.do("PUT", "/certificates/bad", c.body)
			if r.status != 400 {
				t.Errorf("%s: status %d: %s", name, r.status, r.body)
				continue
			}
			if _, _, d := errorOf(t, r); !strings.Contains(d[c.target], c.msg) {
				t.Errorf("%s: details %v, want %s: %q", name, d, c.target, c.msg)
			}
		}
		// RSA keys work too.
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		rc, rkey := selfSigned(t, "rsa", rk)
		a.must(201, "PUT", "/certificates/rsa", m{"data": rc + rkey})

		// A certificate a policy names cannot be deleted.
		a.must(201, "PUT", "/apis/colors", m{"path": "colors"})
		a.must(201, "PUT", "/apis/colors/policies/policy", m{"value": `<policies><inbound><validate-jwt header-name="Authorization"><issuer-signing-keys><key certificate-id="signer"/></issuer-signing-keys></validate-jwt></inbound></policies>`})
		r := a.do("DELETE", "/certificates/signer", nil)
		if _, msg, _ := errorOf(t, r); r.status != 409 || !strings.Contains(msg, "/apis/colors/policies/policy") {
			t.Errorf("DELETE used certificate: %d %s", r.status, msg)
		}
		a.must(204, "DELETE", "/certificates/rsa", nil)
	})
}

// TestCertificatesPFX: a certificate is accepted as APIM takes it, a
// base64 PFX with its password; it is kept as PEM, its key sealed, and the
// password is neither stored nor shown.
func TestCertificatesPFX(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, _ := selfSigned(t, "from-pfx", key)
	block, _ := pem.Decode([]byte(certPEM))
	cert, _ := x509.ParseCertificate(block.Bytes)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pfx-password-42")
	if err != nil {
		t.Fatal(err)
	}
	data := base64.StdEncoding.EncodeToString(pfx)
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		got := a.must(201, "PUT", "/certificates/from-pfx", m{"data": data, "password": "pfx-password-42"})
		if got["subject"] != "CN=from-pfx,O=Tollgate" || got["data"] != certPEM || got["password"] != nil || got["privateKey"] != nil {
			t.Errorf("PUT answer: %v", got)
		}
		rec, _ := st.Get(context.Background(), "/certificates/from-pfx")
		if strings.Contains(string(rec.Body), "pfx-password-42") || strings.Contains(string(rec.Body), "PRIVATE KEY") || !strings.Contains(string(rec.Body), `"privateKey":"`) {
			t.Errorf("stored: %s", rec.Body)
		}
		r := a.do("PUT", "/certificates/bad", m{"data": data, "password": "wrong"})
		if _, _, d := errorOf(t, r); r.status != 400 || !strings.Contains(d["data"], "opens with the password") || strings.Contains(string(r.body), "wrong") {
			t.Errorf("wrong password: %d %s", r.status, r.body)
		}
	})
}

package policy_test

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// clientCert makes a self-signed client certificate resource (PEM
// certificate followed by its key) and its thumbprint.

func clientCert(t testing.TB, cn string) (store.Record, string) {
	t.Helper()
	self := newCA(t, cn)
	kb, err := x509.MarshalECPrivateKey(self.key)
	if err != nil {
		t.Fatal(err)
	}
	data := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: self.cert.Raw})) + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	sum := sha1.Sum(self.cert.Raw)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	c := &resource.Certificate{Data: data}
	r := rec(t, "/certificates/"+cn, "certificates", c)
	c.Normalize()
	c.Thumbprint = thumb
	r.Body = mustJSON(t, c)
	return r, thumb
}

// mtlsBackend answers with the common name of the client certificate it
// was shown, or 401 without one.
func mtlsBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "cn="+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestAuthenticationCertificate(t *testing.T) {
	mtls := mtlsBackend(t)
	certRec, thumb := clientCert(t, "gw-client")
	useTLSRoots := func(o *policy.Options) { o.HTTPClient = mtls.Client() }
	for name, xml := range map[string]string{
		"by id":         `<authentication-certificate certificate-id="gw-client" />`,
		"by thumbprint": `<authentication-certificate thumbprint="` + strings.ToLower(thumb) + `" />`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
				`<set-backend-service base-url="`+mtls.URL+`" />`+xml, "", "", "")}, certRec)
			if res := e.get("/echo/items/1"); res.status != 200 || res.body != "cn=gw-client" {
				t.Fatalf("got %d %q", res.status, res.body)
			}
		})
	}
	// Without the policy the call does not get through (the gateway's own
	// transport neither trusts the test server nor has a certificate).
	e := newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
		`<set-backend-service base-url="`+mtls.URL+`" />`, "", "", "")}, certRec)
	if res := e.get("/echo/items/1"); res.status == 200 {
		t.Fatalf("without authentication-certificate: %d %q", res.status, res.body)
	}
	// A backend entity's credentials.certificate.
	e = newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="secure" />`, "", "", "")}, certRec,
		rec(t, "/backends/secure", "backends", &resource.Backend{URL: mtls.URL, Credentials: &resource.BackendCredentials{Certificate: []string{"gw-client"}}}))
	if res := e.get("/echo/items/1"); res.status != 200 || res.body != "cn=gw-client" {
		t.Fatalf("backend entity certificate: %d %q", res.status, res.body)
	}
	// A backend whose certificate is missing does not stop the
	// configuration: its calls fail.
	e = newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="broken" />`, "", "", "")},
		rec(t, "/backends/broken", "backends", &resource.Backend{URL: mtls.URL, Credentials: &resource.BackendCredentials{Certificate: []string{"gone"}}}))
	if res := e.get("/echo/items/1"); res.status != 500 {
		t.Fatalf("backend with a missing certificate: %d %q", res.status, res.body)
	}
	if !strings.Contains(e.log.String(), "certificate /certificates/gone does not exist") {
		t.Fatalf("not logged: %s", e.log.String())
	}
	// Inside send-request.
	e = newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
		`<send-request mode="new" response-variable-name="r"><set-url>`+mtls.URL+`/x</set-url><authentication-certificate certificate-id="gw-client" /></send-request>
		 <return-response><set-body>@(((IResponse)context.Variables["r"]).Body.As<string>())</set-body></return-response>`, "", "", "")}, certRec)
	if res := e.get("/echo/items/1"); res.status != 200 || res.body != "cn=gw-client" {
		t.Fatalf("send-request: %d %q", res.status, res.body)
	}
	// A missing certificate is a clear 500.
	e = newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
		`<authentication-certificate certificate-id="missing" />`, "", "", "")}, certRec)
	if res := e.get("/echo/items/1"); res.status != 500 {
		t.Fatalf("missing certificate: %d", res.status)
	}
	c := policy.NewCompiler(policy.Options{})
	for x, want := range map[string]string{
		`<authentication-certificate body="@((byte[])context.Variables[&quot;c&quot;])" certificate-id="x" />`: "body cannot be given with certificate-id or thumbprint",
		`<authentication-certificate certificate-id="x" password="p" />`:                                       "'password' is only for a PFX in 'body'",
		`<authentication-certificate />`: "certificate-id, thumbprint or body is required",
	} {
		ps := c.CheckOffline(doc(x, "", "", ""), nil)
		if len(ps) == 0 || !strings.Contains(ps[0].Message, want) {
			t.Errorf("%s: %v", x, ps)
		}
	}
	// The reference page's examples.
	for _, x := range []string{
		`<authentication-certificate thumbprint="CA06F56B258B7A0D4F2B05470939478651151984" />`,
		`<authentication-certificate certificate-id="544fe9ddf3b8f30bb490ac01" />`,
	} {
		if ps := c.CheckOffline(doc(x, "", "", ""), nil); len(ps) != 0 {
			t.Errorf("%s: %v", x, ps)
		}
	}
}

// TestAuthenticationCertificateBody: a PFX from an expression (a byte[],
// as Convert.FromBase64String of a Key Vault secret gives) with its
// password, in the backend call and in send-request.
func TestAuthenticationCertificateBody(t *testing.T) {
	mtls := mtlsBackend(t)
	self := newCA(t, "gw-pfx")
	pfx, err := pkcs12.Modern.Encode(self.key, self.cert, nil, "pfx-pw")
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(pfx)
	useTLSRoots := func(o *policy.Options) { o.HTTPClient = mtls.Client() }
	e := newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
		`<set-variable name="pfx" value="`+b64+`" />
		<set-backend-service base-url="`+mtls.URL+`" />
		<authentication-certificate body="@(Convert.FromBase64String((string)context.Variables[&quot;pfx&quot;]))" password="@(context.Request.Headers.GetValueOrDefault(&quot;X-Pw&quot;, &quot;pfx-pw&quot;))" />`, "", "", "")})
	for range 3 {
		if res := e.get("/echo/items/1"); res.status != 200 || res.body != "cn=gw-pfx" {
			t.Fatalf("got %d %q", res.status, res.body)
		}
	}
	res := e.get("/echo/items/1", "X-Pw", "not-it")
	if res.status != 500 || strings.Contains(res.body, "not-it") || !strings.Contains(e.log.String(), "opens with the password") || strings.Contains(e.log.String(), "not-it") {
		t.Errorf("wrong password: %d %s\n%s", res.status, res.body, e.log.String())
	}
	// Base64 text is taken too, inside send-request.
	e = newEnvOptions(t, useTLSRoots, map[string]string{"/apis/echo/policies/policy": doc(
		`<send-request mode="new" response-variable-name="r"><set-url>`+mtls.URL+`/x</set-url><authentication-certificate body="@(&quot;`+b64+`&quot;)" password="pfx-pw" /></send-request>
		 <return-response><set-body>@(((IResponse)context.Variables["r"]).Body.As<string>())</set-body></return-response>`, "", "", "")})
	if res := e.get("/echo/items/1"); res.status != 200 || res.body != "cn=gw-pfx" {
		t.Fatalf("send-request: %d %q", res.status, res.body)
	}
}

package policy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, cn string) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: key}
}

// issue makes a client certificate signed by ca.
func (ca testCA) issue(t *testing.T, cn string, serial int64) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Contoso"}}, DNSNames: []string{cn + ".example.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestValidateClientCertificate(t *testing.T) {
	ca, other := newCA(t, "Contoso CA"), newCA(t, "Rogue CA")
	caRec := rec(t, "/certificates/contoso-ca", "certificates", &resource.Certificate{Data: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))})
	good, rogue := ca.issue(t, "alice", 0x1a2b), other.issue(t, "alice", 0x1a2b)
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`
		<validate-client-certificate validate-revocation="false" validate-trust="true" validate-not-before="true" validate-not-after="true" ignore-error="false">
			<identities>
				<identity common-name="alice" issuer-certificate-id="contoso-ca" />
				<identity serial-number="00FFFF" />
			</identities>
		</validate-client-certificate>`, "", "", "")}, caRec)
	gw := httptest.NewUnstartedServer(e.gw)
	gw.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	gw.StartTLS()
	t.Cleanup(gw.Close)
	call := func(cert *tls.Certificate) int {
		tr := gw.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		resp, err := (&http.Client{Transport: tr}).Get(gw.URL + "/echo/items/1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(&good); got != 200 {
		t.Fatalf("trusted certificate: %d", got)
	}
	if got := call(&rogue); got != 401 {
		t.Fatalf("untrusted issuer: %d", got)
	}
	if got := call(nil); got != 401 {
		t.Fatalf("no certificate: %d", got)
	}
	bob := ca.issue(t, "bob", 0x1234)
	if got := call(&bob); got != 401 {
		t.Fatalf("trusted but no identity matches: %d", got)
	}

	c := policy.NewCompiler(policy.Options{})
	// The reference page's example.
	x := `<validate-client-certificate validate-revocation="true" validate-trust="true" validate-not-before="true" validate-not-after="true" ignore-error="false">
		<identities>
			<identity thumbprint="certificate-thumbprint" serial-number="certificate-serial-number" common-name="certificate-common-name" subject="certificate-subject-string" dns-name="certificate-dns-name" issuer-subject="certificate-issuer" issuer-thumbprint="certificate-issuer-thumbprint" issuer-certificate-id="certificate-identifier" />
		</identities>
	</validate-client-certificate>`
	rep := c.CheckOfflineReport(doc(x, "", "", ""), nil)
	if len(rep.Problems) != 0 || len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0].Message, "revocation") {
		t.Fatalf("reference example: %+v", rep)
	}
}

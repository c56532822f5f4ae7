package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestValidateClientCertificateOnTheTLSListener: the gateway's TLS
// listener asks for a client certificate; validate-client-certificate
// admits one issued by a CA saved as a certificate resource and refuses a
// call without one.
func TestValidateClientCertificateOnTheTLSListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, der := gatewayTLSFiles(t, dir)
	srv, _ := testServer(t, filepath.Join(dir, "data"), "--gateway-tls-cert", certFile, "--gateway-tls-key", keyFile)
	mg, gw := srv.urls["management"], srv.urls["gateway"]

	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "Clients CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "alice"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)},
		caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}

	body, _ := json.Marshal(map[string]string{"data": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))})
	if st, _, b := call(t, "PUT", mg+"/certificates/clients-ca", string(body), srv.admin()...); st != 201 {
		t.Fatalf("PUT certificate: %d %s", st, b)
	}
	if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", `<policies><inbound><base />
		<validate-client-certificate validate-revocation="false"><identities><identity common-name="alice" issuer-certificate-id="clients-ca" /></identities></validate-client-certificate>
		</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`); st != 201 {
		t.Fatalf("PUT policy: %d %s", st, b)
	}

	roots := x509.NewCertPool()
	serverCert, _ := x509.ParseCertificate(der)
	roots.AddCert(serverCert)
	key := starterKey(t, srv)
	get := func(certs []tls.Certificate) int {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		req, _ := http.NewRequest("GET", gw+"/echo/resource", nil)
		req.Header.Set("Ocp-Apim-Subscription-Key", key)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if st := get([]tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}); st != 200 {
		t.Fatalf("with alice's certificate: %d", st)
	}
	if st := get(nil); st != 401 {
		t.Fatalf("without a certificate: %d", st)
	}
}

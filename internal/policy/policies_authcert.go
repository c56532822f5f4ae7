package policy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// --- authentication-certificate ---

// authenticationCertificate presents a certificate resource
// (/certificates/{id}, with its private key), or a PFX from an expression
// (body, password), as the TLS client certificate of the backend call, or
// of send-request's call when nested there.
type authenticationCertificate struct {
	id, thumbprint string
	body, password *value
	// last is the transport of the last PFX body, by its digest: a body
	// read from a cache or a variable is the same file on most calls, and
	// opening one costs its key-derivation rounds.
	last atomic.Pointer[bodyTransport]
}

type bodyTransport struct {
	sum [32]byte
	t   http.RoundTripper
}

func compileAuthenticationCertificate(er *ElementReader) (ExtensionPolicy, error) {
	e, a := er.a.e, er.a
	a.noText()
	a.children()
	p := &authenticationCertificate{id: a.str("certificate-id", "", false), thumbprint: strings.ToUpper(a.str("thumbprint", "", false))}
	if a.has("body") {
		p.body, p.password = a.value("body", true), a.value("password", false)
		if p.id != "" || p.thumbprint != "" {
			a.fail(e.Pos, "body cannot be given with certificate-id or thumbprint")
		}
	} else if a.has("password") {
		a.fail(e.Pos, "attribute 'password' is only for a PFX in 'body'")
	} else if (p.id == "") == (p.thumbprint == "") {
		a.fail(e.Pos, "one of certificate-id, thumbprint or body is required")
	}
	if p.id != "" && !strings.HasPrefix(p.id, "/") {
		p.id = "/certificates/" + p.id
	}
	if at, ok := e.Attr("certificate-id"); ok && p.id != "" {
		warnMissing(er, at, p.id, "certificate")
	}
	return p, a.err()
}

func (p *authenticationCertificate) Run(x *Exchange) error {
	t, err := p.transport(x)
	if err != nil {
		return err
	}
	x.clientCertTransport = t
	return nil
}

// transport returns a transport presenting the certificate.
func (p *authenticationCertificate) transport(x *exchange) (http.RoundTripper, error) {
	if p.body != nil {
		return p.bodyTransport(x)
	}
	s := x.p.set
	id := p.id
	if id == "" {
		id = s.certThumbprints[p.thumbprint]
	}
	if t, ok := s.certTransports.Load(id); ok {
		return t.(http.RoundTripper), nil
	}
	missing := func(msg string) error {
		x.logger().Warn("authentication-certificate: "+msg, "certificate", id, "thumbprint", p.thumbprint)
		return fail(http.StatusInternalServerError, "CertificateNotFound", "authentication-certificate: "+msg)
	}
	r, ok := s.certs[id]
	if !ok {
		return nil, missing("the certificate does not exist")
	}
	cert, err := x.c.clientCertificate(s.certs, id)
	if err != nil {
		return nil, missing("the certificate cannot be used: it needs a private key")
	}
	sum := sha256.Sum256(r.Body)
	t := x.c.backends.transport("authentication-certificate:"+id, sum, x.c.tlsConfig([]tls.Certificate{cert}), nil)
	s.certTransports.Store(id, t)
	return t, nil
}

// certificateIndex returns the certificate records by id and their ids by
// thumbprint.
func certificateIndex(records []store.Record) (map[string]store.Record, map[string]string) {
	certs, thumbs := map[string]store.Record{}, map[string]string{}
	for _, r := range records {
		if r.Kind != "certificates" {
			continue
		}
		certs[r.ID] = r
		var c resource.Certificate
		if json.Unmarshal(r.Body, &c) == nil && c.Thumbprint != "" {
			thumbs[strings.ToUpper(c.Thumbprint)] = r.ID
		}
	}
	return certs, thumbs
}

// tlsConfig is the TLS configuration of an outgoing call with client
// certificates: the roots of send-request's client (Options.HTTPClient)
// when it has its own, else the system's.
func (c *Compiler) tlsConfig(certs []tls.Certificate) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t, ok := c.opts.HTTPClient.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	cfg.Certificates = certs
	return cfg
}

// bodyTransport opens the PFX the body expression gives (a byte[], or its
// base64 text) with the password.
func (p *authenticationCertificate) bodyTransport(x *exchange) (http.RoundTripper, error) {
	v, err := p.body.any(x)
	if err != nil {
		return nil, err
	}
	var der []byte
	switch v := v.(type) {
	case []byte:
		der = v
	case string:
		if der, err = resource.PFXFromBase64(v); err != nil {
			return nil, invalidBody("the body is text that is not base64")
		}
	default:
		return nil, invalidBody("the body must be a byte[] (or base64 text) holding a PFX")
	}
	password, err := p.password.str(x)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(der)
	h.Write([]byte{0})
	h.Write([]byte(password))
	var sum [32]byte
	h.Sum(sum[:0])
	if l := p.last.Load(); l != nil && l.sum == sum {
		return l.t, nil
	}
	key, leaf, chain, err := resource.DecodePFX(der, password)
	if err != nil {
		x.logger().Warn("authentication-certificate: the body "+err.Error(), "requestId", x.call.RequestID)
		return nil, invalidBody("the body " + err.Error())
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	t := x.c.backends.transport(fmt.Sprintf("authentication-certificate-body:%p", p), sum, x.c.tlsConfig([]tls.Certificate{cert}), nil)
	p.last.Store(&bodyTransport{sum: sum, t: t})
	return t, nil
}

func invalidBody(msg string) error {
	return fail(http.StatusInternalServerError, "CertificateInvalid", "authentication-certificate: "+msg)
}

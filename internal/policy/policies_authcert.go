package policy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// --- authentication-certificate ---

// authenticationCertificate presents a certificate resource
// (/certificates/{id}, with its private key) as the TLS client
// certificate of the backend call, or of send-request's call when nested
// there.
type authenticationCertificate struct {
	id, thumbprint string
}

func compileAuthenticationCertificate(er *ElementReader) (ExtensionPolicy, error) {
	e, a := er.a.e, er.a
	a.noText()
	a.children()
	p := &authenticationCertificate{id: a.str("certificate-id", "", false), thumbprint: strings.ToUpper(a.str("thumbprint", "", false))}
	a.str("password", "", false)
	if at, ok := e.Attr("body"); ok {
		a.fail(at.Pos, "attribute 'body' is not supported: store the certificate and its key as /certificates/{id} and use certificate-id")
	} else if (p.id == "") == (p.thumbprint == "") {
		a.fail(e.Pos, "one of certificate-id or thumbprint is required")
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

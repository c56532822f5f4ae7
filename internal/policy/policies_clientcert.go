package policy

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

// --- validate-client-certificate ---

// validateClientCertificate checks the certificate the caller presented
// on the gateway's TLS listener (which asks for one without requiring
// it). Trust is checked against the system's roots and the certificate
// resources (/certificates/{id}), so a private CA is trusted by uploading
// it. Revocation lists are not consulted.
type validateClientCertificate struct {
	trust, notBefore, notAfter, ignoreError bool
	identities                              []certIdentity
}

type certIdentity struct {
	thumbprint, serial, commonName, subject, dnsName, issuerSubject, issuerThumbprint, issuerCertID string
}

func compileValidateClientCertificate(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &validateClientCertificate{
		trust:       a.boolean("validate-trust", true),
		notBefore:   a.boolean("validate-not-before", true),
		notAfter:    a.boolean("validate-not-after", true),
		ignoreError: a.boolean("ignore-error", false),
	}
	if a.boolean("validate-revocation", true) {
		er.Warn(e.Pos, "validate-revocation: certificate revocation lists are not checked")
	}
	for _, c := range a.children("identities") {
		if c.Name != "identities" {
			continue
		}
		ia := cc.attrs(c)
		for _, id := range ia.children("identity") {
			if id.Name != "identity" {
				continue
			}
			xa := cc.attrs(id, "thumbprint", "serial-number", "common-name", "subject", "dns-name", "issuer-subject", "issuer-thumbprint", "issuer-certificate-id")
			ci := certIdentity{
				thumbprint:       strings.ToUpper(xa.str("thumbprint", "", false)),
				serial:           strings.ToUpper(strings.TrimLeft(xa.str("serial-number", "", false), "0")),
				commonName:       xa.str("common-name", "", false),
				subject:          normalizeDN(xa.str("subject", "", false)),
				dnsName:          strings.ToLower(xa.str("dns-name", "", false)),
				issuerSubject:    normalizeDN(xa.str("issuer-subject", "", false)),
				issuerThumbprint: strings.ToUpper(xa.str("issuer-thumbprint", "", false)),
				issuerCertID:     xa.str("issuer-certificate-id", "", false),
			}
			if ci == (certIdentity{}) {
				xa.fail(id.Pos, "<identity> needs at least one attribute")
			}
			if ci.issuerCertID != "" && !strings.HasPrefix(ci.issuerCertID, "/") {
				ci.issuerCertID = "/certificates/" + ci.issuerCertID
			}
			ia.merge(xa.err())
			p.identities = append(p.identities, ci)
		}
		a.merge(ia.err())
	}
	return p, a.err()
}

// normalizeDN makes "CN=a, O=b" and "CN=a,O=b" compare equal.
func normalizeDN(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return strings.ToLower(strings.Join(parts, ","))
}

func thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func (p *validateClientCertificate) Run(x *Exchange) error {
	msg := p.check(x)
	if msg == "" || p.ignoreError {
		return nil
	}
	return &failure{Status: http.StatusUnauthorized, Reason: "ClientCertificateValidationFailed", Message: msg}
}

// check returns why the caller's certificate is refused, or "".
func (p *validateClientCertificate) check(x *exchange) string {
	if x.r.TLS == nil || len(x.r.TLS.PeerCertificates) == 0 {
		return "A client certificate is required."
	}
	chain := x.r.TLS.PeerCertificates
	cert := chain[0]
	now := x.c.opts.Now()
	if p.notBefore && now.Before(cert.NotBefore) {
		return "The client certificate is not valid yet."
	}
	if p.notAfter && now.After(cert.NotAfter) {
		return "The client certificate has expired."
	}
	var issuer *x509.Certificate
	if len(chain) > 1 {
		issuer = chain[1]
	}
	if p.trust {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		for _, c := range x.p.set.certificates() {
			roots.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		for _, ic := range chain[1:] {
			opts.Intermediates.AddCert(ic)
		}
		chains, err := cert.Verify(opts)
		if err != nil {
			return "The client certificate is not trusted."
		}
		if len(chains[0]) > 1 {
			issuer = chains[0][1]
		}
	}
	if len(p.identities) == 0 {
		return ""
	}
	for _, id := range p.identities {
		if p.matches(x, id, cert, issuer) {
			return ""
		}
	}
	return "The client certificate does not match an allowed identity."
}

func (p *validateClientCertificate) matches(x *exchange, id certIdentity, cert, issuer *x509.Certificate) bool {
	if id.thumbprint != "" && id.thumbprint != thumbprint(cert) {
		return false
	}
	if id.serial != "" && id.serial != strings.TrimLeft(strings.ToUpper(cert.SerialNumber.Text(16)), "0") {
		return false
	}
	if id.commonName != "" && id.commonName != cert.Subject.CommonName {
		return false
	}
	if id.subject != "" && id.subject != normalizeDN(cert.Subject.String()) {
		return false
	}
	if id.dnsName != "" {
		found := false
		for _, n := range cert.DNSNames {
			found = found || strings.EqualFold(n, id.dnsName)
		}
		if !found {
			return false
		}
	}
	if id.issuerSubject != "" && id.issuerSubject != normalizeDN(cert.Issuer.String()) {
		return false
	}
	if id.issuerThumbprint != "" && (issuer == nil || id.issuerThumbprint != thumbprint(issuer)) {
		return false
	}
	if id.issuerCertID != "" {
		ic := x.p.set.certificate(id.issuerCertID)
		if ic == nil || cert.CheckSignatureFrom(ic) != nil {
			return false
		}
	}
	return true
}

// certificate parses the certificate resource id; nil when missing.
func (s *Set) certificate(id string) *x509.Certificate {
	r, ok := s.certs[id]
	if !ok {
		return nil
	}
	var c resource.Certificate
	if json.Unmarshal(r.Body, &c) != nil {
		return nil
	}
	cert, err := c.Parse()
	if err != nil {
		return nil
	}
	return cert
}

// certificates parses every certificate resource (trusted as roots by
// validate-client-certificate).
func (s *Set) certificates() []*x509.Certificate {
	s.certOnce.Do(func() {
		for id := range s.certs {
			if c := s.certificate(id); c != nil {
				s.parsedCerts = append(s.parsedCerts, c)
			}
		}
	})
	return s.parsedCerts
}

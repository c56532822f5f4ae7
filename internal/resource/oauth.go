package resource

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// AuthorizationServer is an OAuth 2.0 authorization server the developer
// portal gets tokens from: /authorizationServers/{id}. The gateway does not
// use it; validate-jwt checks the tokens.
type AuthorizationServer struct {
	Meta
	DisplayName                string               `json:"displayName"`
	Description                string               `json:"description,omitempty"`
	ClientRegistrationEndpoint string               `json:"clientRegistrationEndpoint,omitempty"`
	AuthorizationEndpoint      string               `json:"authorizationEndpoint,omitempty"`
	TokenEndpoint              string               `json:"tokenEndpoint"`
	GrantTypes                 []string             `json:"grantTypes"`
	ClientAuthenticationMethod []string             `json:"clientAuthenticationMethod,omitempty"`
	TokenBodyParameters        []TokenBodyParameter `json:"tokenBodyParameters,omitempty"`
	DefaultScope               string               `json:"defaultScope,omitempty"`
	SupportState               bool                 `json:"supportState,omitempty"`
	BearerTokenSendingMethods  []string             `json:"bearerTokenSendingMethods,omitempty"`
	ClientID                   string               `json:"clientId"`
	// ClientSecret is write-only: stored sealed, returned by listSecrets.
	ClientSecret          string `json:"clientSecret,omitempty"`
	UseInTestConsole      *bool  `json:"useInTestConsole,omitempty"`
	UseInAPIDocumentation *bool  `json:"useInApiDocumentation,omitempty"`
}

// TokenBodyParameter is an extra form parameter sent to the token endpoint.
type TokenBodyParameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Grant types an authorization server may offer. Tollgate offers no
// implicit or password grant.
var AuthorizationServerGrantTypes = []string{"authorizationCode", "authorizationCodeWithPkce", "clientCredentials"}

func (a *AuthorizationServer) Normalize() {
	if a.DisplayName == "" {
		a.DisplayName = a.Name
	}
	if len(a.ClientAuthenticationMethod) == 0 {
		a.ClientAuthenticationMethod = []string{"Basic"}
	}
	if len(a.BearerTokenSendingMethods) == 0 {
		a.BearerTokenSendingMethods = []string{"authorizationHeader"}
	}
	if a.UseInTestConsole == nil {
		a.UseInTestConsole = boolPtr(true)
	}
	if a.UseInAPIDocumentation == nil {
		a.UseInAPIDocumentation = boolPtr(false)
	}
}

func (a *AuthorizationServer) Validate() Errors {
	var errs Errors
	checkDisplayName(&errs, a.DisplayName)
	if len(a.Description) > 2000 {
		errs.Add("description", "must be at most 2000 characters")
	}
	needsAuthorize := false
	if len(a.GrantTypes) == 0 {
		errs.Add("grantTypes", "must name at least one of %s", strings.Join(AuthorizationServerGrantTypes, ", "))
	}
	for i, g := range a.GrantTypes {
		switch g {
		case "authorizationCode", "authorizationCodeWithPkce":
			needsAuthorize = true
		case "clientCredentials":
		case "implicit", "resourceOwnerPassword":
			errs.Add(indexed("grantTypes", i), "%s is not offered: Tollgate supports %s", g, strings.Join(AuthorizationServerGrantTypes, ", "))
		default:
			errs.Add(indexed("grantTypes", i), "must be one of %s, got %q", strings.Join(AuthorizationServerGrantTypes, ", "), g)
		}
	}
	if a.AuthorizationEndpoint == "" {
		if needsAuthorize {
			errs.Add("authorizationEndpoint", "is required for the authorization code grant")
		}
	} else {
		checkEndpoint(&errs, "authorizationEndpoint", a.AuthorizationEndpoint)
	}
	if a.TokenEndpoint == "" {
		errs.Add("tokenEndpoint", "is required")
	} else {
		checkEndpoint(&errs, "tokenEndpoint", a.TokenEndpoint)
	}
	if a.ClientRegistrationEndpoint != "" {
		checkEndpoint(&errs, "clientRegistrationEndpoint", a.ClientRegistrationEndpoint)
	}
	for i, m := range a.ClientAuthenticationMethod {
		if m != "Basic" && m != "Body" {
			errs.Add(indexed("clientAuthenticationMethod", i), "must be Basic or Body, got %q", m)
		}
	}
	for i, m := range a.BearerTokenSendingMethods {
		if m != "authorizationHeader" && m != "query" {
			errs.Add(indexed("bearerTokenSendingMethods", i), "must be authorizationHeader or query, got %q", m)
		}
	}
	for i, p := range a.TokenBodyParameters {
		if p.Name == "" || strings.ContainsAny(p.Name, "&= ") {
			errs.Add(indexed("tokenBodyParameters", i)+".name", "is required and must be a form parameter name")
		}
	}
	if len(a.DefaultScope) > 1000 {
		errs.Add("defaultScope", "must be at most 1000 characters")
	}
	if a.ClientID == "" {
		errs.Add("clientId", "is required")
	} else if len(a.ClientID) > 256 {
		errs.Add("clientId", "must be at most 256 characters")
	}
	if len(a.ClientSecret) > 4096 {
		errs.Add("clientSecret", "must be at most 4096 characters")
	}
	return errs
}

// OpenIDConnectProvider is an OpenID Connect provider the developer portal
// gets tokens from: /openidConnectProviders/{id}.
type OpenIDConnectProvider struct {
	Meta
	DisplayName      string `json:"displayName"`
	Description      string `json:"description,omitempty"`
	MetadataEndpoint string `json:"metadataEndpoint"`
	ClientID         string `json:"clientId"`
	// ClientSecret is write-only: stored sealed, returned by listSecrets.
	ClientSecret string `json:"clientSecret,omitempty"`
}

func (o *OpenIDConnectProvider) Normalize() {
	if o.DisplayName == "" {
		o.DisplayName = o.Name
	}
}

func (o *OpenIDConnectProvider) Validate() Errors {
	var errs Errors
	checkDisplayName(&errs, o.DisplayName)
	if len(o.Description) > 2000 {
		errs.Add("description", "must be at most 2000 characters")
	}
	if o.MetadataEndpoint == "" {
		errs.Add("metadataEndpoint", "is required (the provider's .well-known/openid-configuration URL)")
	} else {
		checkEndpoint(&errs, "metadataEndpoint", o.MetadataEndpoint)
	}
	if o.ClientID == "" {
		errs.Add("clientId", "is required")
	} else if len(o.ClientID) > 256 {
		errs.Add("clientId", "must be at most 256 characters")
	}
	if len(o.ClientSecret) > 4096 {
		errs.Add("clientSecret", "must be at most 4096 characters")
	}
	return errs
}

func checkDisplayName(errs *Errors, s string) {
	if strings.TrimSpace(s) == "" {
		errs.Add("displayName", "is required")
	} else if len(s) > 50 {
		errs.Add("displayName", "must be at most 50 characters")
	}
}

func checkEndpoint(errs *Errors, field, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.Add(field, "must be an absolute http or https URL")
	} else if u.Fragment != "" {
		errs.Add(field, "must not have a fragment")
	}
}

// Certificate is an X.509 certificate, with an optional private key, that
// policies name by id (<key certificate-id>): /certificates/{id}.
type Certificate struct {
	Meta
	// Data is the PEM certificate. A PEM private key written after it is
	// moved to PrivateKey when the certificate is saved. A base64 PFX, as
	// APIM takes, is opened with Password and kept as PEM.
	Data string `json:"data"`
	// PrivateKey is a PEM private key: write-only, stored sealed.
	PrivateKey string `json:"privateKey,omitempty"`
	// Password opens a PFX in Data: write-only, never stored.
	Password string `json:"password,omitempty"`
	// Thumbprint (SHA-1, upper-case hex, as APIM's), Subject and
	// ExpirationDate are read from the certificate.
	Thumbprint     string `json:"thumbprint,omitempty"`
	Subject        string `json:"subject,omitempty"`
	ExpirationDate string `json:"expirationDate,omitempty"`

	dataErr error // why a PFX in Data did not open
}

// MaxCertificateBytes bounds a certificate's data.
const MaxCertificateBytes = 64 << 10

// Normalize splits a private key that follows the certificate in data into
// PrivateKey, and turns a PFX into PEM. Data that is neither is left for
// Validate to report.
func (c *Certificate) Normalize() {
	if len(c.Data) > MaxCertificateBytes {
		return
	}
	if d := strings.TrimSpace(c.Data); d != "" && !strings.HasPrefix(d, "-----BEGIN") {
		cert, key, err := pfxToPEM(d, c.Password)
		if err != nil {
			c.dataErr = err
			return
		}
		c.Data, c.PrivateKey, c.Password = cert, key, ""
		return
	}
	cert, key, err := splitPEM(c.Data)
	if err != nil {
		return
	}
	c.Data = cert
	if key != "" {
		c.PrivateKey = key
	}
}

func (c *Certificate) Validate() Errors {
	var errs Errors
	switch {
	case strings.TrimSpace(c.Data) == "":
		errs.Add("data", "is required: a PEM certificate (-----BEGIN CERTIFICATE-----), optionally followed by its PEM private key, or a base64 PFX with its password")
	case len(c.Data) > MaxCertificateBytes:
		errs.Add("data", "must be at most %d bytes", MaxCertificateBytes)
	case c.dataErr != nil:
		errs.Add("data", "%s", c.dataErr.Error())
	case c.Password != "":
		errs.Add("password", "is only for a PFX in data; a PEM private key is not encrypted")
	default:
		if _, _, err := splitPEM(c.Data); err != nil {
			errs.Add("data", "%s", err.Error())
		} else if _, err := c.Parse(); err != nil {
			errs.Add("data", "%s", err.Error())
		}
	}
	return errs
}

// Parse returns the certificate in Data.
func (c *Certificate) Parse() (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(c.Data))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("is not a valid X.509 certificate: %v", err)
	}
	return cert, nil
}

// FillInfo sets Thumbprint, Subject and ExpirationDate from the certificate.
func (c *Certificate) FillInfo(cert *x509.Certificate) {
	sum := sha1.Sum(cert.Raw)
	c.Thumbprint = strings.ToUpper(hex.EncodeToString(sum[:]))
	c.Subject = cert.Subject.String()
	c.ExpirationDate = cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")
}

// ParsePrivateKey parses a PEM private key (PKCS#8, PKCS#1 or SEC 1).
// Encrypted PEM keys are refused: there is no password to give.
func ParsePrivateKey(s string) (any, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("is not a PEM private key")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("must hold one PEM private key and nothing else")
	}
	if _, ok := b.Headers["Proc-Type"]; ok || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("is encrypted; upload the private key unencrypted (it is stored sealed)")
	}
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("is not a valid PKCS#8 private key: %v", err)
		}
		return k, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("is not a valid PKCS#1 private key: %v", err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("is not a valid EC private key: %v", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("has PEM type %q, not a private key", b.Type)
}

// splitPEM returns the certificate block and the private key block (if
// any) of data, each re-encoded as PEM.
func splitPEM(data string) (cert, key string, err error) {
	rest := []byte(data)
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(bytes.TrimSpace(rest)) > 0 && len(blocks) == 0 {
		return "", "", errors.New("is not PEM: expected -----BEGIN CERTIFICATE-----")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", "", errors.New("has text after its PEM blocks that is not PEM")
	}
	if len(blocks) == 0 || blocks[0].Type != "CERTIFICATE" {
		return "", "", errors.New("must start with a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if len(blocks) > 2 {
		return "", "", errors.New("must hold one certificate, optionally followed by its private key; certificate chains are not supported")
	}
	cert = string(pem.EncodeToMemory(blocks[0]))
	if len(blocks) == 2 {
		if !strings.HasSuffix(blocks[1].Type, "PRIVATE KEY") {
			return "", "", fmt.Errorf("second PEM block is %q; only a private key may follow the certificate", blocks[1].Type)
		}
		key = string(pem.EncodeToMemory(blocks[1]))
	}
	return cert, key, nil
}

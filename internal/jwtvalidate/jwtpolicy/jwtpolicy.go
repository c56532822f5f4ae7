// Package jwtpolicy is the validate-jwt and validate-azure-ad-token
// policies: it reads their elements into jwtvalidate configurations when a
// document is compiled (every problem reported at its line and column),
// and at request time finds the token, validates it and answers with
// APIM's reasons. They are policy.Extensions, added to the policy compiler
// by the wiring with the process-wide dependencies in Deps.
package jwtpolicy

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Deps are what the policies share with the rest of the process.
type Deps struct {
	// JWT holds the process-wide key set cache (run its KeySets.Run) and
	// the built-in identity provider's keys.
	JWT jwtvalidate.Deps
	// LocalTenant reports whether a tenant-id names the built-in identity
	// provider's tenant (its id or name); nil when there is none.
	LocalTenant func(tenant string) bool
	// Certificate reads /certificates/{id} for certificate-id, with its
	// private key opened ("" when it has none); nil refuses certificate-id.
	Certificate func(ctx context.Context, id string) (cert *resource.Certificate, privateKeyPEM string, ok bool, err error)
}

// Extensions returns validate-jwt and validate-azure-ad-token, for
// policy.Options.Extensions.
func Extensions(deps Deps) []policy.Extension {
	c := &compiler{deps: deps}
	return []policy.Extension{
		{Name: "validate-jwt", Sections: []string{"inbound"}, Attributes: []string{"header-name", "query-parameter-name", "token-value",
			"failed-validation-httpcode", "failed-validation-error-message", "require-expiration-time", "require-scheme",
			"require-signed-tokens", "clock-skew", "output-token-variable-name"}, Compile: c.validateJWT},
		{Name: "validate-azure-ad-token", Sections: []string{"inbound"}, Attributes: []string{"tenant-id", "header-name",
			"query-parameter-name", "token-value", "failed-validation-httpcode", "failed-validation-error-message",
			"output-token-variable-name"}, Compile: c.validateAzureADToken},
	}
}

// StoreCertificates reads certificates from a store, opening private keys
// with open (keyring.Keyring.Open): the usual Deps.Certificate.
func StoreCertificates(st interface {
	Get(ctx context.Context, id string) (store.Record, error)
}, open func(sealed string, aad []byte) ([]byte, error)) func(ctx context.Context, id string) (*resource.Certificate, string, bool, error) {
	return func(ctx context.Context, id string) (*resource.Certificate, string, bool, error) {
		if !resource.ValidName(id) {
			return nil, "", false, nil
		}
		path := "/certificates/" + id
		rec, err := st.Get(ctx, path)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", false, nil
		}
		if err != nil {
			return nil, "", false, fmt.Errorf("get %s: %w", path, err)
		}
		var c resource.Certificate
		if err := json.Unmarshal(rec.Body, &c); err != nil {
			return nil, "", false, fmt.Errorf("decode %s: %w", path, err)
		}
		key := c.PrivateKey
		if keyring.IsSealed(key) {
			if open == nil {
				return nil, "", false, fmt.Errorf("%s: its private key is sealed and there is no keyring", path)
			}
			b, err := open(key, []byte(path))
			if err != nil {
				return nil, "", false, fmt.Errorf("%s: open private key: %w", path, err)
			}
			key = string(b)
		}
		return &c, key, true, nil
	}
}

type compiler struct{ deps Deps }

// validator is a compiled validate-jwt or validate-azure-ad-token.
type validator struct {
	headerKey     string // canonical; "" when another source is used
	queryName     string
	tokenValue    *policy.Value
	requireScheme string
	status        int
	message       string
	outputVar     string
	// audiences are the <audience> expressions, checked after validation
	// together with literalAud; empty when every audience is literal (the
	// validator then checks them, and its cache needs no per-request key).
	audiences  []*policy.Value
	literalAud []string
	v          *jwtvalidate.Validator
}

// reader wraps the policy's ElementReader with helpers for children.
type reader struct {
	*policy.ElementReader
	ctx    context.Context
	failed bool
	// deferredKeys is set when a signing key can only be read on the
	// server (a certificate-id, or a named value, in an offline check).
	deferredKeys bool
}

func (r *reader) fail(p policy.Pos, format string, args ...any) {
	r.failed = true
	r.Fail(p, format, args...)
}

// attrs refuses attributes of a child element that are not allowed.
func (r *reader) attrs(e *policy.Element, allowed ...string) {
outer:
	for _, a := range e.Attrs {
		for _, n := range allowed {
			if a.Name == n {
				continue outer
			}
		}
		r.fail(a.Pos, "<%s>: unknown attribute '%s'", e.Name, a.Name)
	}
}

func (r *reader) attr(e *policy.Element, name string, required bool) (string, *policy.Attr) {
	a, ok := e.Attr(name)
	if !ok {
		if required {
			r.fail(e.Pos, "<%s>: attribute '%s' is required", e.Name, name)
		}
		return "", nil
	}
	if expression.IsExpression(strings.TrimSpace(a.Value.Value)) {
		r.fail(a.Value.PosAt(0), "<%s>: attribute '%s' does not accept an expression", e.Name, name)
		return "", nil
	}
	return a.Value.Value, a
}

func (r *reader) noText(e *policy.Element) {
	if t := strings.TrimSpace(e.Text.Value); t != "" {
		r.fail(e.Text.PosAt(strings.Index(e.Text.Value, t[:1])), "<%s>: unexpected text", e.Name)
	}
}

func (r *reader) children(e *policy.Element, allowed ...string) []*policy.Element {
	var out []*policy.Element
outer:
	for _, c := range e.Children {
		for _, n := range allowed {
			if c.Name == n {
				out = append(out, c)
				continue outer
			}
		}
		if c.Name == "claim" && slices.Contains(allowed, "required-claims") {
			r.fail(c.Pos, "<%s>: unexpected element <claim>: wrap it in <required-claims>", e.Name)
			continue
		}
		r.fail(c.Pos, "<%s>: unexpected element <%s>", e.Name, c.Name)
	}
	return out
}

// literalText is an element's text, which must not be an expression.
func (r *reader) literalText(e *policy.Element) string {
	if len(e.Children) > 0 {
		r.fail(e.Children[0].Pos, "<%s> takes text", e.Name)
		return ""
	}
	v := strings.TrimSpace(e.Text.Value)
	if expression.IsExpression(v) {
		r.fail(e.Text.PosAt(strings.Index(e.Text.Value, v[:1])), "<%s> does not accept an expression", e.Name)
		return ""
	}
	return v
}

// source reads where the token comes from and the failure attributes.
func (r *reader) source(p *validator, defHeader string) {
	e := r.Element()
	_, hasHeader := e.Attr("header-name")
	_, hasQuery := e.Attr("query-parameter-name")
	_, hasValue := e.Attr("token-value")
	n := 0
	for _, b := range []bool{hasHeader, hasQuery, hasValue} {
		if b {
			n++
		}
	}
	switch {
	case n > 1:
		r.fail(e.Pos, "give only one of 'header-name', 'query-parameter-name' and 'token-value'")
	case n == 0 && defHeader == "":
		r.fail(e.Pos, "one of 'header-name', 'query-parameter-name' and 'token-value' is required")
	}
	switch {
	case hasQuery:
		p.queryName = r.String("query-parameter-name", "", false)
	case hasValue:
		p.tokenValue = r.Value("token-value", false)
	default:
		h := r.String("header-name", defHeader, false)
		if a, ok := e.Attr("header-name"); ok && !resource.ValidToken(h) {
			r.fail(a.Value.PosAt(0), "attribute 'header-name' must be a header name")
		}
		p.headerKey = http.CanonicalHeaderKey(h)
	}
	p.status = int(r.Int("failed-validation-httpcode", 401, 100, 599, false))
	p.message = r.String("failed-validation-error-message", "", false)
	p.outputVar = r.String("output-token-variable-name", "", false)
}

func (c *compiler) validateJWT(er *policy.ElementReader) (policy.ExtensionPolicy, error) {
	r := &reader{ElementReader: er, ctx: context.Background()}
	e := r.Element()
	r.noText(e)
	p := &validator{}
	r.source(p, "")
	p.requireScheme = r.String("require-scheme", "", false)
	if a, ok := e.Attr("require-scheme"); ok && !resource.ValidToken(p.requireScheme) {
		r.fail(a.Value.PosAt(0), "attribute 'require-scheme' must be an authentication scheme such as Bearer")
	}
	cfg := jwtvalidate.Config{
		RequireExpirationTime: jwtvalidate.Bool(r.Bool("require-expiration-time", true)),
		RequireSignedTokens:   jwtvalidate.Bool(r.Bool("require-signed-tokens", true)),
		ClockSkew:             time.Duration(r.Int("clock-skew", 0, 0, 86400, false)) * time.Second,
	}
	for _, ch := range r.children(e, "openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims") {
		switch ch.Name {
		case "openid-config":
			r.attrs(ch, "url")
			r.noText(ch)
			r.children(ch)
			u, a := r.attr(ch, "url", true)
			if a == nil {
				continue
			}
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				if !strings.Contains(u, "{{") {
					r.fail(a.Value.PosAt(0), "<openid-config>: attribute 'url' must be an absolute http or https URL")
				}
				continue
			}
			cfg.OpenIDConfigs = append(cfg.OpenIDConfigs, jwtvalidate.OpenIDConfig{URL: u})
		case "issuer-signing-keys":
			cfg.SigningKeys = append(cfg.SigningKeys, c.signingKeys(r, ch)...)
		case "decryption-keys":
			cfg.DecryptionKeys = append(cfg.DecryptionKeys, c.decryptionKeys(r, ch)...)
		case "audiences":
			r.audiences(p, &cfg, ch)
		case "issuers":
			cfg.Issuers = append(cfg.Issuers, r.list(ch, "issuer")...)
		case "required-claims":
			cfg.RequiredClaims = append(cfg.RequiredClaims, r.requiredClaims(ch)...)
		}
	}
	if len(cfg.OpenIDConfigs) == 0 && !hasChild(e, "issuer-signing-keys") && *cfg.RequireSignedTokens && !r.failed {
		r.fail(e.Pos, "no signing keys: add <openid-config url> or <issuer-signing-keys>")
	}
	return c.finish(r, p, cfg)
}

func hasChild(e *policy.Element, name string) bool {
	for _, c := range e.Children {
		if c.Name == name {
			return true
		}
	}
	return false
}

// EntraDiscoveryURL is the OpenID configuration of a Microsoft Entra
// tenant, which validate-azure-ad-token uses for tenants that are not the
// built-in provider's.
func EntraDiscoveryURL(tenant string) string {
	return "https://login.microsoftonline.com/" + tenant + "/v2.0/.well-known/openid-configuration"
}

func (c *compiler) validateAzureADToken(er *policy.ElementReader) (policy.ExtensionPolicy, error) {
	r := &reader{ElementReader: er, ctx: context.Background()}
	e := r.Element()
	r.noText(e)
	p := &validator{}
	r.source(p, "Authorization")
	if p.headerKey == "Authorization" {
		p.requireScheme = "Bearer"
	}
	cfg := jwtvalidate.Config{}
	tenant := strings.TrimSpace(r.String("tenant-id", "", true))
	if a, ok := e.Attr("tenant-id"); ok {
		switch {
		case strings.Contains(tenant, "{{"):
			// An offline check: the named value gives the tenant when the
			// document is saved, so the keys will come from somewhere.
			cfg.OpenIDConfigs = []jwtvalidate.OpenIDConfig{{URL: EntraDiscoveryURL("common")}}
		case !resource.ValidName(tenant):
			r.fail(a.Value.PosAt(0), "attribute 'tenant-id' must be a tenant id or domain name")
		case c.deps.LocalTenant != nil && c.deps.LocalTenant(tenant):
			cfg.LocalKeys = true
		default:
			cfg.OpenIDConfigs = []jwtvalidate.OpenIDConfig{{URL: EntraDiscoveryURL(tenant)}}
			// v1 tokens of the tenant carry the STS issuer.
			cfg.Issuers = []string{"https://sts.windows.net/" + tenant + "/"}
		}
	}
	for _, ch := range r.children(e, "client-application-ids", "backend-application-ids", "audiences", "required-claims", "decryption-keys") {
		switch ch.Name {
		case "client-application-ids":
			cfg.ClientApplicationIDs = append(cfg.ClientApplicationIDs, r.list(ch, "application-id")...)
		case "backend-application-ids":
			cfg.Audiences = append(cfg.Audiences, r.list(ch, "application-id")...)
		case "audiences":
			r.audiences(p, &cfg, ch)
		case "required-claims":
			cfg.RequiredClaims = append(cfg.RequiredClaims, r.requiredClaims(ch)...)
		case "decryption-keys":
			cfg.DecryptionKeys = append(cfg.DecryptionKeys, c.decryptionKeys(r, ch)...)
		}
	}
	return c.finish(r, p, cfg)
}

// warnAnyTokenType is the save-time warning for a policy that checks
// neither the audience nor any claim (docs/oauth.md).
const warnAnyTokenType = "neither <audiences> nor <required-claims>: any token the issuer signs is accepted, " +
	"ID tokens included (they are not access tokens); add <audiences> with the API's application ID URI or client id, " +
	"or a required claim such as scp or roles"

// finish checks the whole configuration and builds the validator, unless
// the check is offline.
func (c *compiler) finish(r *reader, p *validator, cfg jwtvalidate.Config) (policy.ExtensionPolicy, error) {
	if r.failed {
		return p, nil
	}
	e := r.Element()
	check := cfg
	if r.Offline() && r.deferredKeys {
		// The keys are read when the server compiles the policy; offline
		// the rest of the configuration is still checked.
		check.RequireSignedTokens = jwtvalidate.Bool(false)
	}
	if err := jwtvalidate.Check(check); err != nil {
		r.fail(e.Pos, "%v", err)
		return p, nil
	}
	if len(p.audiences) > 0 {
		// Some audience is an expression: every audience is checked per
		// request, after the (cached) validation.
		p.literalAud, cfg.Audiences = cfg.Audiences, nil
	}
	if len(cfg.Audiences) == 0 && len(p.audiences) == 0 && len(cfg.RequiredClaims) == 0 {
		// APIM accepts this, so Tollgate does too; but it is rarely meant.
		r.Warn(e.Pos, "%s", warnAnyTokenType)
	}
	if r.Offline() {
		return p, nil
	}
	v, err := jwtvalidate.New(cfg, c.deps.JWT)
	if err != nil {
		// Only wiring can make this fail once Check passed (no key set
		// cache, no built-in provider): report it where the policy is.
		r.fail(e.Pos, "%v", err)
		return p, nil
	}
	p.v = v
	return p, nil
}

// audiences reads <audiences>: literal audiences go to cfg, expressions
// to p.
func (r *reader) audiences(p *validator, cfg *jwtvalidate.Config, parent *policy.Element) {
	r.attrs(parent)
	r.noText(parent)
	for _, ch := range r.children(parent, "audience") {
		r.attrs(ch)
		if len(ch.Children) == 0 && expression.IsExpression(strings.TrimSpace(ch.Text.Value)) {
			if v := r.Text(ch); v != nil {
				p.audiences = append(p.audiences, v)
			} else {
				r.failed = true
			}
			continue
		}
		v := r.literalText(ch)
		if v == "" {
			if !r.failed {
				r.fail(ch.Pos, "<audience> must not be empty")
			}
			continue
		}
		cfg.Audiences = append(cfg.Audiences, v)
	}
	if len(parent.Children) == 0 {
		r.fail(parent.Pos, "<audiences> needs at least one <audience>")
	}
}

// audienceAllowed evaluates the <audience> expressions and reports whether
// the token has any of the audiences.
func (p *validator) audienceAllowed(x *policy.Exchange, tok *jwtvalidate.Token) (bool, error) {
	for _, a := range tok.Audiences {
		if slices.Contains(p.literalAud, a) {
			return true, nil
		}
	}
	for _, v := range p.audiences {
		want, err := v.String(x)
		if err != nil {
			return false, err
		}
		if want != "" && slices.Contains(tok.Audiences, want) {
			return true, nil
		}
	}
	return false, nil
}

// list reads <parent><item>text</item>...</parent>.
func (r *reader) list(parent *policy.Element, item string) []string {
	r.attrs(parent)
	r.noText(parent)
	var out []string
	for _, ch := range r.children(parent, item) {
		r.attrs(ch)
		v := r.literalText(ch)
		if v == "" {
			if !r.failed {
				r.fail(ch.Pos, "<%s> must not be empty", item)
			}
			continue
		}
		out = append(out, v)
	}
	if len(parent.Children) == 0 {
		r.fail(parent.Pos, "<%s> needs at least one <%s>", parent.Name, item)
	}
	return out
}

func (r *reader) requiredClaims(parent *policy.Element) []jwtvalidate.Claim {
	r.attrs(parent)
	r.noText(parent)
	var out []jwtvalidate.Claim
	for _, ch := range r.children(parent, "claim") {
		r.attrs(ch, "name", "match", "separator")
		r.noText(ch)
		name, _ := r.attr(ch, "name", true)
		match, ma := r.attr(ch, "match", false)
		if ma != nil && match != "all" && match != "any" {
			r.fail(ma.Value.PosAt(0), "<claim>: attribute 'match' must be one of all, any")
		}
		sep, _ := r.attr(ch, "separator", false)
		cl := jwtvalidate.Claim{Name: name, Match: match, Separator: sep}
		for _, v := range r.children(ch, "value") {
			r.attrs(v)
			if len(v.Children) > 0 {
				r.fail(v.Children[0].Pos, "<value> takes text")
				continue
			}
			if expression.IsExpression(strings.TrimSpace(v.Text.Value)) {
				r.fail(v.Text.PosAt(0), "<value> does not accept an expression")
				continue
			}
			cl.Values = append(cl.Values, v.Text.Value)
		}
		out = append(out, cl)
	}
	return out
}

// certificate reads the certificate a certificate-id names.
func (c *compiler) certificate(r *reader, a *policy.Attr) (*x509.Certificate, string, bool) {
	id := a.Value.Value
	if r.Offline() || strings.Contains(id, "{{") {
		return nil, "", false
	}
	if c.deps.Certificate == nil {
		r.fail(a.Value.PosAt(0), "certificate-id: certificates are not available here")
		return nil, "", false
	}
	rc, key, ok, err := c.deps.Certificate(r.ctx, id)
	switch {
	case err != nil:
		r.fail(a.Value.PosAt(0), "cannot read certificate '%s': %v", id, err)
		return nil, "", false
	case !ok:
		r.fail(a.Value.PosAt(0), "certificate '%s' does not exist", id)
		return nil, "", false
	}
	cert, err := rc.Parse()
	if err != nil {
		r.fail(a.Value.PosAt(0), "certificate '%s' %v", id, err)
		return nil, "", false
	}
	return cert, key, true
}

func (c *compiler) signingKeys(r *reader, parent *policy.Element) []jwtvalidate.StaticKey {
	r.attrs(parent)
	r.noText(parent)
	var out []jwtvalidate.StaticKey
	for _, ch := range r.children(parent, "key") {
		r.attrs(ch, "id", "certificate-id", "n", "e")
		r.children(ch)
		id, _ := r.attr(ch, "id", false)
		n, _ := r.attr(ch, "n", false)
		ev, _ := r.attr(ch, "e", false)
		k := jwtvalidate.StaticKey{ID: id, N: n, E: ev}
		text := strings.TrimSpace(ch.Text.Value)
		if strings.Contains(text+n+ev, "{{") {
			r.deferredKeys = true
			continue // an offline check with a named value left in
		}
		before := r.failed
		r.failed = false
		if a, ok := ch.Attr("certificate-id"); ok {
			if text != "" || n != "" || ev != "" {
				r.fail(ch.Pos, "<key>: give a certificate-id, n and e, or a base64 key, not several")
			} else if cert, _, ok := c.certificate(r, a); ok {
				k.PublicKey = cert.PublicKey
			} else {
				if !r.failed {
					// Read on the server: offline, or a named value.
					r.deferredKeys = true
				}
				r.failed = r.failed || before
				continue
			}
		} else if text != "" {
			if n != "" || ev != "" {
				r.fail(ch.Pos, "<key>: give n and e, or a base64 key, not both")
			} else if b, err := base64.StdEncoding.DecodeString(text); err != nil {
				r.fail(ch.Text.PosAt(strings.Index(ch.Text.Value, text[:1])), "<key>: the key is not base64")
			} else {
				k.Symmetric = b
			}
		}
		if !r.failed {
			if err := k.Check(); err != nil {
				r.fail(ch.Pos, "<key>: %v", err)
			}
		}
		r.failed = r.failed || before
		out = append(out, k)
	}
	return out
}

func (c *compiler) decryptionKeys(r *reader, parent *policy.Element) []jwtvalidate.DecryptionKey {
	r.attrs(parent)
	r.noText(parent)
	var out []jwtvalidate.DecryptionKey
	for _, ch := range r.children(parent, "key") {
		r.attrs(ch, "id", "certificate-id")
		r.children(ch)
		id, _ := r.attr(ch, "id", false)
		k := jwtvalidate.DecryptionKey{ID: id}
		text := strings.TrimSpace(ch.Text.Value)
		if a, ok := ch.Attr("certificate-id"); ok {
			cert, keyPEM, ok := c.certificate(r, a)
			if !ok {
				continue
			}
			_ = cert
			if keyPEM == "" {
				r.fail(a.Value.PosAt(0), "certificate '%s' has no private key, so it cannot decrypt", a.Value.Value)
				continue
			}
			pk, err := resource.ParsePrivateKey(keyPEM)
			if err != nil {
				r.fail(a.Value.PosAt(0), "certificate '%s': private key %v", a.Value.Value, err)
				continue
			}
			k.PrivateKey = pk
		} else if text != "" && !strings.Contains(text, "{{") {
			b, err := base64.StdEncoding.DecodeString(text)
			if err != nil {
				r.fail(ch.Text.PosAt(strings.Index(ch.Text.Value, text[:1])), "<key>: the key is not base64")
				continue
			}
			k.Symmetric = b
		} else if text == "" {
			r.fail(ch.Pos, "<key>: give a certificate-id (an RSA certificate with its private key)")
			continue
		} else {
			continue
		}
		if err := k.Check(); err != nil {
			r.fail(ch.Pos, "<key>: %v", err)
			continue
		}
		out = append(out, k)
	}
	return out
}

// token finds the raw token; "" means not present.
func (p *validator) token(x *policy.Exchange) (string, error) {
	switch {
	case p.tokenValue != nil:
		s, err := p.tokenValue.String(x)
		return strings.TrimSpace(s), err
	case p.queryName != "":
		return x.Request().URL.Query().Get(p.queryName), nil
	}
	v := strings.TrimSpace(x.Request().Header.Get(p.headerKey))
	// require-scheme applies to the Authorization header only; another
	// header carries the raw token.
	if p.headerKey != "Authorization" {
		return v, nil
	}
	scheme, tok, ok := strings.Cut(v, " ")
	switch {
	case !ok && p.requireScheme != "":
		return "", nil
	case !ok:
		return v, nil
	case p.requireScheme != "" && !strings.EqualFold(scheme, p.requireScheme):
		return "", nil
	}
	return strings.TrimSpace(tok), nil
}

// RFC 6750 section 3: no error code when no token was sent.
var (
	wwwAuthInvalid = http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	wwwAuthMissing = http.Header{"Www-Authenticate": {`Bearer`}}
)

func (p *validator) refuse(reason, msg string) error {
	if p.message != "" {
		msg = p.message
	}
	var h http.Header
	if p.status == http.StatusUnauthorized {
		h = wwwAuthInvalid
		if reason == jwtvalidate.ReasonTokenNotPresent {
			h = wwwAuthMissing
		}
	}
	return policy.Failure(p.status, reason, msg, h)
}

// Run validates the request's token.
func (p *validator) Run(x *policy.Exchange) error {
	raw, err := p.token(x)
	if err != nil {
		return err
	}
	if p.v == nil {
		// Compiled offline: never used to serve requests.
		return p.refuse(jwtvalidate.ReasonTokenSignatureKeyNotFound, "JWT signature key was not found.")
	}
	tok, err := p.v.Validate(x.Context(), raw)
	if err != nil {
		var ve *jwtvalidate.Error
		if !errors.As(err, &ve) {
			return err
		}
		return p.refuse(ve.Reason, ve.Message)
	}
	if len(p.audiences) > 0 {
		ok, err := p.audienceAllowed(x, tok)
		if err != nil {
			return err
		}
		if !ok {
			return p.refuse(jwtvalidate.ReasonTokenAudienceNotAllowed, "Audience validation failed.")
		}
	}
	if p.outputVar != "" {
		// Parsed once per token: a cached token costs no parsing either.
		j, _ := tok.Memo(parseJwt).(*expression.Jwt)
		if j == nil {
			return p.refuse(jwtvalidate.ReasonJwtInvalid, "JWT is malformed.")
		}
		x.SetVariable(p.outputVar, j)
	}
	return nil
}

// parseJwt builds the policy's Jwt object from what validation already
// read; the full claim set is decoded only if an expression asks for it.
// The object and its three times are one allocation.
func parseJwt(t *jwtvalidate.Token) any {
	o := &struct {
		jwt           expression.Jwt
		exp, nbf, iat time.Time
	}{}
	aud := t.Audiences
	if aud == nil {
		aud = []string{}
	}
	o.jwt = expression.Jwt{Id: t.ID, Issuer: t.Issuer, Subject: t.Subject, Audiences: aud,
		Algorithm: t.Algorithm, Type: t.Type,
		ExpirationTime: utcIn(&o.exp, t.ExpiresAt), NotBefore: utcIn(&o.nbf, t.NotBefore), IssuedAt: utcIn(&o.iat, t.IssuedAt)}
	return o.jwt.DeferClaims(t.HeaderJSON(), t.PayloadJSON())
}

// utcIn sets *dst to t in UTC and returns dst, or nil for the zero time.
func utcIn(dst *time.Time, t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	*dst = t.UTC()
	return dst
}

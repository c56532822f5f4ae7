// Package jwtvalidate is the token-validation engine behind the
// validate-jwt and validate-azure-ad-token policies: key sources (OpenID
// discovery, the built-in provider, configured keys), signature checking
// with golang-jwt's verifiers, JWE decryption with go-jose, APIM's checks
// and Reasons, and a cache of verified tokens.
package jwtvalidate

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MaxTokenBytes is the largest token looked at; longer ones are refused
// before parsing.
const MaxTokenBytes = 16 << 10

// OpenIDConfig is an <openid-config url>: an OpenID Connect discovery URL.
type OpenIDConfig struct {
	URL string
}

// Claim is a <required-claims><claim>.
type Claim struct {
	Name string
	// Match is "all" (the default: every value must be present) or "any".
	Match string
	// Separator splits a string claim into several values (e.g. " " for
	// scp).
	Separator string
	// Values are the accepted values; none means the claim only has to be
	// present.
	Values []string
}

// Config is one policy's validation rules. The policy finds the token; the
// engine is given it raw.
type Config struct {
	OpenIDConfigs []OpenIDConfig
	// LocalKeys takes keys from Deps.LocalKeys (the built-in identity
	// provider) without a network hop.
	LocalKeys      bool
	SigningKeys    []StaticKey
	DecryptionKeys []DecryptionKey
	// Audiences and Issuers, when set, must contain the token's aud (any
	// of them) and iss. Issuers named by discovery documents (and the
	// built-in provider) are accepted for tokens their keys verified.
	Audiences []string
	Issuers   []string
	// RequiredClaims are checked in order.
	RequiredClaims []Claim
	// ClientApplicationIDs, when set, must contain the token's azp (or,
	// for v1 tokens, appid): validate-azure-ad-token's
	// client-application-ids.
	ClientApplicationIDs []string
	ClockSkew            time.Duration
	// RequireExpirationTime and RequireSignedTokens default to true (nil).
	RequireExpirationTime *bool
	RequireSignedTokens   *bool
	// CacheSize bounds the verified-token cache (default 10,000 tokens;
	// negative turns it off).
	CacheSize int
	// CacheBytes bounds the same cache in bytes, estimated from the
	// tokens' sizes (default Deps.CacheBytes, else DefaultCacheBytes;
	// negative turns it off).
	CacheBytes int64
}

// Deps are what validators share with the rest of the process.
type Deps struct {
	// KeySets caches OpenID key sets; needed when OpenIDConfigs are set.
	KeySets *KeySets
	// LocalKeys returns the built-in provider's published keys and issuer;
	// needed when Config.LocalKeys is set.
	LocalKeys func(ctx context.Context) (jose.JSONWebKeySet, string, error)
	Now       func() time.Time
	Logger    *slog.Logger
	// CacheBytes is the verified-token cache's bound in bytes for configs
	// that set none (0: DefaultCacheBytes; negative: off).
	CacheBytes int64
	// Observer, when set, is told of every validation (metrics).
	Observer Observer
}

// Observer is told how each Validate ended: cached is set when the token
// was found among the verified tokens (no signature check), err is the
// failure (nil: valid).
type Observer interface {
	ObserveValidation(cached bool, err error)
}

// Token is a validated token. It is shared by every request that presents
// the same token while it is cached: callers must not modify it.
type Token struct {
	// Raw is the compact JWS (after decryption, for a JWE).
	Raw       string
	Algorithm string
	KeyID     string
	// Type is the header's typ; ID the jti claim ("" when absent or not
	// a string).
	Type      string
	ID        string
	Issuer    string
	Subject   string
	Audiences []string
	// ExpiresAt, NotBefore and IssuedAt are zero when absent.
	ExpiresAt time.Time
	NotBefore time.Time
	IssuedAt  time.Time

	claimsOnce sync.Once
	claims     map[string]any
	memoOnce   sync.Once
	memo       any
}

// Memo returns fn(t), computed once per token, so a value derived from a
// cached token (the policy's Jwt object) is derived once too. Every call
// on one Token must pass the same fn; the result is shared by the
// requests presenting the token, so it must not be modified.
func (t *Token) Memo(fn func(*Token) any) any {
	t.memoOnce.Do(func() { t.memo = fn(t) })
	return t.memo
}

// Claims returns every claim, decoded as encoding/json does into any. It is
// decoded on first use: most requests never need it.
func (t *Token) Claims() map[string]any {
	t.claimsOnce.Do(func() {
		// The payload is not kept (a cached token costs its bytes once):
		// it is decoded again from Raw, which validation has checked.
		_, rest, _ := strings.Cut(t.Raw, ".")
		pseg, _, _ := strings.Cut(rest, ".")
		if pb, ok := decodeSegment(pseg, MaxTokenBytes); ok {
			_ = json.Unmarshal(pb, &t.claims)
		}
	})
	return t.claims
}

// Validator checks tokens against one Config. It is safe for concurrent
// use.
type Validator struct {
	cfg        Config
	static     []*verKey
	sources    []*keySet
	decrypt    []*rsa.PrivateKey
	requireExp bool
	requireSig bool
	cache      *tokenCache
	now        func() time.Time
	log        *slog.Logger
	observer   Observer
}

// Bool returns a pointer to b, for Config's optional booleans.
func Bool(b bool) *bool { return &b }

// DefaultCacheSize is the verified-token cache's default bound.
const DefaultCacheSize = 10000

// DefaultCacheBytes is the verified-token cache's default bound in bytes:
// about 1,700 Entra-sized access tokens (an entry keeps the token, about
// 1.2 KB, and some 700 bytes of fields and bookkeeping). Every validate-jwt
// policy has a cache of its own, the largest thing a gateway keeps under
// load; 3 MiB holds a working set of 1,000 tokens with room for the
// shards' unevenness.
const DefaultCacheBytes = 3 << 20

// New compiles a Config. Every problem is reported, joined. OpenID key sets
// start fetching in the background: a provider that is down does not make
// New fail, its keys are fetched when first needed.
func New(cfg Config, deps Deps) (*Validator, error) {
	return build(cfg, deps, false)
}

// Check reports every problem New would, without key set caches, the
// built-in provider or any network: for checking a policy when it is saved.
func Check(cfg Config) error {
	_, err := build(cfg, Deps{}, true)
	return err
}

func build(cfg Config, deps Deps, checkOnly bool) (*Validator, error) {
	v := &Validator{cfg: cfg, requireExp: cfg.RequireExpirationTime == nil || *cfg.RequireExpirationTime,
		requireSig: cfg.RequireSignedTokens == nil || *cfg.RequireSignedTokens, now: deps.Now, log: deps.Logger, observer: deps.Observer}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	var errs []error
	for i, k := range cfg.SigningKeys {
		vk, err := k.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("issuer-signing-keys key %d: %w", i+1, err))
			continue
		}
		v.static = append(v.static, vk)
	}
	for i, k := range cfg.DecryptionKeys {
		dk, err := k.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("decryption-keys key %d: %w", i+1, err))
			continue
		}
		v.decrypt = append(v.decrypt, dk)
	}
	for _, oc := range cfg.OpenIDConfigs {
		if err := checkURL(oc.URL); err != nil {
			errs = append(errs, fmt.Errorf("openid-config url %q: %w", oc.URL, err))
			continue
		}
		if checkOnly {
			continue
		}
		if deps.KeySets == nil {
			errs = append(errs, errors.New("openid-config needs a key set cache (Deps.KeySets)"))
			break
		}
		v.sources = append(v.sources, deps.KeySets.get(oc.URL))
	}
	if cfg.LocalKeys && !checkOnly {
		if deps.LocalKeys == nil {
			errs = append(errs, errors.New("the built-in identity provider's keys are not available here"))
		} else {
			var opts KeySetsOptions
			if deps.KeySets != nil {
				opts = deps.KeySets.opts
			}
			opts = opts.withDefaults()
			// The built-in provider is in process: a new kid is worth
			// looking up again after a second, not after five minutes.
			opts.RetryInterval, opts.UnknownKidInterval, opts.RefreshInterval = time.Second, time.Second, time.Minute
			opts.UnknownKidMinInterval = time.Second
			local := deps.LocalKeys
			src := newKeySet("built-in identity provider", opts, func(ctx context.Context) ([]jose.JSONWebKey, string, error) {
				set, iss, err := local(ctx)
				return set.Keys, iss, err
			})
			v.sources = append(v.sources, src)
		}
	}
	keySources := len(v.static) + len(v.sources)
	if checkOnly {
		keySources += len(cfg.OpenIDConfigs)
		if cfg.LocalKeys {
			keySources++
		}
	}
	if keySources == 0 && v.requireSig && len(errs) == 0 {
		errs = append(errs, errors.New("no signing keys: give openid-config, issuer-signing-keys or a tenant"))
	}
	for i, c := range cfg.RequiredClaims {
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("required-claims claim %d: name is required", i+1))
		}
		if c.Match != "" && c.Match != "all" && c.Match != "any" {
			errs = append(errs, fmt.Errorf("required-claims claim %q: match must be all or any, got %q", c.Name, c.Match))
		}
	}
	if cfg.ClockSkew < 0 {
		errs = append(errs, errors.New("clock-skew must not be negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if checkOnly {
		return nil, nil
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	bytes := cfg.CacheBytes
	if bytes == 0 {
		bytes = deps.CacheBytes
	}
	if bytes == 0 {
		bytes = DefaultCacheBytes
	}
	v.cache = newTokenCache(size, bytes)
	// Start fetching now, so keys are usually there before the first request.
	for _, s := range v.sources {
		if s.cur.Load() == nil {
			go s.refresh(context.Background(), refreshFirst)
		}
	}
	return v, nil
}

func checkURL(u string) error {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}

// WarmUp waits until every key source has been fetched once (successfully
// or not) or ctx ends; it returns the sources' errors.
func (v *Validator) WarmUp(ctx context.Context) error {
	var errs []error
	for _, s := range v.sources {
		if s.cur.Load() != nil {
			continue
		}
		if _, err := s.refresh(ctx, refreshFirst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a raw token (no "Bearer " prefix). Failures are *Error.
func (v *Validator) Validate(ctx context.Context, raw string) (*Token, error) {
	if raw == "" {
		return nil, errNotPresent
	}
	if len(raw) > MaxTokenBytes {
		return nil, errTooLarge
	}
	now := v.now()
	if v.cache != nil {
		if t := v.cache.get(raw, now); t != nil {
			v.observe(true, nil)
			return t, nil
		}
	}
	jws := raw
	if strings.Count(raw, ".") == 4 {
		var err *Error
		if jws, err = v.decryptJWE(raw); err != nil {
			v.observe(false, err)
			return nil, err
		}
	}
	tok, key, err := v.verify(ctx, jws, now)
	if err != nil {
		v.observe(false, err)
		return nil, err
	}
	v.observe(false, nil)
	if v.cache != nil && !tok.ExpiresAt.IsZero() {
		v.cache.put(raw, tok, tok.ExpiresAt.Add(v.cfg.ClockSkew), key)
	}
	return tok, nil
}

func (v *Validator) observe(cached bool, err error) {
	if v.observer != nil {
		v.observer.ObserveValidation(cached, err)
	}
}

// header is the part of a JOSE header the engine reads. jku, x5u, x5c
// and jwk are deliberately not among them: keys come only from
// configuration.
type header struct {
	Alg, Kid, Enc, Zip, Typ string
	Crit                    bool
}

func parseHeader(b []byte) (header, bool) {
	var h header
	ok := true
	if !members(b, func(name, val []byte) {
		var dst *string
		switch string(name) {
		case "alg":
			dst = &h.Alg
		case "kid":
			dst = &h.Kid
		case "enc":
			dst = &h.Enc
		case "zip":
			dst = &h.Zip
		case "typ":
			// typ is informational: a non-string one is not an error.
			h.Typ, _ = jsonString(val)
			return
		case "crit":
			h.Crit = true
			return
		default:
			return
		}
		var isString bool
		if *dst, isString = jsonString(val); !isString {
			ok = false
		}
	}) {
		return h, false
	}
	return h, ok
}

var strictB64 = base64.RawURLEncoding.Strict()

func decodeSegment(s string, max int) ([]byte, bool) {
	if len(s) > max {
		return nil, false
	}
	b, err := strictB64.DecodeString(s)
	return b, err == nil
}

// decryptJWE opens a compact JWE with RSA-OAEP-256 and A256GCM, trying
// each decryption key in turn; the plaintext must be a signed JWT.
func (v *Validator) decryptJWE(raw string) (string, *Error) {
	if len(v.decrypt) == 0 {
		return "", fail(ReasonJwtInvalid, "JWT is encrypted, and no decryption keys are configured.")
	}
	hseg, _, _ := strings.Cut(raw, ".")
	hb, ok := decodeSegment(hseg, MaxTokenBytes)
	if !ok {
		return "", errMalformed
	}
	h, ok := parseHeader(hb)
	if !ok {
		return "", errMalformed
	}
	if h.Alg != string(jose.RSA_OAEP_256) || h.Enc != string(jose.A256GCM) {
		return "", fail(ReasonJwtInvalid, "Encrypted JWT must use RSA-OAEP-256 and A256GCM.")
	}
	// Compressed plaintexts are refused: no decompression bombs.
	if h.Zip != "" || h.Crit {
		return "", fail(ReasonJwtInvalid, "Encrypted JWT with zip or crit is not accepted.")
	}
	enc, err := jose.ParseEncrypted(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return "", errMalformed
	}
	for _, k := range v.decrypt {
		pt, err := enc.Decrypt(k)
		if err != nil {
			continue
		}
		if len(pt) > MaxTokenBytes || strings.Count(string(pt), ".") != 2 {
			return "", fail(ReasonJwtInvalid, "Encrypted JWT does not contain a signed JWT.")
		}
		return string(pt), nil
	}
	return "", fail(ReasonJwtInvalid, "Encrypted JWT could not be decrypted with any configured key.")
}

// verify checks a compact JWS: header, key, signature, then claims.
func (v *Validator) verify(ctx context.Context, jws string, now time.Time) (*Token, *verKey, *Error) {
	hseg, rest, ok1 := strings.Cut(jws, ".")
	pseg, sseg, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sseg, '.') >= 0 {
		return nil, nil, errMalformed
	}
	hb, ok := decodeSegment(hseg, 4096)
	if !ok {
		return nil, nil, errMalformed
	}
	h, ok := parseHeader(hb)
	if !ok {
		return nil, nil, errMalformed
	}
	// crit names extensions the token says we must understand; we
	// understand none (RFC 7515 section 4.1.11). jku and x5u are simply
	// never read: keys come only from configuration.
	if h.Crit {
		return nil, nil, fail(ReasonJwtInvalid, "JWT header has crit, which is not supported.")
	}
	sig, ok := decodeSegment(sseg, 1024)
	if !ok {
		return nil, nil, errMalformed
	}
	// The payload is decoded now but parsed only once the signature holds.
	pb, ok := decodeSegment(pseg, MaxTokenBytes)
	if !ok {
		return nil, nil, errMalformed
	}
	signingInput := jws[:len(hseg)+1+len(pseg)]
	var used *verKey
	if h.Alg == "none" {
		if v.requireSig {
			return nil, nil, errUnsigned
		}
		if len(sig) != 0 {
			return nil, nil, errMalformed
		}
	} else {
		m, ok := methods[h.Alg]
		if !ok {
			return nil, nil, fail(ReasonTokenSignatureInvalid, "JWT signature algorithm is not allowed.")
		}
		var buf [8]*verKey
		cands := buf[:0]
		for _, k := range v.static {
			if h.Kid == "" || k.kid == "" || k.kid == h.Kid {
				cands = append(cands, k)
			}
		}
		for _, s := range v.sources {
			cands = s.find(ctx, h.Kid, cands)
		}
		if len(cands) == 0 {
			return nil, nil, fail(ReasonTokenSignatureKeyNotFound, "JWT signature key was not found.")
		}
		for _, k := range cands {
			if !k.fits(h.Alg, m.kind) {
				continue
			}
			if m.m.Verify(signingInput, sig, k.key) == nil {
				used = k
				break
			}
		}
		if used == nil {
			return nil, nil, errSignature
		}
	}
	tok := &Token{Raw: jws, Algorithm: h.Alg, KeyID: h.Kid, Type: h.Typ}
	if e := v.checkClaims(tok, pb, used, now); e != nil {
		return nil, nil, e
	}
	return tok, used, nil
}

// payloadClaims are the members the checks read, raw.
type payloadClaims struct {
	exp, nbf, iat, iss, sub, aud, azp, appid, tid, jti []byte
	required                                           [][]byte
}

func (v *Validator) readClaims(pb []byte) (*payloadClaims, bool) {
	pc := &payloadClaims{required: make([][]byte, len(v.cfg.RequiredClaims))}
	ok := members(pb, func(name, val []byte) {
		switch string(name) {
		case "exp":
			pc.exp = val
		case "nbf":
			pc.nbf = val
		case "iat":
			pc.iat = val
		case "iss":
			pc.iss = val
		case "sub":
			pc.sub = val
		case "aud":
			pc.aud = val
		case "azp":
			pc.azp = val
		case "appid":
			pc.appid = val
		case "tid":
			pc.tid = val
		case "jti":
			pc.jti = val
		}
		for i, rc := range v.cfg.RequiredClaims {
			if rc.Name == string(name) {
				pc.required[i] = val
			}
		}
	})
	return pc, ok
}

// checkClaims runs the lifetime, issuer, audience, client and required-claim
// checks, in that order.
func (v *Validator) checkClaims(tok *Token, payload []byte, used *verKey, now time.Time) *Error {
	pc, ok := v.readClaims(payload)
	if !ok {
		return errMalformed
	}
	if tok.ExpiresAt, ok = numericDate(pc.exp); !ok {
		return errMalformed
	}
	if tok.NotBefore, ok = numericDate(pc.nbf); !ok {
		return errMalformed
	}
	if tok.IssuedAt, ok = numericDate(pc.iat); !ok {
		return errMalformed
	}
	skew := v.cfg.ClockSkew
	switch {
	case tok.ExpiresAt.IsZero() && v.requireExp:
		return errNoExp
	case !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt.Add(skew)):
		return errExpired
	case !tok.NotBefore.IsZero() && now.Add(skew).Before(tok.NotBefore):
		return errNotYet
	case !tok.IssuedAt.IsZero() && now.Add(skew).Before(tok.IssuedAt):
		return errFuture
	}
	tok.Issuer, _ = jsonString(pc.iss)
	tok.Subject, _ = jsonString(pc.sub)
	tok.ID, _ = jsonString(pc.jti)
	if a, ok := jsonString(pc.aud); ok {
		tok.Audiences = []string{a}
	} else if len(pc.aud) > 0 && pc.aud[0] == '[' {
		var all []any
		_ = json.Unmarshal(pc.aud, &all)
		for _, e := range all {
			if s, ok := e.(string); ok {
				tok.Audiences = append(tok.Audiences, s)
			}
		}
	}
	tid, _ := jsonString(pc.tid)
	if !v.issuerAllowed(tok, used, tid) {
		return errIssuer
	}
	if len(v.cfg.Audiences) > 0 && !anyIn(tok.Audiences, v.cfg.Audiences) {
		return errAudience
	}
	if len(v.cfg.ClientApplicationIDs) > 0 {
		name := "azp"
		app, _ := jsonString(pc.azp)
		if app == "" {
			name = "appid"
			app, _ = jsonString(pc.appid)
		}
		if app == "" {
			return fail(ReasonTokenClaimNotFound, "JWT token is missing the following claims: azp. Access denied.")
		}
		if !anyIn([]string{app}, v.cfg.ClientApplicationIDs) {
			return fail(ReasonTokenClaimValueNotAllowed, fmt.Sprintf("Claim %s value of %s is not allowed. Access denied.", name, app))
		}
	}
	return v.checkRequired(pc.required)
}

// issuerAllowed accepts the configured issuers and, for a token verified
// by a source's key, the issuer that source published.
func (v *Validator) issuerAllowed(tok *Token, used *verKey, tid string) bool {
	var published []string
	for _, s := range v.sources {
		g := s.cur.Load()
		if g == nil || g.issuer == "" || used == nil {
			continue
		}
		for _, k := range g.keys {
			if k == used {
				iss := g.issuer
				// Multi-tenant metadata (Entra's /common, /organizations)
				// names the issuer with a {tenantid} placeholder.
				if tid != "" {
					iss = strings.ReplaceAll(iss, "{tenantid}", tid)
				}
				published = append(published, iss)
				break
			}
		}
	}
	if len(v.cfg.Issuers) == 0 && len(published) == 0 {
		return true
	}
	if tok.Issuer == "" {
		return false
	}
	return anyIn([]string{tok.Issuer}, v.cfg.Issuers) || anyIn([]string{tok.Issuer}, published)
}

func (v *Validator) checkRequired(raws [][]byte) *Error {
	var missing []string
	for i, rc := range v.cfg.RequiredClaims {
		var val any
		if raws[i] != nil {
			if s, ok := jsonString(raws[i]); ok {
				val = s
			} else {
				val = jsonAny(raws[i])
			}
		}
		if val == nil {
			missing = append(missing, rc.Name)
			continue
		}
		if len(rc.Values) == 0 {
			continue
		}
		have := claimValues(val, rc.Separator)
		matched := 0
		for _, want := range rc.Values {
			for _, h := range have {
				if h == want {
					matched++
					break
				}
			}
		}
		if (rc.Match == "any" && matched == 0) || (rc.Match != "any" && matched < len(rc.Values)) {
			return fail(ReasonTokenClaimValueNotAllowed, fmt.Sprintf("Claim %s value of %s is not allowed. Access denied.", rc.Name, strings.Join(claimValues(val, ""), ",")))
		}
	}
	if len(missing) > 0 {
		return fail(ReasonTokenClaimNotFound, "JWT token is missing the following claims: "+strings.Join(missing, ", ")+". Access denied.")
	}
	return nil
}

// claimValues turns a claim into strings: arrays element by element,
// strings split by sep, other values as their JSON text.
func claimValues(v any, sep string) []string {
	switch v := v.(type) {
	case string:
		if sep == "" {
			return []string{v}
		}
		return strings.Split(v, sep)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, claimValues(e, sep)...)
		}
		return out
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(v)}
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

func anyIn(have, allowed []string) bool {
	for _, h := range have {
		for _, a := range allowed {
			if h == a {
				return true
			}
		}
	}
	return false
}

// numericDate reads exp/nbf/iat: absent (or null) is the zero time;
// anything but a number is malformed.
func numericDate(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, true
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || v < 0 || v > 1e11 {
		return time.Time{}, false
	}
	sec := int64(v)
	return time.Unix(sec, int64((v-float64(sec))*1e9)), true
}

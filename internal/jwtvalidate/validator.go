// Package jwtvalidate is the token-validation engine behind the
// validate-jwt and validate-azure-ad-token policies: key sources (OpenID
// discovery, the built-in provider, configured keys), signature checking
// with golang-jwt's verifiers, JWE decryption with go-jose, APIM's checks
// and Reasons, and a cache of verified tokens.
package jwtvalidate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// CacheSize and CacheBytes, when either is set, give the validator a
	// verified-token cache of its own instead of Deps.Cache, bounded in
	// tokens (default 10,000) and in bytes estimated from the tokens'
	// sizes (default DefaultCacheBytes); negative turns it off.
	CacheSize  int
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
	// Cache is where validators keep verified tokens: one per process, so
	// the process has one bound (nil: a cache of the validator's own, as
	// bounded by Config).
	Cache *TokenCache
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

	// header and payload are the JOSE header and the claims as decoded
	// JSON (for a JWE, the inner JWS's): the cache keeps them, not the
	// token's text, whose signature alone is a quarter of it.
	header, payload string

	claimsOnce sync.Once
	claims     map[string]any
	memoOnce   sync.Once
	memo       any
	// aud backs Audiences when the token names one (most do), and entry
	// is the token's place in the cache: both allocated with the Token.
	aud   [1]string
	entry cacheEntry
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
	t.claimsOnce.Do(func() { _ = json.Unmarshal([]byte(t.payload), &t.claims) })
	return t.claims
}

// HeaderJSON and PayloadJSON return the token's JOSE header and claims as
// the JSON validation checked (for a JWE, the inner JWS's).
func (t *Token) HeaderJSON() string  { return t.header }
func (t *Token) PayloadJSON() string { return t.payload }

// Validator checks tokens against one Config. It is safe for concurrent
// use.
type Validator struct {
	cfg        Config
	static     []*verKey
	sources    []*keySet
	decrypt    []*rsa.PrivateKey
	requireExp bool
	requireSig bool
	cache      *TokenCache
	owner      uint64 // v's key in cache
	scratch    scratchPool
	now        func() time.Time
	log        *slog.Logger
	observer   Observer
}

// Bool returns a pointer to b, for Config's optional booleans.
func Bool(b bool) *bool { return &b }

// DefaultCacheSize is the verified-token cache's default bound.
const DefaultCacheSize = 10000

// DefaultCacheBytes is the verified-token cache's default bound in bytes:
// about 1,500 tokens of 1.2 KB (an entry keeps the decoded header and
// claims, some 640 bytes for such a token, and about 800 bytes of fields
// and bookkeeping). The cache is the largest thing a gateway keeps under
// load; one bound covers every policy that validates tokens, and 2 MiB
// holds a working set of 1,000 tokens with room for the shards'
// unevenness.
const DefaultCacheBytes = 2 << 20

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
	if deps.Cache != nil && cfg.CacheSize == 0 && cfg.CacheBytes == 0 {
		v.cache = deps.Cache
	} else {
		v.cache = NewTokenCache(cfg.CacheSize, cfg.CacheBytes)
	}
	if v.cache != nil && v.cache.off {
		v.cache = nil
	}
	if v.cache != nil {
		v.owner = v.cache.owner()
	}
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
	// A token without a "." cannot be valid, and has no cache key.
	dot := strings.LastIndexByte(raw, '.')
	cacheable := v.cache != nil && dot >= 0
	var h uint64
	var id, signed [32]byte
	if cacheable {
		v.tokenID(raw, dot, &id, &signed)
		h = v.cache.hash(v.owner, &id)
		if t := v.cache.get(h, v.owner, &id, now); t != nil {
			v.observe(true, nil)
			return t, nil
		}
	}
	jws, digest := raw, (*[32]byte)(nil)
	if cacheable {
		digest = &signed
	}
	if strings.Count(raw, ".") == 4 {
		var err *Error
		if jws, err = v.decryptJWE(raw); err != nil {
			v.observe(false, err)
			return nil, err
		}
		digest = nil // of the JWE's text, not the JWS's
	}
	tok, key, err := v.verify(ctx, jws, digest, now)
	if err != nil {
		v.observe(false, err)
		return nil, err
	}
	v.observe(false, nil)
	if cacheable && !tok.ExpiresAt.IsZero() {
		v.cache.put(h, v.owner, &id, tok, tok.ExpiresAt.Add(v.cfg.ClockSkew), key)
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
	Alg, Enc, Zip, Typ string
	// Kid is the raw value (escapes decoded), in the decoded header: it is
	// compared with the keys' ids and copied only if it is kept.
	Kid  []byte
	Crit bool
}

// headerNames are the header values a token carries and the engine knows:
// parsing returns these strings rather than copies.
var headerNames = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
	"HS256", "HS384", "HS512", "none", "RSA-OAEP-256", "A256GCM", "JWT", "at+jwt", "JOSE",
}

// intern returns b as a string, one of known's when it is among them.
func intern(b []byte, known []string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
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
			var isString bool
			if h.Kid, isString = jsonBytes(val); !isString {
				ok = false
			}
			return
		case "enc":
			dst = &h.Enc
		case "zip":
			dst = &h.Zip
		case "typ":
			// typ is informational: a non-string one is not an error.
			if t, isString := jsonBytes(val); isString {
				h.Typ = intern(t, headerNames)
			}
			return
		case "crit":
			h.Crit = true
			return
		default:
			return
		}
		sv, isString := jsonBytes(val)
		if !isString {
			ok = false
			return
		}
		*dst = intern(sv, headerNames)
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

// verify checks a compact JWS: header, key, signature, then claims. signed,
// when set, is the SHA-256 of jws's signing input, already computed.
func (v *Validator) verify(ctx context.Context, jws string, signed *[32]byte, now time.Time) (*Token, *verKey, *Error) {
	hseg, rest, ok1 := strings.Cut(jws, ".")
	pseg, sseg, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sseg, '.') >= 0 {
		return nil, nil, errMalformed
	}
	signingInput := jws[:len(hseg)+1+len(pseg)]
	// The decoded segments and a copy of the signing input (hash functions
	// take bytes) live in one pooled buffer: nothing in it outlives this
	// call, so a new token allocates only what its Token keeps.
	bp := v.scratch.get(strictB64.DecodedLen(len(hseg)) + strictB64.DecodedLen(len(sseg)) +
		strictB64.DecodedLen(len(pseg)) + len(signingInput))
	defer v.scratch.put(bp)
	hb, free, ok := decodeInto(*bp, hseg, 4096)
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
	sig, free, ok := decodeInto(free, sseg, 1024)
	if !ok {
		return nil, nil, errMalformed
	}
	// The payload is decoded now but parsed only once the signature holds.
	pb, free, ok := decodeInto(free, pseg, MaxTokenBytes)
	if !ok {
		return nil, nil, errMalformed
	}
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
			if len(h.Kid) == 0 || k.kid == "" || k.kid == string(h.Kid) {
				cands = append(cands, k)
			}
		}
		for _, s := range v.sources {
			cands = s.find(ctx, h.Kid, cands)
		}
		if len(cands) == 0 {
			return nil, nil, fail(ReasonTokenSignatureKeyNotFound, "JWT signature key was not found.")
		}
		// An RS* digest is computed once, whatever the number of keys tried.
		var digest [sha512.Size]byte
		var hashed []byte
		switch {
		case m.pkcs1 == crypto.SHA256 && signed != nil:
			hashed = signed[:]
		case m.pkcs1 != 0:
			hashed = sum(m.pkcs1, free[:copy(free, signingInput)], &digest)
		}
		for _, k := range cands {
			if !k.fits(h.Alg, m.kind) {
				continue
			}
			if k.verifies(m, signingInput, hashed, sig) {
				used = k
				break
			}
		}
		if used == nil {
			return nil, nil, errSignature
		}
	}
	tok := &Token{Algorithm: h.Alg, Type: h.Typ}
	var keep tokenStrings
	keep.add(&tok.header, hb)
	keep.add(&tok.payload, pb)
	if len(h.Kid) > 0 {
		if used != nil && used.kid == string(h.Kid) {
			tok.KeyID = used.kid
		} else {
			keep.add(&tok.KeyID, h.Kid)
		}
	}
	if e := v.checkClaims(tok, pb, used, now, &keep); e != nil {
		return nil, nil, e
	}
	return tok, used, nil
}

// decodeInto decodes the base64url segment s (at most max characters) into
// the front of buf, returning the bytes and the rest of buf.
func decodeInto(buf []byte, s string, max int) (seg, rest []byte, ok bool) {
	if len(s) > max {
		return nil, buf, false
	}
	n, err := strictB64.Decode(buf, []byte(s))
	if err != nil {
		return nil, buf, false
	}
	return buf[:n:n], buf[n:], true
}

// sum returns the digest of b with h (SHA-256, -384 or -512), in d.
func sum(h crypto.Hash, b []byte, d *[sha512.Size]byte) []byte {
	switch h {
	case crypto.SHA256:
		*(*[sha256.Size]byte)(d[:]) = sha256.Sum256(b)
		return d[:sha256.Size]
	case crypto.SHA384:
		*(*[sha512.Size384]byte)(d[:]) = sha512.Sum384(b)
		return d[:sha512.Size384]
	}
	*d = sha512.Sum512(b)
	return d[:]
}

// scratchPool lends validations their working buffers.
type scratchPool struct{ p sync.Pool }

// maxScratch is the largest buffer kept for reuse; a token's needs are
// bounded by MaxTokenBytes well below it.
const maxScratch = 64 << 10

func (s *scratchPool) get(n int) *[]byte {
	if b, _ := s.p.Get().(*[]byte); b != nil && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, max(n, 4<<10))
	return &b
}

func (s *scratchPool) put(b *[]byte) {
	if cap(*b) <= maxScratch {
		s.p.Put(b)
	}
}

// tokenID sets id to raw's identity in the cache, which keeps no token
// text: the SHA-256 of signed (the SHA-256 of raw before its last ".", at
// dot: for a JWS its signing input) followed by the rest (the signature, or
// a JWE's tag). Equal ids mean equal tokens; signed is the digest an RS256
// verification of the JWS needs.
func (v *Validator) tokenID(raw string, dot int, id, signed *[32]byte) {
	// b holds 32 spare bytes then raw; once the signing input is hashed,
	// its digest is written just before the rest, and both are hashed.
	bp := v.scratch.get(32 + len(raw))
	b := *bp
	copy(b[32:], raw)
	*signed = sha256.Sum256(b[32 : 32+dot])
	copy(b[dot+1:], signed[:])
	*id = sha256.Sum256(b[dot+1:])
	v.scratch.put(bp)
}

// tokenStrings gathers the strings a new Token keeps that are not shared
// (configured issuers, audiences and key ids are), to copy them out of
// the decoded token in one allocation.
type tokenStrings struct {
	n   int
	dst [8]*string
	src [8][]byte
}

func (ts *tokenStrings) add(dst *string, b []byte) {
	if ts.n == len(ts.dst) {
		*dst = string(b)
		return
	}
	ts.dst[ts.n], ts.src[ts.n] = dst, b
	ts.n++
}

// copy sets every gathered string.
func (ts *tokenStrings) copy() {
	size := 0
	for _, b := range ts.src[:ts.n] {
		size += len(b)
	}
	if size == 0 {
		return
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, b := range ts.src[:ts.n] {
		sb.Write(b)
	}
	all := sb.String()
	for i, b := range ts.src[:ts.n] {
		*ts.dst[i], all = all[:len(b)], all[len(b):]
	}
}

// payloadClaims are the members the checks read, raw.
type payloadClaims struct {
	exp, nbf, iat, iss, sub, aud, azp, appid, tid, jti []byte
}

// readClaims fills pc, and required (one slot per required claim).
func (v *Validator) readClaims(pb []byte, pc *payloadClaims, required [][]byte) bool {
	return members(pb, func(name, val []byte) {
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
				required[i] = val
			}
		}
	})
}

// checkClaims runs the lifetime, issuer, audience, client and required-claim
// checks, in that order. The token's strings not shared with configuration
// are gathered in keep and copied once the checks pass.
func (v *Validator) checkClaims(tok *Token, payload []byte, used *verKey, now time.Time, keep *tokenStrings) *Error {
	var pc payloadClaims
	var reqBuf [4][]byte
	required := reqBuf[:0]
	if n := len(v.cfg.RequiredClaims); n <= len(reqBuf) {
		required = reqBuf[:n]
	} else {
		required = make([][]byte, n)
	}
	if !v.readClaims(payload, &pc, required) {
		return errMalformed
	}
	var ok bool
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
	// The issuer is compared as a string, so it is set now: shared with a
	// configured or published issuer when it is one, else copied.
	if iss, isString := jsonBytes(pc.iss); isString {
		if known, found := v.knownIssuer(iss); found {
			tok.Issuer = known
		} else {
			tok.Issuer = string(iss)
		}
	}
	if sub, isString := jsonBytes(pc.sub); isString {
		keep.add(&tok.Subject, sub)
	}
	if jti, isString := jsonBytes(pc.jti); isString {
		keep.add(&tok.ID, jti)
	}
	audOK := false
	if a, isString := jsonBytes(pc.aud); isString {
		tok.Audiences = tok.aud[:1:1]
		if i := slices.IndexFunc(v.cfg.Audiences, func(c string) bool { return c == string(a) }); i >= 0 {
			tok.aud[0], audOK = v.cfg.Audiences[i], true
		} else {
			keep.add(&tok.aud[0], a)
		}
	} else if len(pc.aud) > 0 && pc.aud[0] == '[' {
		var all []any
		_ = json.Unmarshal(pc.aud, &all)
		for _, e := range all {
			if s, ok := e.(string); ok {
				tok.Audiences = append(tok.Audiences, s)
			}
		}
		audOK = anyIn(tok.Audiences, v.cfg.Audiences)
	}
	if !v.issuerAllowed(tok, used, pc.tid) {
		return errIssuer
	}
	if len(v.cfg.Audiences) > 0 && !audOK {
		return errAudience
	}
	if len(v.cfg.ClientApplicationIDs) > 0 {
		name := "azp"
		app, _ := jsonBytes(pc.azp)
		if len(app) == 0 {
			name = "appid"
			app, _ = jsonBytes(pc.appid)
		}
		if len(app) == 0 {
			return fail(ReasonTokenClaimNotFound, "JWT token is missing the following claims: azp. Access denied.")
		}
		if !slices.ContainsFunc(v.cfg.ClientApplicationIDs, func(id string) bool { return id == string(app) }) {
			return fail(ReasonTokenClaimValueNotAllowed, fmt.Sprintf("Claim %s value of %s is not allowed. Access denied.", name, app))
		}
	}
	if e := v.checkRequired(required); e != nil {
		return e
	}
	keep.copy()
	return nil
}

// knownIssuer returns the configured or published issuer iss is, if any.
func (v *Validator) knownIssuer(iss []byte) (string, bool) {
	for _, c := range v.cfg.Issuers {
		if c == string(iss) {
			return c, true
		}
	}
	for _, s := range v.sources {
		if g := s.cur.Load(); g != nil && g.issuer != "" && g.issuer == string(iss) {
			return g.issuer, true
		}
	}
	return "", false
}

// issuerAllowed accepts the configured issuers and, for a token verified
// by a source's key, the issuer that source published.
func (v *Validator) issuerAllowed(tok *Token, used *verKey, tidRaw []byte) bool {
	published := false
	for _, s := range v.sources {
		g := s.cur.Load()
		if g == nil || g.issuer == "" || used == nil || !slices.Contains(g.keys, used) {
			continue
		}
		published = true
		iss := g.issuer
		// Multi-tenant metadata (Entra's /common, /organizations) names
		// the issuer with a {tenantid} placeholder.
		if strings.Contains(iss, "{tenantid}") {
			if tid, _ := jsonString(tidRaw); tid != "" {
				iss = strings.ReplaceAll(iss, "{tenantid}", tid)
			}
		}
		if tok.Issuer != "" && tok.Issuer == iss {
			return true
		}
	}
	if len(v.cfg.Issuers) == 0 && !published {
		return true
	}
	return tok.Issuer != "" && slices.Contains(v.cfg.Issuers, tok.Issuer)
}

func (v *Validator) checkRequired(raws [][]byte) *Error {
	var missing []string
	for i, rc := range v.cfg.RequiredClaims {
		raw := raws[i]
		if len(rc.Values) > 0 {
			// A plain string value is matched in place, split or not.
			if body, isString := jsonBytes(raw); isString && matchString(body, rc) {
				continue
			}
		}
		var val any
		if raw != nil {
			if s, ok := jsonString(raw); ok {
				val = s
			} else {
				val = jsonAny(raw)
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

// matchString reports whether the string claim body satisfies rc, as
// claimValues' split and the matching in checkRequired would, without
// allocating.
func matchString(body []byte, rc Claim) bool {
	matched := 0
	for _, want := range rc.Values {
		if hasPiece(body, rc.Separator, want) {
			matched++
		}
	}
	if rc.Match == "any" {
		return matched > 0
	}
	return matched == len(rc.Values)
}

// hasPiece reports whether want is one of the pieces of s split at sep (s
// itself when sep is empty).
func hasPiece(s []byte, sep, want string) bool {
	if sep == "" {
		return string(s) == want
	}
	sepb := []byte(sep)
	for {
		piece, rest, found := bytes.Cut(s, sepb)
		if string(piece) == want {
			return true
		}
		if !found {
			return false
		}
		s = rest
	}
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

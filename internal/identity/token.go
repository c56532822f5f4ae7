package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/store"
)

const maxFormBody = 64 << 10

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status      int
	code        string
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func oerr(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_request", format, args...)
}

func invalidGrant(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_grant", format, args...)
}

func invalidScope(format string, args ...any) *oauthError {
	return oerr(http.StatusBadRequest, "invalid_scope", format, args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError answers an RFC 6749 error. invalid_client is a 401, with
// WWW-Authenticate when the client tried Basic authentication.
func (p *Provider) writeOAuthError(w http.ResponseWriter, err error, basic bool) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		p.log.Error("identity request failed", "err", err)
		oe = oerr(http.StatusInternalServerError, "server_error", "The server could not complete the request.")
	}
	if oe.code == "invalid_client" {
		oe.status = http.StatusUnauthorized
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="tollgate", charset="UTF-8"`)
		}
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.description})
}

// parseForm reads a bounded urlencoded POST body and refuses repeated
// parameters (RFC 6749 §3.2).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, oerr(http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("The body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest("The body could not be read.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, invalidRequest("The parameter %s is repeated.", k)
		}
	}
	return r.PostForm, nil
}

// client is an authenticated (or identified public) client.
type client struct {
	app           *Application
	authenticated bool // a secret was checked
	basic         bool
}

// authenticateClient applies client_secret_basic, client_secret_post, or
// none (client_id only; the grant decides whether that is enough).
func (p *Provider) authenticateClient(form url.Values, r *http.Request, snap *snapshot) (*client, error) {
	id, secret, basic := r.BasicAuth()
	c := &client{basic: basic}
	if basic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return c, oerr(http.StatusUnauthorized, "invalid_client", "The Authorization header is malformed.")
		}
		if form.Get("client_secret") != "" {
			return c, invalidRequest("Use one client authentication method, not several.")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return c, invalidRequest("client_id does not match the authenticated client.")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return c, oerr(http.StatusUnauthorized, "invalid_client", "The client is not identified (client_id).")
	}
	// One answer for an unknown client and a wrong secret, so the
	// endpoint does not tell which client ids exist.
	failed := oerr(http.StatusUnauthorized, "invalid_client", "Client authentication failed: unknown client, or a wrong, expired or removed secret.")
	app := snap.app(id)
	if app == nil {
		// Hash anyway so unknown and known clients take the same time.
		_ = p.checkSecret(&Application{}, secret)
		return c, failed
	}
	c.app = app
	if basic || secret != "" {
		if !p.checkSecret(app, secret) {
			return c, failed
		}
		c.authenticated = true
	}
	return c, nil
}

// checkSecret compares against every current secret in constant time.
func (p *Provider) checkSecret(app *Application, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	got := []byte(hex.EncodeToString(sum[:]))
	now := p.now()
	ok := 0
	for _, c := range app.PasswordCredentials {
		want := app.SecretHashes[c.KeyID]
		match := subtle.ConstantTimeCompare(got, []byte(want))
		if match == 1 && secretCurrent(c, now) {
			ok = 1
		}
	}
	return ok == 1 && secret != ""
}

func secretCurrent(c PasswordCredential, now time.Time) bool {
	end, err := time.Parse(time.RFC3339, c.EndDateTime)
	if err != nil || !now.Before(end) {
		return false
	}
	if start, err := time.Parse(time.RFC3339, c.StartDateTime); err == nil && now.Before(start.Add(-time.Minute)) {
		return false
	}
	return true
}

// handleToken serves /{tenant}/oauth2/v2.0/token.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	snap, err := p.directory(r.Context())
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	c, err := p.authenticateClient(form, r, snap)
	if err != nil {
		if form.Get("grant_type") == "authorization_code" && form.Get("code") != "" {
			// RFC 9700 §4.5.3: a code presented in a failed redemption is
			// not redeemable afterwards.
			p.burnCode(r.Context(), tokenKey(stateCodePrefix, form.Get("code")))
		}
		p.writeOAuthError(w, err, c.basic)
		return
	}
	var resp any
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		resp, err = p.grantClientCredentials(r.Context(), snap, c, form)
	case "authorization_code":
		resp, err = p.grantAuthorizationCode(r.Context(), snap, c, form)
	case "refresh_token":
		resp, err = p.grantRefreshToken(r.Context(), snap, c, form)
	case "":
		err = invalidRequest("grant_type is required.")
	default:
		err = oerr(http.StatusBadRequest, "unsupported_grant_type", "The grant type %q is not supported (client_credentials, authorization_code, refresh_token).", gt)
	}
	if err != nil {
		p.writeOAuthError(w, err, c.basic)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// accessClaims are the claims of access tokens: RFC 9068's and Entra's.
// scope (RFC 9068) lists every scope granted, the OpenID ones included
// (userinfo answers by it), where scp has only the resource's delegated
// scopes. fid names the sign-in (refresh token family) of a user token,
// so that revoking the family revokes its access tokens too.
type accessClaims struct {
	Iss               string   `json:"iss"`
	Sub               string   `json:"sub"`
	Aud               string   `json:"aud"`
	Exp               int64    `json:"exp"`
	Nbf               int64    `json:"nbf"`
	Iat               int64    `json:"iat"`
	Jti               string   `json:"jti"`
	ClientID          string   `json:"client_id"`
	Azp               string   `json:"azp"`
	Azpacr            string   `json:"azpacr"`
	Tid               string   `json:"tid"`
	Oid               string   `json:"oid"`
	Idtyp             string   `json:"idtyp,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Scope             string   `json:"scope,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Fid               string   `json:"fid,omitempty"`
	Ver               string   `json:"ver"`
}

type idClaims struct {
	Iss               string `json:"iss"`
	Sub               string `json:"sub"`
	Aud               string `json:"aud"`
	Exp               int64  `json:"exp"`
	Nbf               int64  `json:"nbf"`
	Iat               int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	Tid               string `json:"tid"`
	Oid               string `json:"oid"`
	Azp               string `json:"azp,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	Sid               string `json:"sid,omitempty"`
	Ver               string `json:"ver"`
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(prefix, token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefix + hex.EncodeToString(sum[:])
}

// grantClientCredentials issues an app-only token for <resource>/.default.
func (p *Provider) grantClientCredentials(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	if !c.authenticated {
		return nil, oerr(http.StatusUnauthorized, "invalid_client", "The client_credentials grant requires client authentication.")
	}
	scope := strings.TrimSpace(form.Get("scope"))
	parts := strings.Fields(scope)
	if len(parts) != 1 || !strings.HasSuffix(parts[0], "/.default") {
		return nil, invalidScope("The scope must be one <resource>/.default value, e.g. api://<resource app id>/.default.")
	}
	res := findResourceApp(snap.apps, strings.TrimSuffix(parts[0], "/.default"))
	if res == nil {
		return nil, invalidScope("No resource in the directory is named %q.", strings.TrimSuffix(parts[0], "/.default"))
	}
	roles := res.rolesHeld(c.app.AppRoleAssignments, MemberApplication)
	now := p.now()
	claims := accessClaims{
		Iss: p.Issuer(), Sub: c.app.AppID, Aud: res.AppID,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.AccessTokenLifetime).Unix(),
		Jti: uuid.NewString(), ClientID: c.app.AppID, Azp: c.app.AppID, Azpacr: "1",
		Tid: p.Tenant().ID, Oid: c.app.AppID, Idtyp: "app", Roles: roles, Ver: "2.0",
	}
	at, err := p.sign(ctx, claims, true)
	if err != nil {
		return nil, err
	}
	secs := int64(p.opts.AccessTokenLifetime / time.Second)
	return tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at, Scope: parts[0]}, nil
}

// grant is what a sign-in granted: carried by codes and refresh tokens.
type grant struct {
	ClientID string `json:"clientId"`
	UserOID  string `json:"userOid"`
	// Resource is the resource app's appId ("" when only OpenID scopes
	// were asked for); ScopePrefix is how the request named it.
	Resource    string    `json:"resource,omitempty"`
	ScopePrefix string    `json:"scopePrefix,omitempty"`
	Delegated   []string  `json:"delegated,omitempty"`
	OIDC        []string  `json:"oidc,omitempty"`
	AuthTime    time.Time `json:"authTime"`
	Nonce       string    `json:"nonce,omitempty"`
	// Public is set when the client was issued the grant without a secret
	// (SPA or native redirect URI): it need not authenticate later.
	Public bool   `json:"public,omitempty"`
	SID    string `json:"sid,omitempty"`
}

func (g *grant) has(oidcScope string) bool {
	for _, s := range g.OIDC {
		if s == oidcScope {
			return true
		}
	}
	return false
}

func (g *grant) scopeString() string {
	var out []string
	for _, d := range g.Delegated {
		out = append(out, g.ScopePrefix+"/"+d)
	}
	return strings.Join(append(out, g.OIDC...), " ")
}

// codeRecord is an authorization code in the state store.
type codeRecord struct {
	Grant         grant     `json:"grant"`
	RedirectURI   string    `json:"redirectUri"`
	RedirectGiven bool      `json:"redirectGiven"`
	Challenge     string    `json:"challenge,omitempty"`
	Expires       time.Time `json:"expires"`
	// Set when redeemed: what it issued, revoked if it is presented again.
	Used      bool      `json:"used,omitempty"`
	FamilyID  string    `json:"familyId,omitempty"`
	JTI       string    `json:"jti,omitempty"`
	JTIExpiry time.Time `json:"jtiExpiry,omitempty"`
}

const (
	stateCodePrefix    = "identity/code/"
	stateRefreshPrefix = "identity/rt/"
	stateFamilyPrefix  = "identity/rtfam/"
	stateRevokedPrefix = "identity/revoked-jti/"
)

// grantAuthorizationCode redeems a code. Codes are single-use: the first
// redemption marks the code used with compare-and-swap (one winner); a
// later one revokes what the first issued. A failed redemption uses the
// code up too (RFC 9700 §4.5.3), so a guessed verifier or a stolen code
// presented by another client gets one try.
func (p *Provider) grantAuthorizationCode(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	code := form.Get("code")
	if code == "" {
		return nil, invalidRequest("code is required.")
	}
	key := tokenKey(stateCodePrefix, code)
	rec, cr, err := readState[codeRecord](ctx, p.state, key, "code", invalidGrant("The authorization code is invalid or expired."))
	if err != nil {
		return nil, err
	}
	if cr.Used {
		if cr.JTI == "" {
			return nil, invalidGrant("The authorization code is no longer valid.")
		}
		// RFC 6749 §4.1.2: whoever presents it again, what it issued is
		// revoked.
		p.revokeCodeIssue(ctx, &cr)
		return nil, invalidGrant("The authorization code was already used; the tokens it issued are revoked.")
	}
	if !p.now().Before(cr.Expires) {
		return nil, invalidGrant("The authorization code has expired.")
	}
	fail := func(e error) (any, error) {
		p.burnCodeRecord(ctx, key, rec, cr)
		return nil, e
	}
	if cr.Grant.ClientID != c.app.AppID {
		return fail(invalidGrant("The authorization code was issued to another client."))
	}
	if !cr.Grant.Public && !c.authenticated {
		return fail(oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate (client_secret_basic or client_secret_post)."))
	}
	ru := form.Get("redirect_uri")
	if (cr.RedirectGiven || ru != "") && ru != cr.RedirectURI {
		return fail(invalidGrant("redirect_uri does not match the authorization request."))
	}
	verifier, hasVerifier := form["code_verifier"]
	switch {
	case cr.Challenge != "":
		if !hasVerifier || !validVerifier(verifier[0]) {
			return fail(invalidGrant("code_verifier is required (43 to 128 unreserved characters)."))
		}
		sum := sha256.Sum256([]byte(verifier[0]))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(cr.Challenge)) != 1 {
			return fail(invalidGrant("code_verifier does not match the code_challenge."))
		}
	case hasVerifier:
		// RFC 9700 §2.1.1: a verifier for a code issued without a
		// challenge is a PKCE downgrade attempt.
		return fail(invalidGrant("code_verifier was sent but the authorization request had no code_challenge."))
	}
	u := snap.byOID[cr.Grant.UserOID]
	if u == nil || !u.enabled() {
		return fail(invalidGrant("The user is disabled or was removed."))
	}
	if u.signInRevoked(cr.Grant.AuthTime) {
		return fail(invalidGrant("The user's sign-ins were revoked (new password or account change); sign in again."))
	}
	g := cr.Grant
	if err := p.recheckGrant(ctx, snap, c.app, &g); err != nil {
		return fail(err)
	}
	used := cr
	used.Used = true
	used.JTI = uuid.NewString()
	used.JTIExpiry = p.now().Add(p.opts.AccessTokenLifetime)
	// Every sign-in is a family, with or without refresh tokens, so that
	// its access tokens can be revoked together.
	used.FamilyID = uuid.NewString()
	body, _ := json.Marshal(used)
	err = p.state.CompareAndSwap(ctx, key, rec.Value, store.StateRecord{Key: key, Value: body, Expires: rec.Expires})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("The authorization code was already used.")
	} else if err != nil {
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	return p.issueUserTokens(ctx, snap, u, g, used.JTI, used.FamilyID, nil)
}

// burnCode marks a code used without issuing anything, after a failed
// redemption that presented it. Unknown codes are left alone.
func (p *Provider) burnCode(ctx context.Context, key string) {
	rec, err := p.state.Get(ctx, key)
	if err != nil {
		return
	}
	var cr codeRecord
	if json.Unmarshal(rec.Value, &cr) != nil || cr.Used {
		return
	}
	p.burnCodeRecord(ctx, key, rec, cr)
}

func (p *Provider) burnCodeRecord(ctx context.Context, key string, rec store.StateRecord, cr codeRecord) {
	cr.Used = true
	body, _ := json.Marshal(cr)
	// A conflict means a concurrent redemption got there first: that one
	// stands or fails on its own.
	err := p.state.CompareAndSwap(ctx, key, rec.Value, store.StateRecord{Key: key, Value: body, Expires: rec.Expires})
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("invalidate authorization code after a failed redemption", "client", cr.Grant.ClientID, "err", err)
	}
}

// revokeCodeIssue revokes the tokens a reused code had issued.
func (p *Provider) revokeCodeIssue(ctx context.Context, cr *codeRecord) {
	if cr.JTI != "" {
		p.revokeJTI(ctx, cr.JTI, cr.JTIExpiry)
	}
	if cr.FamilyID != "" {
		p.revokeFamily(ctx, cr.FamilyID)
	}
	p.log.Warn("authorization code reused: issued tokens revoked", "client", cr.Grant.ClientID, "user", cr.Grant.UserOID)
}

func (p *Provider) revokeJTI(ctx context.Context, jti string, exp time.Time) {
	if err := p.state.Put(ctx, store.StateRecord{Key: stateRevokedPrefix + jti, Value: []byte("1"), Expires: exp.Add(5 * time.Minute)}); err != nil {
		p.log.Error("revoke access token", "jti", jti, "err", err)
	}
}

func (p *Provider) jtiRevoked(ctx context.Context, jti string) (bool, error) {
	_, err := p.state.Get(ctx, stateRevokedPrefix+jti)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// refreshRecord is one refresh token; family is the sign-in it belongs to.
type refreshRecord struct {
	Grant    grant     `json:"grant"`
	FamilyID string    `json:"familyId"`
	Used     bool      `json:"used,omitempty"`
	Expires  time.Time `json:"expires"`
}

// familyRecord is one sign-in's state: its refresh tokens and the access
// tokens they issued share it. Expires ends refreshing; the record itself
// lives until the last access token of the family has expired, so their
// revocation stays visible.
type familyRecord struct {
	Revoked  bool      `json:"revoked,omitempty"`
	Expires  time.Time `json:"expires"`
	UserOID  string    `json:"userOid,omitempty"`
	AuthTime time.Time `json:"authTime,omitzero"`
}

// familyRecordExpiry is when the record of a family whose refreshing ends
// at end may go: after every access token it issued has expired.
func (p *Provider) familyRecordExpiry(end time.Time) time.Time {
	return end.Add(p.opts.AccessTokenLifetime + 5*time.Minute)
}

var errFamilyEnded = errors.New("the sign-in has ended")

// loadFamily reads a family; errFamilyEnded when it is gone.
func (p *Provider) loadFamily(ctx context.Context, id string) (*familyRecord, error) {
	rec, err := p.state.Get(ctx, stateFamilyPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errFamilyEnded
	} else if err != nil {
		return nil, fmt.Errorf("read refresh token family: %w", err)
	}
	var f familyRecord
	if err := json.Unmarshal(rec.Value, &f); err != nil {
		return nil, fmt.Errorf("decode refresh token family: %w", err)
	}
	return &f, nil
}

// revokeFamily revokes a sign-in: its refresh tokens and its access
// tokens.
func (p *Provider) revokeFamily(ctx context.Context, id string) {
	key := stateFamilyPrefix + id
	f := familyRecord{Expires: p.now().Add(p.opts.RefreshFamilyLifetime)}
	recExp := p.familyRecordExpiry(f.Expires)
	if rec, err := p.state.Get(ctx, key); err == nil {
		var old familyRecord
		if json.Unmarshal(rec.Value, &old) == nil && !old.Expires.IsZero() {
			f = old
		}
		if !rec.Expires.IsZero() {
			recExp = rec.Expires
		}
	}
	f.Revoked = true
	body, _ := json.Marshal(f)
	if err := p.state.Put(ctx, store.StateRecord{Key: key, Value: body, Expires: recExp}); err != nil {
		p.log.Error("revoke refresh token family", "err", err)
	}
}

// recheckGrant narrows g's delegated scopes to those the client still
// holds for the user now: still exposed and enabled by the resource, and
// still granted by an administrator or consented to by the user. It
// refuses when nothing of the resource is left, so a sign-in never keeps
// (or widens to) permissions that were withdrawn.
func (p *Provider) recheckGrant(ctx context.Context, snap *snapshot, client *Application, g *grant) error {
	if g.Resource == "" {
		return nil
	}
	res := snap.app(g.Resource)
	if res == nil {
		return invalidGrant("The resource application of this sign-in was removed.")
	}
	granted, err := p.grantedScopes(ctx, client, g.Resource, g.UserOID)
	if err != nil {
		return err
	}
	var keep []string
	for _, d := range g.Delegated {
		if s := res.findScope(d); s != nil && s.enabled() && s.Value == d && contains(granted, d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return invalidGrant("The permissions of this sign-in were withdrawn or disabled; sign in again.")
	}
	g.Delegated = keep
	return nil
}

// issueUserTokens makes the access token, and the ID token for openid and
// a refresh token (in familyID) for offline_access. fam is nil for a new
// sign-in, whose family it creates.
func (p *Provider) issueUserTokens(ctx context.Context, snap *snapshot, u *User, g grant, jti, familyID string, fam *familyRecord) (*tokenResponse, error) {
	now := p.now()
	client := snap.app(g.ClientID)
	if client == nil {
		return nil, invalidGrant("The client application was removed.")
	}
	offline := g.has("offline_access")
	if fam == nil {
		end := now.Add(p.opts.AccessTokenLifetime)
		if offline {
			end = now.Add(p.opts.RefreshFamilyLifetime)
		}
		fam = &familyRecord{Expires: end, UserOID: u.ObjectID, AuthTime: g.AuthTime}
		body, _ := json.Marshal(fam)
		if err := p.state.Create(ctx, store.StateRecord{Key: stateFamilyPrefix + familyID, Value: body, Expires: p.familyRecordExpiry(end)}); err != nil {
			return nil, fmt.Errorf("create refresh token family: %w", err)
		}
	}
	aud := g.Resource
	if aud == "" {
		aud = g.ClientID // an OpenID-only sign-in: a token for userinfo and the client itself
	}
	var roles []string
	if res := snap.app(g.Resource); res != nil {
		roles = res.rolesHeld(u.AppRoleAssignments, MemberUser)
	}
	azpacr := "1"
	if g.Public {
		azpacr = "0"
	}
	ac := accessClaims{
		Iss: p.Issuer(), Sub: u.ObjectID, Aud: aud,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.AccessTokenLifetime).Unix(),
		Jti: jti, ClientID: g.ClientID, Azp: g.ClientID, Azpacr: azpacr,
		Tid: p.Tenant().ID, Oid: u.ObjectID, Idtyp: "user", Roles: roles, Scp: strings.Join(g.Delegated, " "), Scope: g.scopeString(),
		Name: u.DisplayName, PreferredUsername: u.UserPrincipalName, AuthTime: g.AuthTime.Unix(), Fid: familyID, Ver: "2.0",
	}
	at, err := p.sign(ctx, ac, true)
	if err != nil {
		return nil, err
	}
	secs := int64(p.opts.AccessTokenLifetime / time.Second)
	resp := &tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at, Scope: g.scopeString()}
	if g.has("openid") {
		ic := idClaims{
			Iss: p.Issuer(), Sub: u.ObjectID, Aud: g.ClientID,
			Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.IDTokenLifetime).Unix(),
			AuthTime: g.AuthTime.Unix(), Nonce: g.Nonce, Tid: p.Tenant().ID, Oid: u.ObjectID, Sid: g.SID, Ver: "2.0",
		}
		if g.has("profile") {
			ic.Name, ic.PreferredUsername = u.DisplayName, u.UserPrincipalName
		}
		if g.has("email") {
			ic.Email = u.Mail
		}
		if resp.IDToken, err = p.sign(ctx, ic, false); err != nil {
			return nil, err
		}
	}
	if offline {
		rt := randomToken()
		exp := now.Add(p.opts.RefreshTokenLifetime)
		if exp.After(fam.Expires) {
			exp = fam.Expires
		}
		body, _ := json.Marshal(refreshRecord{Grant: g, FamilyID: familyID, Expires: exp})
		// The record outlives its token's expiry until the family ends, so
		// a rotated token presented again is still recognised as reuse.
		if err := p.state.Create(ctx, store.StateRecord{Key: tokenKey(stateRefreshPrefix, rt), Value: body, Expires: fam.Expires}); err != nil {
			return nil, fmt.Errorf("store refresh token: %w", err)
		}
		resp.RefreshToken = rt
	}
	return resp, nil
}

// grantRefreshToken rotates a refresh token. Presenting an already rotated
// token revokes the whole family (RFC 9700 §4.14.2).
func (p *Provider) grantRefreshToken(ctx context.Context, snap *snapshot, c *client, form url.Values) (any, error) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, invalidRequest("refresh_token is required.")
	}
	key := tokenKey(stateRefreshPrefix, rt)
	rec, rr, err := readState[refreshRecord](ctx, p.state, key, "refresh token", invalidGrant("The refresh token is invalid or expired."))
	if err != nil {
		return nil, err
	}
	if rr.Grant.ClientID != c.app.AppID {
		return nil, invalidGrant("The refresh token was issued to another client.")
	}
	if !rr.Grant.Public && !c.authenticated {
		return nil, oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate (client_secret_basic or client_secret_post).")
	}
	if rr.Used {
		p.revokeFamily(ctx, rr.FamilyID)
		p.log.Warn("refresh token reused: family revoked", "client", rr.Grant.ClientID, "user", rr.Grant.UserOID)
		return nil, invalidGrant("The refresh token was already used; every token of this sign-in is revoked.")
	}
	if !p.now().Before(rr.Expires) {
		return nil, invalidGrant("The refresh token has expired.")
	}
	fam, err := p.loadFamily(ctx, rr.FamilyID)
	if errors.Is(err, errFamilyEnded) {
		return nil, invalidGrant("The refresh token's sign-in has ended.")
	} else if err != nil {
		return nil, err
	}
	if fam.Revoked {
		return nil, invalidGrant("The refresh token was revoked.")
	}
	if !p.now().Before(fam.Expires) {
		return nil, invalidGrant("The refresh token's sign-in has ended; sign in again.")
	}
	g := rr.Grant
	if s := strings.TrimSpace(form.Get("scope")); s != "" {
		// A refresh may narrow the scopes, never widen them.
		want := strings.Fields(s)
		granted := strings.Fields(g.scopeString())
		var deleg, oidc []string
		for _, w := range want {
			found := false
			for _, gs := range granted {
				found = found || gs == w
			}
			if !found {
				return nil, invalidScope("The scope %q was not granted to this refresh token.", w)
			}
			if isOIDCScope(w) {
				oidc = append(oidc, w)
			} else {
				deleg = append(deleg, strings.TrimPrefix(w, g.ScopePrefix+"/"))
			}
		}
		g.Delegated, g.OIDC = deleg, oidc
		if len(deleg) == 0 {
			g.Resource, g.ScopePrefix = "", "" // OpenID scopes only: a token for the client
		}
		if !g.has("offline_access") {
			g.OIDC = append(g.OIDC, "offline_access") // the family goes on
		}
	}
	u := snap.byOID[g.UserOID]
	if u == nil || !u.enabled() {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The user is disabled or was removed.")
	}
	if u.signInRevoked(g.AuthTime) {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The user's sign-ins were revoked (new password or account change); sign in again.")
	}
	if err := p.recheckGrant(ctx, snap, c.app, &g); err != nil {
		return nil, err
	}
	used := rr
	used.Used = true
	body, _ := json.Marshal(used)
	err = p.state.CompareAndSwap(ctx, key, rec.Value, store.StateRecord{Key: key, Value: body, Expires: rec.Expires})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		p.revokeFamily(ctx, rr.FamilyID)
		return nil, invalidGrant("The refresh token was already used; every token of this sign-in is revoked.")
	} else if err != nil {
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	return p.issueUserTokens(ctx, snap, u, g, uuid.NewString(), rr.FamilyID, fam)
}

func isOIDCScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "offline_access":
		return true
	}
	return false
}

// verifyAccessToken checks a token this provider issued: signature by a
// published key, typ, issuer and lifetime.
func (p *Provider) verifyAccessToken(ctx context.Context, raw string) (*accessClaims, error) {
	if len(raw) > 16<<10 {
		return nil, errors.New("token too large")
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must have one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, errors.New("not an access token (typ)")
	}
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	var key *loadedKey
	for _, k := range kc.keys {
		if k.KID == h.KeyID && k.Alg == h.Algorithm {
			key = k
		}
	}
	if key == nil || (!key.NotAfter.IsZero() && key.NotAfter.Before(p.now())) {
		return nil, errors.New("token signed by an unknown key")
	}
	payload, err := jws.Verify(key.signer.Public())
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("decode token claims: %w", err)
	}
	now := p.now().Unix()
	if c.Iss != p.Issuer() {
		return nil, errors.New("token issuer is not this directory")
	}
	if now >= c.Exp {
		return nil, errors.New("token expired")
	}
	if now < c.Nbf-60 {
		return nil, errors.New("token not yet valid")
	}
	return &c, nil
}

// errInactive wraps checkAccessToken's refusals (as opposed to failures
// to read the state).
var errInactive = errors.New("access token is not active")

func inactive(reason string) error { return fmt.Errorf("%w: %s", errInactive, reason) }

// checkAccessToken applies what a token's signature cannot show: the
// token, or the sign-in it belongs to, was revoked; its user was disabled,
// removed, or had their sign-ins revoked; its client application was
// removed. Refusals wrap errInactive.
func (p *Provider) checkAccessToken(ctx context.Context, snap *snapshot, c *accessClaims) error {
	if revoked, err := p.jtiRevoked(ctx, c.Jti); err != nil {
		return err
	} else if revoked {
		return inactive("the token was revoked")
	}
	switch c.Idtyp {
	case "user":
		u := snap.byOID[c.Oid]
		if u == nil || !u.enabled() {
			return inactive("the user is disabled or was removed")
		}
		if c.Fid == "" {
			// Tokens from before families were recorded: auth_time has
			// whole seconds only.
			if c.AuthTime < u.SignInSessionsValidFrom.Unix() {
				return inactive("the user's sign-ins were revoked")
			}
			return nil
		}
		fam, err := p.loadFamily(ctx, c.Fid)
		if errors.Is(err, errFamilyEnded) {
			return inactive("the token's sign-in has ended")
		} else if err != nil {
			return err
		}
		if fam.Revoked {
			return inactive("the token's sign-in was revoked")
		}
		authTime := fam.AuthTime
		if authTime.IsZero() {
			authTime = time.Unix(c.AuthTime, 0)
		}
		if u.signInRevoked(authTime) {
			return inactive("the user's sign-ins were revoked")
		}
		return nil
	case "app":
		if snap.app(c.Azp) == nil {
			return inactive("the client application was removed")
		}
		return nil
	default:
		return inactive("the token has no known idtyp")
	}
}

// VerifyManagementToken checks an access token for the management API:
// issued here, for the built-in management application, still live (see
// checkAccessToken), and carrying Management.ReadWrite.All or
// Management.Read.All. It returns the management roles the token carries
// that its user or application still holds.
func (p *Provider) VerifyManagementToken(ctx context.Context, raw string) ([]string, error) {
	c, err := p.verifyAccessToken(ctx, raw)
	if err != nil {
		return nil, err
	}
	snap, err := p.directory(ctx)
	if err != nil {
		return nil, err
	}
	if snap.mgmtApp == nil || (c.Aud != snap.mgmtApp.AppID && c.Aud != ManagementIdentifier) {
		return nil, errors.New("token audience is not the management API")
	}
	if err := p.checkAccessToken(ctx, snap, c); err != nil {
		return nil, err
	}
	// The roles in the token are those held when it was issued; only the
	// ones still assigned count.
	var held []string
	switch c.Idtyp {
	case "user":
		held = snap.mgmtApp.rolesHeld(snap.byOID[c.Oid].AppRoleAssignments, MemberUser)
	case "app":
		held = snap.mgmtApp.rolesHeld(snap.app(c.Azp).AppRoleAssignments, MemberApplication)
	}
	var roles []string
	for _, r := range c.Roles {
		if (r == RoleManagementReadWrite || r == RoleManagementRead) && contains(held, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, errors.New("token carries no management role its holder still has")
	}
	return roles, nil
}

// readState reads and decodes the state record at key (a code or a refresh
// token); an absent one is notFound, the grant's error for the client.
func readState[T any](ctx context.Context, st store.StateStore, key, what string, notFound error) (store.StateRecord, T, error) {
	var v T
	rec, err := st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return rec, v, notFound
	} else if err != nil {
		return rec, v, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return rec, v, fmt.Errorf("decode %s: %w", what, err)
	}
	return rec, v, nil
}

package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

const (
	authReqLifetime = 10 * time.Minute
	cookieSession   = "tg_session"
	cookieBrowser   = "tg_browser"
)

// authRequest is a validated authorization request waiting for sign-in or
// consent.
type authRequest struct {
	ID            string    `json:"id"`
	ClientID      string    `json:"clientId"`
	RedirectURI   string    `json:"redirectUri"`
	RedirectGiven bool      `json:"redirectGiven"`
	State         string    `json:"state,omitempty"`
	Challenge     string    `json:"challenge,omitempty"`
	Grant         grant     `json:"grant"`
	Prompt        string    `json:"prompt,omitempty"`
	LoginHint     string    `json:"loginHint,omitempty"`
	Expires       time.Time `json:"expires"`
}

type session struct {
	UserOID  string    `json:"userOid"`
	AuthTime time.Time `json:"authTime"`
	SID      string    `json:"sid"`
	Expires  time.Time `json:"expires"`
}

// matchRedirect finds the registered redirect URI the request names:
// exact string match, except that a native app's loopback redirect may use
// any port (RFC 8252 §7.3).
func matchRedirect(app *Application, requested string) (registeredRedirect, bool) {
	regs := app.redirectURIs()
	for _, r := range regs {
		if r.uri == requested {
			return r, true
		}
	}
	ru, err := url.Parse(requested)
	if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) {
		return registeredRedirect{}, false
	}
	for _, r := range regs {
		if !r.native {
			continue
		}
		gu, err := url.Parse(r.uri)
		if err != nil || gu.Scheme != "http" || !isLoopbackIP(gu.Hostname()) {
			continue
		}
		if gu.Hostname() == ru.Hostname() && gu.Path == ru.Path && gu.RawQuery == ru.RawQuery && ru.User == nil && ru.Fragment == "" {
			return r, true
		}
	}
	return registeredRedirect{}, false
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback() || strings.EqualFold(h, "localhost")
}

// scopeSet is the parsed scope parameter of a user sign-in.
type scopeSet struct {
	resource    *Application
	prefix      string
	delegated   []string
	oidc        []string
	needConsent []string // delegated scopes an admin has not granted
	adminOnly   []string // of those, scopes only an admin may consent to
}

// parseScopes resolves delegated scopes: "openid profile email
// offline_access" and "<resource>/<scope>" (or "<resource>/.default" for
// the client's statically required scopes), for one resource.
func parseScopes(snap *snapshot, client *Application, scope string) (*scopeSet, error) {
	ss := &scopeSet{}
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return nil, invalidScope("scope is required (e.g. \"openid api://<resource>/<scope>\").")
	}
	if len(fields) > 50 {
		return nil, invalidScope("Too many scopes.")
	}
	for _, f := range fields {
		if isOIDCScope(f) {
			ss.oidc = appendUnique(ss.oidc, f)
			continue
		}
		i := strings.LastIndexByte(f, '/')
		if i <= 0 {
			return nil, invalidScope("The scope %q is unknown: name it <resource>/<scope>.", f)
		}
		prefix, value := f[:i], f[i+1:]
		res := findResourceApp(snap.apps, prefix)
		if res == nil {
			return nil, invalidScope("No resource in the directory is named %q.", prefix)
		}
		if ss.resource != nil && ss.resource != res {
			return nil, invalidScope("Scopes of several resources were asked for; a token is for one resource.")
		}
		ss.resource, ss.prefix = res, prefix
		if value == ".default" {
			// .default is what the client's registration asks for on the
			// resource, and what an administrator granted it there; never
			// the resource as a whole.
			before := len(ss.delegated)
			ss.delegated = appendUnique(ss.delegated, defaultScopes(snap, client, res)...)
			if len(ss.delegated) == before {
				return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_client", description: fmt.Sprintf(
					"AADSTS650057: Invalid resource. The client has requested access to a resource which is not listed in the requested permissions in the client's application registration (no delegated permission of %s is requested or granted). Client app ID: %s. Resource value: %s.",
					prefix, client.AppID, prefix)}
			}
			continue
		}
		s := res.findScope(value)
		if s == nil || !s.enabled() || s.Value != value {
			return nil, invalidScope("%s exposes no scope %q.", prefix, value)
		}
		ss.delegated = appendUnique(ss.delegated, s.Value)
	}
	if ss.resource != nil {
		var granted []string
		for _, g := range client.OAuth2PermissionGrants {
			if g.ResourceAppID == ss.resource.AppID {
				granted = append(granted, strings.Fields(g.Scope)...)
			}
		}
		for _, d := range ss.delegated {
			if !slices.Contains(granted, d) {
				ss.needConsent = append(ss.needConsent, d)
				if s := ss.resource.findScope(d); s != nil && s.Type == "Admin" {
					ss.adminOnly = append(ss.adminOnly, d)
				}
			}
		}
	}
	return ss, nil
}

// defaultScopes are the enabled delegated scopes of res that client
// lists in requiredResourceAccess or holds by admin consent.
func defaultScopes(snap *snapshot, client *Application, res *Application) []string {
	var out []string
	for _, rra := range client.RequiredResourceAccess {
		if findResourceApp(snap.apps, rra.ResourceAppID) != res {
			continue
		}
		for _, ra := range rra.ResourceAccess {
			if s := res.findScope(ra.ID); ra.Type == "Scope" && s != nil && s.enabled() {
				out = appendUnique(out, s.Value)
			}
		}
	}
	for _, g := range client.OAuth2PermissionGrants {
		if g.ResourceAppID != res.AppID {
			continue
		}
		for _, v := range strings.Fields(g.Scope) {
			if s := res.findScope(v); s != nil && s.enabled() && s.Value == v {
				out = appendUnique(out, v)
			}
		}
	}
	return out
}

// handleAuthorize serves /{tenant}/oauth2/v2.0/authorize.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, http.StatusMethodNotAllowed, "Use GET or POST.")
		return
	}
	var q url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, http.StatusBadRequest, "The request could not be read.")
			return
		}
		q = r.PostForm
	} else {
		if len(r.URL.RawQuery) > 8<<10 {
			p.errorPage(w, http.StatusRequestURITooLong, "The request is too long.")
			return
		}
		q = r.URL.Query()
	}
	for k, v := range q {
		if len(v) > 1 {
			p.errorPage(w, http.StatusBadRequest, "The parameter "+k+" is repeated.")
			return
		}
	}
	ctx := r.Context()
	snap, err := p.directory(ctx)
	if err != nil {
		p.serverError(w, fmt.Errorf("authorize: read directory: %w", err))
		return
	}
	// A bad client or redirect URI is never redirected to.
	app := snap.app(q.Get("client_id"))
	if app == nil {
		p.errorPage(w, http.StatusBadRequest, "The application (client_id) is not registered in this directory.")
		return
	}
	ru := q.Get("redirect_uri")
	var reg registeredRedirect
	if ru == "" {
		regs := app.redirectURIs()
		if len(regs) != 1 {
			p.errorPage(w, http.StatusBadRequest, "redirect_uri is required.")
			return
		}
		reg = regs[0]
	} else {
		var ok bool
		if reg, ok = matchRedirect(app, ru); !ok {
			p.errorPage(w, http.StatusBadRequest, "The redirect_uri is not registered for this application.")
			return
		}
	}
	if ru == "" {
		ru = reg.uri
	}
	state := q.Get("state")
	fail := func(code, desc string) { p.redirectError(w, r, ru, state, code, desc) }
	if q.Get("request") != "" || q.Get("request_uri") != "" {
		fail("request_not_supported", "Request objects are not supported.")
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "Only response_type=code is supported.")
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		fail("invalid_request", "Only response_mode=query is supported.")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge.")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256; plain is not allowed.")
		return
	case challenge != "" && (len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != ""):
		fail("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters).")
		return
	case challenge == "" && reg.public:
		fail("invalid_request", "PKCE (code_challenge with S256) is required for public clients.")
		return
	}
	ss, err := parseScopes(snap, app, q.Get("scope"))
	if err != nil {
		var oe *oauthError
		errors.As(err, &oe)
		fail(oe.code, oe.description)
		return
	}
	if len(ss.adminOnly) > 0 {
		fail("consent_required", "An administrator must consent to "+strings.Join(ss.adminOnly, ", ")+" (grantAdminConsent).")
		return
	}
	prompt := q.Get("prompt")
	if prompt != "" && prompt != "none" && prompt != "login" && prompt != "consent" && prompt != "select_account" {
		fail("invalid_request", "prompt must be none, login, consent or select_account.")
		return
	}
	if len(q.Get("nonce")) > 512 || len(state) > 2048 {
		fail("invalid_request", "nonce or state is too long.")
		return
	}
	ar := &authRequest{
		ID: randomToken(), ClientID: app.AppID, RedirectURI: ru, RedirectGiven: q.Get("redirect_uri") != "",
		State: state, Challenge: challenge, Prompt: prompt, LoginHint: q.Get("login_hint"),
		Expires: p.now().Add(authReqLifetime),
		Grant: grant{ClientID: app.AppID, OIDC: ss.oidc, Delegated: ss.delegated, ScopePrefix: ss.prefix,
			Nonce: q.Get("nonce"), Public: reg.public},
	}
	if ss.resource != nil {
		ar.Grant.Resource = ss.resource.AppID
	}
	sess, _ := p.currentSession(ctx, r, snap)
	if sess != nil && prompt != "login" {
		if ma := q.Get("max_age"); ma != "" {
			var secs int64
			if _, err := fmt.Sscanf(ma, "%d", &secs); err == nil && p.now().Sub(sess.AuthTime) > time.Duration(secs)*time.Second {
				sess = nil
			}
		}
	}
	if sess == nil || prompt == "login" {
		if prompt == "none" {
			fail("login_required", "The user is not signed in.")
			return
		}
		if err := p.saveAuthRequest(ctx, ar); err != nil {
			p.serverError(w, err)
			return
		}
		p.signInPage(w, r, ar, "", http.StatusOK)
		return
	}
	p.afterSignIn(w, r, snap, ar, sess)
}

// afterSignIn asks for consent if needed, then issues the code.
func (p *Provider) afterSignIn(w http.ResponseWriter, r *http.Request, snap *snapshot, ar *authRequest, sess *session) {
	ctx := r.Context()
	ar.Grant.UserOID, ar.Grant.AuthTime, ar.Grant.SID = sess.UserOID, sess.AuthTime, sess.SID
	missing, err := p.missingConsent(ctx, snap, ar)
	if err != nil {
		p.serverError(w, err)
		return
	}
	if len(missing) > 0 || ar.Prompt == "consent" {
		if ar.Prompt == "none" {
			p.redirectError(w, r, ar.RedirectURI, ar.State, "consent_required", "The user has not consented to "+strings.Join(missing, ", ")+".")
			return
		}
		if err := p.saveAuthRequest(ctx, ar); err != nil {
			p.serverError(w, err)
			return
		}
		p.consentPage(w, r, snap, ar, missing)
		return
	}
	p.issueCode(w, r, ar)
}

type consentRecord struct {
	Scopes map[string][]string `json:"scopes"` // resource appId -> scope values
}

func (p *Provider) missingConsent(ctx context.Context, snap *snapshot, ar *authRequest) ([]string, error) {
	if ar.Grant.Resource == "" {
		return nil, nil
	}
	granted, err := p.grantedScopes(ctx, snap.app(ar.ClientID), ar.Grant.Resource, ar.Grant.UserOID)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, d := range ar.Grant.Delegated {
		if !slices.Contains(granted, d) {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

// grantedScopes are the delegated scopes of resource (an appId) that
// client may use for the user: granted by an administrator for everyone,
// or consented to by the user.
func (p *Provider) grantedScopes(ctx context.Context, client *Application, resource, userOID string) ([]string, error) {
	var granted []string
	for _, g := range client.OAuth2PermissionGrants {
		if g.ResourceAppID == resource {
			granted = append(granted, strings.Fields(g.Scope)...)
		}
	}
	cr, err := p.state.Consent(ctx, userOID, client.AppID)
	if err != nil {
		return nil, err
	}
	return append(granted, cr.Scopes[resource]...), nil
}

func (p *Provider) saveAuthRequest(ctx context.Context, ar *authRequest) error {
	if err := p.state.PutAuthRequest(ctx, ar); err != nil {
		return fmt.Errorf("save authorization request: %w", err)
	}
	return nil
}

func (p *Provider) loadAuthRequest(ctx context.Context, id string) (*authRequest, error) {
	if id == "" || len(id) > 100 {
		return nil, store.ErrNotFound
	}
	ar, err := p.state.AuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.now().Before(ar.Expires) {
		return nil, store.ErrNotFound
	}
	return ar, nil
}

// issueCode stores a code bound to the client, redirect URI and PKCE
// challenge and sends the browser back to the client.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar *authRequest) {
	ctx := r.Context()
	code := randomToken()
	now := p.now()
	cr := codeRecord{Grant: ar.Grant, RedirectURI: ar.RedirectURI, RedirectGiven: ar.RedirectGiven, Challenge: ar.Challenge, Expires: now.Add(p.opts.CodeLifetime)}
	// The record outlives the code so that a late reuse is still detected
	// and revokes what the code issued.
	if err := p.state.CreateCode(ctx, code, cr, now.Add(p.opts.CodeLifetime+p.opts.AccessTokenLifetime)); err != nil {
		p.serverError(w, fmt.Errorf("store code: %w", err))
		return
	}
	_ = p.state.DeleteAuthRequest(ctx, ar.ID)
	p.redirect(w, r, ar.RedirectURI, url.Values{"code": {code}}, ar.State)
}

func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, to string, params url.Values, state string) {
	u, err := url.Parse(to)
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "The redirect URI is invalid.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", p.Issuer()) // RFC 9207
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, u.String(), status)
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, to, state, code, desc string) {
	p.redirect(w, r, to, url.Values{"error": {code}, "error_description": {desc}}, state)
}

// browserID returns the browser's CSRF binding cookie, setting one if the
// browser has none.
func (p *Provider) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieBrowser); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(w, &http.Cookie{Name: cookieBrowser, Value: v, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	return v
}

// csrfToken binds a form to the browser and the authorization request:
// another site can neither read the browser cookie nor compute the token.
func csrfToken(browser, reqID string) string {
	sum := sha256.Sum256([]byte("tollgate csrf\x00" + browser + "\x00" + reqID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func checkCSRF(r *http.Request, reqID string) bool {
	c, err := r.Cookie(cookieBrowser)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(csrfToken(c.Value, reqID))) == 1
}

// readPageForm reads the POST of the sign-in or consent page: the form,
// its authorization request, its CSRF token, and the directory. On failure
// it has answered with an error page.
func (p *Provider) readPageForm(w http.ResponseWriter, r *http.Request, page string) (*authRequest, *snapshot, bool) {
	if r.Method != http.MethodPost {
		p.errorPage(w, http.StatusMethodNotAllowed, "Use the "+page+" form.")
		return nil, nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return nil, nil, false
	}
	ar, err := p.loadAuthRequest(r.Context(), r.PostForm.Get("req"))
	if errors.Is(err, ErrUnavailable) {
		p.serverError(w, err)
		return nil, nil, false
	}
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "This "+page+" request has expired. Go back to the application and start again.")
		return nil, nil, false
	}
	if !checkCSRF(r, ar.ID) {
		p.errorPage(w, http.StatusForbidden, "The form was not sent by this "+page+" page (CSRF check failed).")
		return nil, nil, false
	}
	snap, err := p.directory(r.Context())
	if err != nil {
		p.serverError(w, err)
		return nil, nil, false
	}
	return ar, snap, true
}

// clientAddr is the peer address. Forwarded headers are not trusted: a
// proxy in front should be configured to limit by address itself.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

package portal

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

const (
	// Cookie names; behind https they carry the __Host- prefix, which
	// browsers accept only with Secure, Path=/ and no Domain.
	cookieSession = "tgp_session"
	cookieBrowser = "tgp_browser"
	stateSession  = "portal/session/"
	stateLogin    = "portal/login/"
	loginLifetime = 10 * time.Minute
	maxFormBytes  = 64 << 10
	// AppPath is the portal's application in the built-in directory.
	AppPath = identity.PortalAppPath
)

// session is a signed-in developer.
type session struct {
	UserID  string    `json:"userId"` // the management /users/{id}
	Name    string    `json:"name"`
	Email   string    `json:"email"`
	Expires time.Time `json:"expires"`
	// IDToken is sent back as id_token_hint on sign-out, so the identity
	// provider ends its session without asking again.
	IDToken string `json:"idToken,omitempty"`
}

type loginState struct {
	Verifier string    `json:"verifier"`
	Nonce    string    `json:"nonce"`
	Return   string    `json:"return"`
	Browser  string    `json:"browser"`
	Expires  time.Time `json:"expires"`
}

// Bootstrap registers the portal in the built-in directory (once), as a
// single-page-application client: public, PKCE, with the portal's
// sign-in callback and home page as its redirect URIs.
func (p *Portal) Bootstrap(ctx context.Context) error {
	want := []string{p.base + "/signin-oidc", p.base + "/"}
	rec, err := p.store.Get(ctx, AppPath)
	var app struct {
		AppID string `json:"appId"`
		SPA   *struct {
			RedirectURIs []string `json:"redirectUris"`
		} `json:"spa"`
	}
	switch {
	case err == nil:
		if err := json.Unmarshal(rec.Body, &app); err != nil {
			return fmt.Errorf("portal bootstrap: decode %s: %w", AppPath, err)
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		return fmt.Errorf("portal bootstrap: read %s: %w", AppPath, err)
	}
	has := app.SPA != nil
	for _, u := range want {
		if has && !slices.Contains(app.SPA.RedirectURIs, u) {
			has = false
		}
	}
	if !has {
		uris := want
		if app.SPA != nil {
			for _, u := range app.SPA.RedirectURIs {
				if !slices.Contains(uris, u) {
					uris = append(uris, u)
				}
			}
		}
		body, _ := json.Marshal(map[string]any{
			"displayName": "Tollgate Developer Portal",
			"description": "The developer portal of this Tollgate installation; users sign in to it.",
			"spa":         map[string]any{"redirectUris": uris},
		})
		rec, _, err = p.mgmt.Put(ctx, AppPath, body, "", err == nil)
		if err != nil {
			return fmt.Errorf("portal bootstrap: register the portal application with the redirect URI %s (the identity provider takes https, or http on a loopback host; set the portal's public URL to the one browsers use): %w", want[0], err)
		}
		if err := json.Unmarshal(rec.Body, &app); err != nil {
			return fmt.Errorf("portal bootstrap: decode %s: %w", AppPath, err)
		}
	}
	if app.AppID == "" {
		return fmt.Errorf("portal bootstrap: %s has no appId", AppPath)
	}
	p.clientID = app.AppID
	return p.sync.sync(ctx)
}

func (p *Portal) cookie(name string) string {
	if p.secure {
		return "__Host-" + name
	}
	return name
}

func hashKey(prefix, token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// browser returns the browser cookie's value, setting one if missing.
func (p *Portal) browser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(p.cookie(cookieBrowser)); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	v := randomHex(16)
	http.SetCookie(w, &http.Cookie{Name: p.cookie(cookieBrowser), Value: v, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	return v
}

// csrfToken binds forms to the browser cookie: another site can neither
// read the cookie nor compute the token from it.
func csrfToken(browser string) string {
	sum := sha256.Sum256([]byte("tollgate portal csrf\x00" + browser))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p *Portal) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(p.cookie(cookieBrowser))
	if err != nil || len(c.Value) != 32 {
		return false
	}
	got := r.PostForm.Get("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(c.Value))) != 1 {
		return false
	}
	// Defence in depth: a browser that names the origin must name ours.
	if o := r.Header.Get("Origin"); o != "" && o != p.origin {
		return false
	}
	return true
}

// currentSession returns the signed-in developer, or nil.
func (p *Portal) currentSession(r *http.Request) (*session, string) {
	c, err := r.Cookie(p.cookie(cookieSession))
	if err != nil || len(c.Value) != 64 {
		return nil, ""
	}
	key := hashKey(stateSession, c.Value)
	rec, err := p.state.Get(r.Context(), key)
	if err != nil {
		return nil, ""
	}
	var s session
	if json.Unmarshal(rec.Value, &s) != nil || !p.now().Before(s.Expires) {
		return nil, ""
	}
	// A blocked or deleted developer is signed out at once.
	p.view.mu.RLock()
	state, ok := p.view.users[s.UserID]
	p.view.mu.RUnlock()
	if !ok || state != "active" {
		return nil, ""
	}
	return &s, key
}

// pageData is what every template gets.
type pageData struct {
	Title    string
	Message  string
	Error    string
	Settings resource.PortalSettings
	User     *session
	CSRF     string
	Base     string
	Path     string
	Scripts  []string
	Data     any
}

type handler func(w http.ResponseWriter, r *http.Request, s *session) (status int, tmpl string, d *pageData)

// page wraps a GET page handler: it brings the view up to date and
// renders the template the handler names.
func (p *Portal) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { p.run(w, r, h) }
}

// form wraps a POST handler: bounded body and CSRF check first.
func (p *Portal) form(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.render(w, r, http.StatusBadRequest, "message", &pageData{Title: "Bad request", Message: "The form could not be read."})
			return
		}
		if !p.checkCSRF(r) {
			p.log.Warn("portal: form refused: CSRF check failed", "path", r.URL.Path)
			p.render(w, r, http.StatusForbidden, "message", &pageData{Title: "Form refused",
				Message: "This form was not sent from this portal's page (CSRF check failed). Go back, reload the page and try again."})
			return
		}
		p.run(w, r, h)
	}
}

// run brings the view up to date, finds the session and renders what the
// handler returns (nothing when it answered itself).
func (p *Portal) run(w http.ResponseWriter, r *http.Request, h handler) {
	if err := p.sync.sync(r.Context()); err != nil {
		p.serverError(w, r, err)
		return
	}
	s, _ := p.currentSession(r)
	status, tmpl, d := h(w, r, s)
	if tmpl == "" {
		return
	}
	d.User = s
	p.render(w, r, status, tmpl, d)
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, tmpl string, d *pageData) {
	p.view.mu.RLock()
	d.Settings = p.view.settings
	p.view.mu.RUnlock()
	d.CSRF = csrfToken(p.browser(w, r))
	d.Base = p.base
	d.Path = r.URL.Path
	pages, err := p.pages()
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	t := pages[tmpl]
	if t == nil {
		p.serverError(w, r, fmt.Errorf("no template %q", tmpl))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", d); err != nil {
		p.log.Error("portal: render", "template", tmpl, "err", err)
	}
}

func (p *Portal) serverError(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Error("portal: request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "<!doctype html><title>Error</title><p>The portal could not complete the request.</p>")
}

// needSignIn sends an anonymous visitor to sign in and back.
func (p *Portal) needSignIn(w http.ResponseWriter, r *http.Request) (int, string, *pageData) {
	ret := r.URL.Path
	if r.Method != http.MethodGet {
		ret = "/"
		if ref := r.Referer(); strings.HasPrefix(ref, p.base+"/") {
			ret = strings.TrimPrefix(ref, p.base)
		}
	}
	http.Redirect(w, r, p.base+"/signin?return="+url.QueryEscape(ret), http.StatusSeeOther)
	return 0, "", nil
}

func (p *Portal) redirect(w http.ResponseWriter, r *http.Request, path string) (int, string, *pageData) {
	http.Redirect(w, r, p.base+path, http.StatusSeeOther)
	return 0, "", nil
}

// safeReturn keeps a return path on the portal.
func safeReturn(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") || len(s) > 512 {
		return "/"
	}
	return s
}

// handleSignIn starts the authorization code flow with PKCE.
func (p *Portal) handleSignIn(w http.ResponseWriter, r *http.Request) {
	ls := loginState{Verifier: randomHex(32), Nonce: randomHex(16), Return: safeReturn(r.URL.Query().Get("return")),
		Browser: p.browser(w, r), Expires: p.now().Add(loginLifetime)}
	state := randomHex(16)
	body, _ := json.Marshal(ls)
	if err := p.state.Put(r.Context(), store.StateRecord{Key: stateLogin + state, Value: body, Expires: ls.Expires}); err != nil {
		p.serverError(w, r, fmt.Errorf("store sign-in state: %w", err))
		return
	}
	sum := sha256.Sum256([]byte(ls.Verifier))
	q := url.Values{
		"client_id": {p.clientID}, "response_type": {"code"}, "redirect_uri": {p.base + "/signin-oidc"},
		"scope": {"openid profile email"}, "state": {state}, "nonce": {ls.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	if hint := r.URL.Query().Get("login_hint"); hint != "" && len(hint) < 256 {
		q.Set("login_hint", hint)
	}
	http.Redirect(w, r, p.metadata("authorization_endpoint")+"?"+q.Encode(), http.StatusSeeOther)
}

// idClaims are the ID token claims the portal reads.
type idClaims struct {
	Iss               string `json:"iss"`
	Aud               any    `json:"aud"`
	Exp               int64  `json:"exp"`
	Nonce             string `json:"nonce"`
	OID               string `json:"oid"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

// handleCallback finishes the sign-in: it redeems the code with the PKCE
// verifier and opens a portal session for the management user.
func (p *Portal) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	fail := func(status int, msg string) {
		p.render(w, r, status, "message", &pageData{Title: "Sign-in failed", Message: msg})
	}
	state := q.Get("state")
	if len(state) != 32 {
		fail(http.StatusBadRequest, "The sign-in response is missing its state. Start again from the portal's Sign in link.")
		return
	}
	rec, err := p.state.Take(ctx, stateLogin+state)
	if err != nil {
		fail(http.StatusBadRequest, "This sign-in has expired or was already used. Start again from the portal's Sign in link.")
		return
	}
	var ls loginState
	if json.Unmarshal(rec.Value, &ls) != nil || !p.now().Before(ls.Expires) {
		fail(http.StatusBadRequest, "This sign-in has expired. Start again.")
		return
	}
	if c, err := r.Cookie(p.cookie(cookieBrowser)); err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(ls.Browser)) != 1 {
		fail(http.StatusBadRequest, "This sign-in was started in another browser.")
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusBadRequest, "The identity provider refused the sign-in: "+e+": "+q.Get("error_description"))
		return
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {p.clientID}, "code": {q.Get("code")},
		"redirect_uri": {p.base + "/signin-oidc"}, "code_verifier": {ls.Verifier}}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if status, err := p.postToken(ctx, p.metadata("token_endpoint"), form, "", "", &tok); err != nil || status != http.StatusOK {
		p.log.Warn("portal: sign-in code redemption failed", "status", status, "err", err)
		fail(http.StatusBadGateway, "The identity provider did not accept the sign-in code. Start again.")
		return
	}
	// The ID token comes straight from the token endpoint over the
	// back channel (OpenID Connect Core §3.1.3.7), so its claims are
	// checked without re-verifying the signature.
	c, err := decodeClaims(tok.IDToken)
	if err != nil || c.Iss != p.metadata("issuer") || !audHas(c.Aud, p.clientID) || c.Nonce != ls.Nonce || c.OID == "" || p.now().Unix() > c.Exp {
		fail(http.StatusBadGateway, "The identity provider's ID token did not match this sign-in.")
		return
	}
	userID, email, err := p.userFor(r, c)
	if errors.Is(err, errNotActive) {
		fail(http.StatusForbidden, "This account is not active in the portal. Ask the portal's operator.")
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	token := randomHex(32)
	s := session{UserID: userID, Name: cmp.Or(c.Name, c.PreferredUsername), Email: email, Expires: p.now().Add(p.opts.SessionLifetime), IDToken: tok.IDToken}
	body, _ := json.Marshal(s)
	if err := p.state.Put(ctx, store.StateRecord{Key: hashKey(stateSession, token), Value: body, Expires: s.Expires}); err != nil {
		p.serverError(w, r, fmt.Errorf("store session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookie(cookieSession), Value: token, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(p.opts.SessionLifetime / time.Second)})
	p.log.Info("portal: developer signed in", "user", userID)
	http.Redirect(w, r, p.base+ls.Return, http.StatusSeeOther)
}

func audHas(aud any, v string) bool {
	switch a := aud.(type) {
	case string:
		return a == v
	case []any:
		for _, x := range a {
			if s, _ := x.(string); s == v {
				return true
			}
		}
	}
	return false
}

func decodeClaims(jwt string) (*idClaims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || len(jwt) > 16<<10 {
		return nil, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c idClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// errNotActive refuses a sign-in of a blocked (or pending, deleted)
// management user.
var errNotActive = errors.New("the developer's account is not active")

// userFor finds the directory user of an ID token and returns the
// management user that subscriptions and applications belong to
// (/users/{the directory user's name}), making it on first sign-in.
func (p *Portal) userFor(r *http.Request, c *idClaims) (id, email string, err error) {
	ctx := r.Context()
	recs, err := p.store.List(ctx, "directory/users", "")
	if err != nil {
		return "", "", fmt.Errorf("list directory users: %w", err)
	}
	name := ""
	var du struct {
		ObjectID string `json:"objectId"`
		UPN      string `json:"userPrincipalName"`
		Mail     string `json:"mail"`
		Display  string `json:"displayName"`
	}
	for _, rec := range recs {
		if json.Unmarshal(rec.Body, &du) == nil && strings.EqualFold(du.ObjectID, c.OID) {
			name = rec.ID[strings.LastIndexByte(rec.ID, '/')+1:]
			break
		}
		du.ObjectID = ""
	}
	if name == "" {
		return "", "", fmt.Errorf("directory user with objectId %s not found", c.OID)
	}
	id = "/users/" + name
	email = cmp.Or(du.Mail, c.Email)
	if email == "" && strings.Contains(du.UPN, "@") {
		email = du.UPN
	}
	if rec, err := p.store.Get(ctx, id); err == nil {
		var u struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(rec.Body, &u); err != nil {
			return "", "", fmt.Errorf("decode %s: %w", id, err)
		}
		if u.State != "active" {
			return "", "", errNotActive
		}
		return id, email, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("read %s: %w", id, err)
	}
	if email == "" {
		email = name + "@users.invalid"
	}
	first, last, _ := strings.Cut(cmp.Or(du.Display, name), " ")
	body, _ := json.Marshal(map[string]string{"email": email, "firstName": first, "lastName": last})
	if _, _, err := p.mgmt.Put(actingFor(r, id), id, body, "", false); err != nil {
		return "", "", fmt.Errorf("create %s: %w", id, err)
	}
	return id, email, nil
}

// postToken posts a token request and decodes the JSON answer into out.
func (p *Portal) postToken(ctx context.Context, endpoint string, form url.Values, basicID, basicSecret string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("token request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read token response: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode token response (status %d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

func (p *Portal) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	q := url.Values{"client_id": {p.clientID}, "post_logout_redirect_uri": {p.base + "/"}}
	if cur, key := p.currentSession(r); key != "" {
		if cur != nil && cur.IDToken != "" {
			q.Set("id_token_hint", cur.IDToken)
		}
		_ = p.state.Delete(r.Context(), key)
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookie(cookieSession), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	// End the identity provider's sign-in too, then come back home.
	http.Redirect(w, r, p.metadata("end_session_endpoint")+"?"+q.Encode(), http.StatusSeeOther)
	return 0, "", nil
}

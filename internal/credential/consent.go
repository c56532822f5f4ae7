package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Consent: getLoginLinks makes a single-use link (sealed, 10 minutes) to a
// confirmation page on the portal listener; a deliberate click there sends
// the browser to the provider (state single use, PKCE where the provider
// takes it); the callback exchanges the code, seals the tokens and sends
// the browser on to the postLoginRedirectUrl given with the link.

//go:embed pages/*.html
var pageFiles embed.FS

// pages are parsed on first use: a node that runs no consent flow never
// holds them.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(pageFiles, "pages/*.html"))
})

// LoginLinkLifetime is how long a login link and a consent flow last.
const LoginLinkLifetime = 10 * time.Minute

const linkAAD = "credential-manager/login-link"

// maxForm bounds what the consent pages read from a request.
const maxForm = 16 << 10

// loginLink is what a login link carries, sealed.
type loginLink struct {
	Conn     string `json:"c"`
	UID      string `json:"u"`
	Redirect string `json:"r"`
	Expires  int64  `json:"x"`
	Nonce    string `json:"n"`
}

// consentFlow is a consent in progress, under its state value.
type consentFlow struct {
	Conn     string `json:"c"`
	UID      string `json:"u"`
	Redirect string `json:"r"`
	Verifier string `json:"v,omitempty"`
}

func (m *Manager) getLoginLinks(_ context.Context, _ store.Tx, id string, cur resource.Resource, body []byte) (int, any, error) {
	c := cur.(*resource.ProviderAuthorization)
	if c.OAuth2GrantType != "AuthorizationCode" {
		return 0, nil, validation("oauth2grantType", "login links are for AuthorizationCode authorizations; %s is %s", id, c.OAuth2GrantType)
	}
	if m.opts.PortalURL == "" {
		return 0, nil, validation("loginLink", "the portal listener is off: consent pages need it (--portal-addr)")
	}
	var req struct {
		PostLoginRedirectURL string `json:"postLoginRedirectUrl"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, nil, validation("body", "must be {\"postLoginRedirectUrl\": \"https://...\"}: %v", err)
	}
	if err := checkRedirect(req.PostLoginRedirectURL); err != nil {
		return 0, nil, validation("postLoginRedirectUrl", "%v", err)
	}
	l := loginLink{Conn: id, UID: c.UID, Redirect: req.PostLoginRedirectURL, Expires: m.opts.Now().Add(LoginLinkLifetime).Unix(), Nonce: newID()}
	b, _ := json.Marshal(l)
	sealed, err := m.opts.Keyring.Seal(b, []byte(linkAAD))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"loginLink": m.opts.PortalURL + Prefix + "login?link=" + sealed}, nil
}

func checkRedirect(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	if len(s) > 2048 {
		return errors.New("must be at most 2048 characters")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}

// Handler serves the consent pages under Prefix; the portal listener
// mounts it.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"login", m.serveConfirm)
	mux.HandleFunc("POST "+Prefix+"login", m.serveStart)
	mux.HandleFunc("GET "+Prefix+"callback", m.serveCallback)
	mux.HandleFunc("POST "+Prefix+"callback", m.serveCallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		mux.ServeHTTP(w, r)
	})
}

func (m *Manager) page(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages().ExecuteTemplate(w, name, data); err != nil {
		m.log.Error("credential manager: render page", "page", name, "err", err)
	}
}

func (m *Manager) errorPage(w http.ResponseWriter, status int, title, msg string) {
	m.page(w, status, "error.html", map[string]any{"Title": title, "Message": msg})
}

// openLink reads and checks a login link.
func (m *Manager) openLink(ctx context.Context, raw string) (*loginLink, error) {
	if raw == "" || len(raw) > 4096 {
		return nil, errors.New("This login link is not valid.")
	}
	b, err := m.opts.Keyring.Open(raw, []byte(linkAAD))
	if err != nil {
		return nil, errors.New("This login link is not valid.")
	}
	var l loginLink
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, errors.New("This login link is not valid.")
	}
	if m.opts.Now().Unix() > l.Expires {
		return nil, errors.New("This login link has expired (links last 10 minutes).")
	}
	if _, err := m.opts.Store.State().Get(ctx, linkStatePrefix+l.Nonce); err == nil {
		return nil, errors.New("This login link was already used (links work once).")
	}
	return &l, nil
}

// linkTarget reads a link's connection and provider.
func (m *Manager) linkTarget(ctx context.Context, l *loginLink) (*resource.ProviderAuthorization, *resource.AuthorizationProvider, *endpoints, error) {
	conn, ep, _, err := m.connection(ctx, l.Conn)
	if err != nil || conn.UID != l.UID {
		return nil, nil, nil, errors.New("The authorization this link is for no longer exists.")
	}
	prec, err := m.opts.Store.Get(ctx, resource.ParentOf(&resource.Kind{Pattern: "/authorizationProviders/{}/authorizations/{}"}, l.Conn))
	if err != nil {
		return nil, nil, nil, errors.New("The authorization this link is for no longer exists.")
	}
	p, err := decode[resource.AuthorizationProvider](prec)
	if err != nil {
		return nil, nil, nil, err
	}
	return conn, p, ep, nil
}

func (m *Manager) serveConfirm(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("link")
	l, err := m.openLink(r.Context(), raw)
	if err != nil {
		m.errorPage(w, http.StatusBadRequest, "Login link not usable", err.Error())
		return
	}
	conn, p, ep, err := m.linkTarget(r.Context(), l)
	if err != nil {
		m.errorPage(w, http.StatusNotFound, "Login link not usable", err.Error())
		return
	}
	ru, _ := url.Parse(l.Redirect)
	m.page(w, http.StatusOK, "confirm.html", map[string]any{
		"Title": "Connect " + p.DisplayName, "ProviderName": p.DisplayName, "ProviderID": p.Name, "AuthorizationID": conn.Name,
		"Scopes": ep.scopeString(), "RedirectHost": ru.Host, "Expires": time.Unix(l.Expires, 0).UTC().Format("15:04 UTC"),
		"Action": Prefix + "login", "Link": raw,
	})
}

// serveStart is the deliberate click: it uses up the link and sends the
// browser to the provider.
func (m *Manager) serveStart(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		m.errorPage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	ctx := r.Context()
	l, err := m.openLink(ctx, r.PostForm.Get("link"))
	if err != nil {
		m.errorPage(w, http.StatusBadRequest, "Login link not usable", err.Error())
		return
	}
	_, _, ep, err := m.linkTarget(ctx, l)
	if err != nil {
		m.errorPage(w, http.StatusNotFound, "Login link not usable", err.Error())
		return
	}
	// Single use: exactly one request takes the link.
	err = m.opts.Store.State().Create(ctx, store.StateRecord{Key: linkStatePrefix + l.Nonce, Value: []byte("used"), Expires: time.Now().Add(LoginLinkLifetime + time.Minute)})
	if errors.Is(err, store.ErrConflict) {
		m.errorPage(w, http.StatusBadRequest, "Login link not usable", "This login link was already used (links work once).")
		return
	}
	if err != nil {
		m.serverError(w, err)
		return
	}
	flow := consentFlow{Conn: l.Conn, UID: l.UID, Redirect: l.Redirect}
	q := url.Values{"client_id": {ep.clientID}, "response_type": {"code"}, "redirect_uri": {m.RedirectURL()}}
	if s := ep.scopeString(); s != "" {
		q.Set("scope", s)
	}
	if ep.preset.PKCE {
		b := make([]byte, 32)
		rand.Read(b)
		flow.Verifier = base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(flow.Verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	for k, v := range ep.preset.AuthorizationParams {
		q.Set(k, v)
	}
	state := newID()
	q.Set("state", state)
	fb, _ := json.Marshal(flow)
	if err := m.opts.Store.State().Put(ctx, store.StateRecord{Key: flowStatePrefix + state, Value: fb, Expires: time.Now().Add(LoginLinkLifetime)}); err != nil {
		m.serverError(w, err)
		return
	}
	sep := "?"
	if strings.Contains(ep.authorizeURL, "?") {
		sep = "&"
	}
	http.Redirect(w, r, ep.authorizeURL+sep+q.Encode(), http.StatusSeeOther)
}

func (m *Manager) serverError(w http.ResponseWriter, err error) {
	m.log.Error("credential manager: consent page failed", "err", err)
	m.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The request failed because of an internal error.")
}

// serveCallback finishes consent: the provider's redirect (GET), or the
// same parameters posted by automation that got the code another way.
func (m *Manager) serveCallback(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		m.errorPage(w, http.StatusBadRequest, "Bad request", "The request could not be read.")
		return
	}
	ctx := r.Context()
	state := r.Form.Get("state")
	if state == "" || len(state) > 128 {
		m.errorPage(w, http.StatusBadRequest, "Sign-in not recognised", "The provider's answer carries no valid state.")
		return
	}
	rec, err := m.opts.Store.State().Take(ctx, flowStatePrefix+state)
	if errors.Is(err, store.ErrNotFound) {
		m.errorPage(w, http.StatusBadRequest, "Sign-in not recognised", "This sign-in is unknown, expired or already finished (the state does not match).")
		return
	}
	if err != nil {
		m.serverError(w, err)
		return
	}
	var flow consentFlow
	if err := json.Unmarshal(rec.Value, &flow); err != nil {
		m.serverError(w, err)
		return
	}
	if code := r.Form.Get("error"); code != "" {
		issue := &resource.AuthorizationIssue{Code: truncate(code, 100), Message: truncate(r.Form.Get("error_description"), 500)}
		m.setStatus(ctx, flow.Conn, flow.UID, resource.AuthorizationError, issue, time.Time{})
		m.errorPage(w, http.StatusBadRequest, "Consent not given", "The provider answered: "+issueText(issue))
		return
	}
	code := r.Form.Get("code")
	if code == "" || len(code) > 4096 {
		m.errorPage(w, http.StatusBadRequest, "Consent not finished", "The provider's answer carries no authorization code.")
		return
	}
	if err := m.finishConsent(ctx, flow, code); err != nil {
		var pe *providerError
		msg := "The authorization code could not be exchanged."
		if errors.As(err, &pe) {
			msg = "The provider refused the authorization code: " + pe.Error()
		} else {
			m.log.Error("credential manager: finish consent", "authorization", flow.Conn, "err", err)
		}
		m.errorPage(w, http.StatusBadGateway, "Consent not finished", msg)
		return
	}
	http.Redirect(w, r, flow.Redirect, http.StatusSeeOther)
}

// finishConsent exchanges the code and stores the tokens.
func (m *Manager) finishConsent(ctx context.Context, flow consentFlow, code string) error {
	conn, ep, _, err := m.connection(ctx, flow.Conn)
	if err != nil {
		return err
	}
	if conn.UID != flow.UID {
		return fmt.Errorf("authorization %s was made again since the link was issued", flow.Conn)
	}
	ts, err := m.exchangeCode(ctx, ep, code, m.RedirectURL(), flow.Verifier)
	if err != nil {
		issue := &resource.AuthorizationIssue{Code: "CodeExchangeFailed", Message: "the token endpoint could not be reached"}
		var pe *providerError
		if errors.As(err, &pe) {
			issue = &resource.AuthorizationIssue{Code: pe.Code, Message: pe.Message}
		}
		m.setStatus(ctx, flow.Conn, flow.UID, resource.AuthorizationError, issue, time.Time{})
		return err
	}
	key := tokenKey(flow.Conn, flow.UID)
	st, err := m.readState(ctx, key)
	if err != nil {
		return err
	}
	next := &tokenState{RefreshedAt: m.opts.Now()}
	if st != nil {
		next.Gen = st.Gen
	}
	next.Gen++
	if err := m.writeState(ctx, key, next, ts); err != nil {
		return fmt.Errorf("store tokens of %s: %w", flow.Conn, err)
	}
	m.evict(flow.Conn)
	m.setStatus(ctx, flow.Conn, flow.UID, resource.AuthorizationConnected, nil, ts.ExpiresAt)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

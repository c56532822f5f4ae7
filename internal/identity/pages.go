package identity

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"sync"
)

// The sign-in, consent, logout and message pages, and their style sheet
// (inlined, so the pages need nothing but themselves).
//
//go:embed pages/*.html pages/style.css
var pageFiles embed.FS

// pages are parsed on first use: a node that signs nobody in (a gateway)
// never holds them.
var pages = sync.OnceValue(func() *template.Template {
	css, err := pageFiles.ReadFile("pages/style.css")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return template.Must(template.New("pages").Funcs(template.FuncMap{
		"style": func() template.CSS { return template.CSS(css) },
	}).ParseFS(pageFiles, "pages/*.html"))
})

// pageHeaders forbid framing and caching of the HTML pages.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (p *Provider) tenantPath() string { return "/" + p.Tenant().ID }

func (p *Provider) signInPage(w http.ResponseWriter, r *http.Request, ar *authRequest, msg string, status int) {
	snap, err := p.directory(r.Context())
	if err != nil {
		p.serverError(w, err)
		return
	}
	name := ar.ClientID
	if a := snap.app(ar.ClientID); a != nil {
		name = a.DisplayName
	}
	b := p.browserID(w, r)
	pageHeaders(w)
	w.WriteHeader(status)
	_ = pages().ExecuteTemplate(w, "signin", map[string]any{
		"Title": "Sign in", "App": name, "Error": msg, "Req": ar.ID, "CSRF": csrfToken(b, ar.ID), "Hint": ar.LoginHint,
		"Action": p.tenantPath() + "/oauth2/v2.0/signin",
	})
}

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request, snap *snapshot, ar *authRequest, missing []string) {
	name := ar.ClientID
	if a := snap.app(ar.ClientID); a != nil {
		name = a.DisplayName
	}
	var scopes []string
	res := snap.app(ar.Grant.Resource)
	list := missing
	if len(list) == 0 {
		list = ar.Grant.Delegated
	}
	for _, m := range list {
		text := m
		if res != nil {
			if s := res.findScope(m); s != nil {
				if s.UserConsentDisplayName != "" {
					text = s.UserConsentDisplayName
				} else if s.AdminConsentDisplayName != "" && s.AdminConsentDisplayName != m {
					text = s.AdminConsentDisplayName + " (" + m + ")"
				}
				text += " — " + res.DisplayName
			}
		}
		scopes = append(scopes, text)
	}
	if len(scopes) == 0 {
		scopes = []string{"Sign you in and read your profile"}
	}
	user := ""
	if u := snap.byOID[ar.Grant.UserOID]; u != nil {
		user = u.UserPrincipalName
	}
	b := p.browserID(w, r)
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = pages().ExecuteTemplate(w, "consent", map[string]any{
		"Title": "Permissions", "App": name, "Scopes": scopes, "User": user, "Req": ar.ID, "CSRF": csrfToken(b, ar.ID),
		"Action": p.tenantPath() + "/oauth2/v2.0/consent",
	})
}

func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = pages().ExecuteTemplate(w, "message", map[string]any{"Title": "Sign-in error", "Message": msg})
}

func (p *Provider) serverError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnavailable) {
		p.log.Error("identity store unavailable", "err", err)
		w.Header().Set("Retry-After", retryAfter)
		p.errorPage(w, http.StatusServiceUnavailable, "The sign-in service cannot reach its database just now. Try again in a moment.")
		return
	}
	p.log.Error("identity request failed", "err", err)
	p.errorPage(w, http.StatusInternalServerError, "The server could not complete the request. Try again later.")
}

// logoutCSRF binds the logout confirmation form to the browser.
const logoutCSRF = "logout"

// logoutPage asks the signed-in user to confirm a logout that came without
// a valid id_token_hint.
func (p *Provider) logoutPage(w http.ResponseWriter, r *http.Request, snap *snapshot, sess *session, clientID, target string) {
	app := ""
	if a := snap.app(clientID); a != nil {
		app = a.DisplayName
	} else {
		clientID = ""
	}
	user := ""
	if u := snap.byOID[sess.UserOID]; u != nil {
		user = u.UserPrincipalName
	}
	b := p.browserID(w, r)
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = pages().ExecuteTemplate(w, "logout", map[string]any{
		"Title": "Sign out", "App": app, "User": user, "CSRF": csrfToken(b, logoutCSRF),
		"ClientID": clientID, "Redirect": target, "State": r.Form.Get("state"),
		"Action": p.tenantPath() + "/oauth2/v2.0/logout",
	})
}

package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) (int, string, *pageData) {
	writeJSON(w, status, map[string]string{"error": msg})
	return 0, "", nil
}

// handleConsoleKey gives the console the primary key of one of the
// developer's subscriptions (POST with the CSRF header, never GET).
func (p *Portal) handleConsoleKey(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return jsonError(w, http.StatusUnauthorized, "Sign in to use your subscription keys.")
	}
	sub := p.ownSubscription(r, s, r.PostForm.Get("subscription"))
	if sub == nil {
		return jsonError(w, http.StatusNotFound, "No such subscription of yours.")
	}
	key, err := p.mgmt.Secret(r.Context(), sub.ID, "primaryKey")
	if err != nil {
		p.log.Error("portal: open subscription key", "subscription", sub.ID, "err", err)
		return jsonError(w, http.StatusInternalServerError, "The key could not be read.")
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": key})
	return 0, "", nil
}

// handleConsoleToken gets a token from an API's authorization server for
// the console: the authorization code (with the PKCE verifier the browser
// kept) or client credentials (with the developer's own application). The
// portal makes the request so that the authorization server's client
// secret, when it has one, never reaches the browser.
func (p *Portal) handleConsoleToken(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return jsonError(w, http.StatusUnauthorized, "Sign in to get tokens in the console.")
	}
	f := r.PostForm
	apiName := f.Get("api")
	if !resource.ValidName(apiName) {
		return jsonError(w, http.StatusBadRequest, "api is required.")
	}
	p.view.mu.RLock()
	info := p.apiInfo("/apis/" + apiName)
	p.view.mu.RUnlock()
	if info == nil {
		return jsonError(w, http.StatusNotFound, "No such API.")
	}
	if err := p.withAuthServer(r.Context(), info); err != nil {
		p.log.Error("portal: read the API's authorization server", "api", info.API.ID, "err", err)
		return jsonError(w, http.StatusInternalServerError, "The API's authorization server could not be read.")
	}
	if info.AuthServer == nil {
		return jsonError(w, http.StatusNotFound, "This API names no authorization server for the console.")
	}
	as := resource.AuthorizationServer{GrantTypes: info.AuthServer.GrantTypes, TokenEndpoint: info.AuthServer.TokenEndpoint,
		ClientID: info.AuthServer.ClientID, ClientAuthenticationMethod: info.AuthServer.ClientAuthenticationMethod}
	if info.AuthServer.Type == "oauth2" {
		// The token body parameters are not public: read the whole server.
		rec, err := p.store.Get(r.Context(), info.AuthServer.ID)
		if err == nil {
			err = json.Unmarshal(rec.Body, &as)
		}
		if err != nil {
			p.log.Error("portal: read authorization server", "server", info.AuthServer.ID, "err", err)
			return jsonError(w, http.StatusInternalServerError, "The API's authorization server could not be read.")
		}
	}
	resource.SetMeta(&as, info.AuthServer.ID)
	scope := strings.TrimSpace(f.Get("scope"))
	if len(scope) > 1000 {
		return jsonError(w, http.StatusBadRequest, "scope is too long.")
	}
	form := url.Values{}
	var id, secret string
	grants := map[string]bool{}
	for _, g := range as.GrantTypes {
		grants[g] = true
	}
	switch f.Get("grant") {
	case "authorization_code":
		if !grants["authorizationCode"] && !grants["authorizationCodeWithPkce"] {
			return jsonError(w, http.StatusBadRequest, "The authorization server does not offer the authorization code grant.")
		}
		form.Set("grant_type", "authorization_code")
		form.Set("code", f.Get("code"))
		form.Set("code_verifier", f.Get("code_verifier"))
		form.Set("redirect_uri", p.base+"/console/oauth-callback")
		id = as.ClientID
		var err error
		if secret, err = p.mgmt.Secret(r.Context(), as.ID, "clientSecret"); err != nil {
			p.log.Error("portal: open authorization server secret", "server", as.ID, "err", err)
			return jsonError(w, http.StatusInternalServerError, "The authorization server's secret could not be read.")
		}
	case "client_credentials":
		if !grants["clientCredentials"] {
			return jsonError(w, http.StatusBadRequest, "The authorization server does not offer the client credentials grant.")
		}
		form.Set("grant_type", "client_credentials")
		id, secret = strings.TrimSpace(f.Get("client_id")), f.Get("client_secret")
		if id == "" || secret == "" || len(id) > 256 || len(secret) > 1024 {
			return jsonError(w, http.StatusBadRequest, "client_id and client_secret of your application are required.")
		}
	default:
		return jsonError(w, http.StatusBadRequest, "grant must be authorization_code or client_credentials.")
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	for _, bp := range as.TokenBodyParameters {
		form.Set(bp.Name, bp.Value)
	}
	basicID, basicSecret := "", ""
	if secret != "" && contains(as.ClientAuthenticationMethod, "Basic") {
		basicID, basicSecret = id, secret
	} else {
		form.Set("client_id", id)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	var tok map[string]any
	status, err := p.postToken(r.Context(), as.TokenEndpoint, form, basicID, basicSecret, &tok)
	if err != nil {
		p.log.Warn("portal: console token request failed", "server", as.ID, "err", err)
		return jsonError(w, http.StatusBadGateway, "The authorization server did not answer with a token.")
	}
	out := map[string]any{}
	for _, k := range []string{"access_token", "token_type", "expires_in", "scope", "error", "error_description"} {
		if v, ok := tok[k]; ok {
			out[k] = v
		}
	}
	if status != http.StatusOK {
		writeJSON(w, http.StatusBadGateway, out)
		return 0, "", nil
	}
	writeJSON(w, http.StatusOK, out)
	return 0, "", nil
}

// handleConsoleCallback is the console's redirect URI: a page whose
// script hands the code to the console window that opened it.
func (p *Portal) handleConsoleCallback(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "callback", &pageData{Title: "Authorization", Scripts: []string{"callback.js"}})
}

// handleTheme serves the operator's colours as CSS (no inline styles:
// the CSP allows only the portal's own style sheets).
func (p *Portal) handleTheme(w http.ResponseWriter, r *http.Request) {
	p.view.mu.RLock()
	st := p.view.settings
	p.view.mu.RUnlock()
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	// Validated #rrggbb values only.
	_, _ = w.Write([]byte(":root{--primary:" + st.PrimaryColor + ";--bg:" + st.BackgroundColor + "}\n"))
}

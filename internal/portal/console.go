package portal

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// consoleApp is one of the developer's active applications linked to a
// product, holding the API, that takes application tokens: the console
// gets tokens with it by client credentials, for the product's scope.
type consoleApp struct {
	Name, Label, Scope string
}

// consoleApps lists the developer's applications the console can use for
// an API, one entry per linked product that holds the API.
func (p *Portal) consoleApps(ctx context.Context, s *session, apiID string) ([]consoleApp, error) {
	apps, err := p.apps.ListOwnApplications(ctx, s.UserID)
	if err != nil {
		return nil, fmt.Errorf("list the applications of %s: %w", s.UserID, err)
	}
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	var out []consoleApp
	for _, a := range apps {
		if a.State != "active" {
			continue
		}
		for _, pid := range a.Products {
			scope := p.view.productScope(pid)
			if scope == "" || !p.view.productAPIs[pid][apiID] {
				continue
			}
			out = append(out, consoleApp{Name: a.Name, Label: cmp.Or(a.DisplayName, a.Name) + " (" + p.view.products[pid].DisplayName + ")", Scope: scope})
		}
	}
	return out, nil
}

// handleConsoleToken gets a token for the console: by the authorization
// code of the API's authorization server (with the PKCE verifier the
// browser kept), or by client credentials with one of the developer's own
// client applications at the built-in identity provider, for a product's
// scope. The portal makes the request so that no client secret (the
// authorization server's, the application's) reaches the browser.
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
	scope := strings.TrimSpace(f.Get("scope"))
	if len(scope) > 1000 {
		return jsonError(w, http.StatusBadRequest, "scope is too long.")
	}
	switch f.Get("grant") {
	case "authorization_code":
		return p.consoleCodeToken(w, r, info, scope)
	case "client_credentials":
		return p.consoleAppToken(w, r, s, info, scope)
	}
	return jsonError(w, http.StatusBadRequest, "grant must be authorization_code or client_credentials.")
}

// consoleAppToken gets a token by client credentials with the developer's
// application named in the form; without a scope, the first of its
// products' scopes that holds the API.
func (p *Portal) consoleAppToken(w http.ResponseWriter, r *http.Request, s *session, info *apiInfo, scope string) (int, string, *pageData) {
	name := r.PostForm.Get("application")
	apps, err := p.consoleApps(r.Context(), s, info.API.ID)
	if err != nil {
		p.log.Error("portal: console applications", "err", err)
		return jsonError(w, http.StatusInternalServerError, "Your applications could not be read.")
	}
	found := false
	for _, a := range apps {
		if a.Name == name {
			found = true
			if scope == "" {
				scope = a.Scope
			}
			break
		}
	}
	if !found {
		return jsonError(w, http.StatusNotFound, "No active application of yours is linked to a product of this API.")
	}
	own, err := p.ownApplication(r.Context(), s, name)
	if err != nil || own == nil {
		return jsonError(w, http.StatusNotFound, "No such application of yours.")
	}
	sec, err := p.apps.OwnApplicationSecrets(r.Context(), s.UserID, name)
	if err != nil {
		p.log.Error("portal: open application secret", "application", own.ID, "err", err)
		return jsonError(w, http.StatusInternalServerError, "The application's secret could not be read.")
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {own.ApplicationID}, "client_secret": {sec.ClientSecret}, "scope": {scope}}
	return p.relayToken(w, r, p.metadata("token_endpoint"), form, "", "", own.ID)
}

// consoleCodeToken redeems an authorization code at the API's
// authorization server.
func (p *Portal) consoleCodeToken(w http.ResponseWriter, r *http.Request, info *apiInfo, scope string) (int, string, *pageData) {
	f := r.PostForm
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
	if !slices.Contains(as.GrantTypes, "authorizationCode") && !slices.Contains(as.GrantTypes, "authorizationCodeWithPkce") {
		return jsonError(w, http.StatusBadRequest, "The authorization server does not offer the authorization code grant.")
	}
	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("code", f.Get("code"))
	form.Set("code_verifier", f.Get("code_verifier"))
	form.Set("redirect_uri", p.base+"/console/oauth-callback")
	id := as.ClientID
	secret, err := p.mgmt.Secret(r.Context(), as.ID, "clientSecret")
	if err != nil {
		p.log.Error("portal: open authorization server secret", "server", as.ID, "err", err)
		return jsonError(w, http.StatusInternalServerError, "The authorization server's secret could not be read.")
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	for _, bp := range as.TokenBodyParameters {
		form.Set(bp.Name, bp.Value)
	}
	basicID, basicSecret := "", ""
	if secret != "" && slices.Contains(as.ClientAuthenticationMethod, "Basic") {
		basicID, basicSecret = id, secret
	} else {
		form.Set("client_id", id)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	return p.relayToken(w, r, as.TokenEndpoint, form, basicID, basicSecret, as.ID)
}

// relayToken posts a token request and gives the console the token (or
// the error) and nothing else of the answer.
func (p *Portal) relayToken(w http.ResponseWriter, r *http.Request, endpoint string, form url.Values, basicID, basicSecret, who string) (int, string, *pageData) {
	var tok map[string]any
	status, err := p.postToken(r.Context(), endpoint, form, basicID, basicSecret, &tok)
	if err != nil {
		p.log.Warn("portal: console token request failed", "client", who, "err", err)
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

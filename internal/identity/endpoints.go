package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/store"
)

func (p *Provider) routes() {
	mux := http.NewServeMux()
	t := p.withTenant
	mux.Handle("/{tenant}/v2.0/.well-known/openid-configuration", cors(t(p.handleDiscovery)))
	// The v1-style path the seeds' validate-jwt policies use serves the
	// same (v2) document.
	mux.Handle("/{tenant}/.well-known/openid-configuration", cors(t(p.handleDiscovery)))
	// RFC 8414 §3.1: the well-known segment goes between host and path.
	mux.Handle("/.well-known/oauth-authorization-server/{tenant}/v2.0", cors(t(p.handleDiscovery)))
	mux.Handle("/.well-known/openid-configuration/{tenant}/v2.0", cors(t(p.handleDiscovery)))
	mux.Handle("/{tenant}/v2.0/.well-known/oauth-authorization-server", cors(t(p.handleDiscovery)))
	mux.Handle("/{tenant}/discovery/v2.0/keys", cors(t(p.handleJWKS)))
	mux.Handle("/{tenant}/discovery/keys", cors(t(p.handleJWKS)))
	mux.Handle("/{tenant}/oauth2/v2.0/token", cors(t(p.handleToken)))
	mux.Handle("/{tenant}/oauth2/v2.0/authorize", t(p.handleAuthorize))
	mux.Handle("/{tenant}/oauth2/v2.0/signin", t(p.handleSignIn))
	mux.Handle("/{tenant}/oauth2/v2.0/consent", t(p.handleConsent))
	mux.Handle("/{tenant}/oauth2/v2.0/logout", t(p.handleLogout))
	mux.Handle("/{tenant}/oauth2/v2.0/userinfo", t(p.handleUserinfo))
	mux.Handle("/{tenant}/oauth2/v2.0/revoke", t(p.handleRevoke))
	mux.Handle("/{tenant}/oauth2/v2.0/introspect", t(p.handleIntrospect))
	p.mux = mux
}

// ServeHTTP serves the identity listener.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

func (p *Provider) withTenant(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.resolveTenant(r.PathValue("tenant")) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "invalid_tenant", "error_description": "No tenant with that id or name."})
			return
		}
		h(w, r)
	})
}

// cors allows browser apps (SPAs) to call discovery, JWKS and token. The
// authorize endpoint and the HTML pages never get CORS headers.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Endpoint URLs of the tenant.
func (p *Provider) endpoint(path string) string { return p.base + "/" + p.Tenant().ID + path }

// Metadata returns the discovery document (OpenID Connect Discovery and
// RFC 8414 share it).
func (p *Provider) Metadata() map[string]any {
	algs := []string{"RS256", "ES256"}
	return map[string]any{
		"issuer":                                        p.Issuer(),
		"authorization_endpoint":                        p.endpoint("/oauth2/v2.0/authorize"),
		"token_endpoint":                                p.endpoint("/oauth2/v2.0/token"),
		"jwks_uri":                                      p.endpoint("/discovery/v2.0/keys"),
		"userinfo_endpoint":                             p.endpoint("/oauth2/v2.0/userinfo"),
		"end_session_endpoint":                          p.endpoint("/oauth2/v2.0/logout"),
		"revocation_endpoint":                           p.endpoint("/oauth2/v2.0/revoke"),
		"introspection_endpoint":                        p.endpoint("/oauth2/v2.0/introspect"),
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query"},
		"grant_types_supported":                         []string{"authorization_code", "client_credentials", "refresh_token"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         algs,
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":              []string{"S256"},
		"scopes_supported":                              []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "tid", "oid", "azp",
			"name", "preferred_username", "email", "roles", "scp", "ver", "sid"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"tenant_id":                                      p.Tenant().ID,
	}
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.Metadata())
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	set, err := p.PublicKeys(r.Context())
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	// Short caching: relying parties see a new key well before it signs.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// handleUserinfo returns the signed-in user's claims for a user access
// token.
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	deny := func(desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, desc))
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": desc})
	}
	raw := bearer(r)
	if raw == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "A bearer token is required."})
		return
	}
	ctx := r.Context()
	c, err := p.verifyAccessToken(ctx, raw)
	if errors.Is(err, ErrUnavailable) {
		p.writeOAuthError(w, err, false)
		return
	}
	if err != nil {
		deny("The access token is invalid or expired.")
		return
	}
	if c.Idtyp != "user" {
		deny("The access token is not for a user.")
		return
	}
	snap, err := p.directory(ctx)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	if err := p.checkAccessToken(ctx, snap, c); err != nil {
		if !errors.Is(err, errInactive) {
			p.writeOAuthError(w, err, false)
			return
		}
		deny("The access token was revoked, or its user is disabled or was removed.")
		return
	}
	u := snap.byOID[c.Oid]
	// OpenID Connect Core §5.4: profile and email claims only for those
	// scopes.
	scopes := strings.Fields(c.Scope)
	out := map[string]any{"sub": u.ObjectID, "oid": u.ObjectID, "tid": p.Tenant().ID}
	if slices.Contains(scopes, "profile") {
		out["name"], out["preferred_username"] = u.DisplayName, u.UserPrincipalName
	}
	if slices.Contains(scopes, "email") && u.Mail != "" {
		out["email"] = u.Mail
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevoke is RFC 7009 revocation: a refresh token revokes its family
// (its access tokens included); an access token is put on the revocation
// list (checked by introspection, userinfo and the management API). A
// confidential client must authenticate (§2.1); a public one revokes its
// own tokens with client_id alone. It answers 200 for unknown tokens and
// for tokens of other clients.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	ctx := r.Context()
	snap, err := p.directory(ctx)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	c, err := p.authenticateClient(form, r, snap)
	if err != nil {
		p.writeOAuthError(w, err, c.basic)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		p.writeOAuthError(w, invalidRequest("token is required."), c.basic)
		return
	}
	if v, err := p.state.RefreshToken(ctx, tok); err == nil || !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			p.writeOAuthError(w, err, c.basic)
			return
		}
		if rr := v.Value; rr.Grant.ClientID == c.app.AppID {
			if !rr.Grant.Public && !c.authenticated {
				p.writeOAuthError(w, oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate."), c.basic)
				return
			}
			p.revokeFamily(ctx, rr.FamilyID)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if ac, err := p.verifyAccessToken(ctx, tok); err == nil && ac.Azp == c.app.AppID {
		// azpacr "0": issued to the client as a public one, without a
		// secret (client credentials tokens are always "1").
		if ac.Azpacr != "0" && !c.authenticated {
			p.writeOAuthError(w, oerr(http.StatusUnauthorized, "invalid_client", "This client must authenticate."), c.basic)
			return
		}
		p.revokeJTI(ctx, ac.Jti, time.Unix(ac.Exp, 0))
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is RFC 7662 introspection for authenticated clients. A
// token is reported active only to the client it was issued to or, for
// access tokens, to its audience.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	ctx := r.Context()
	snap, err := p.directory(ctx)
	if err != nil {
		p.writeOAuthError(w, err, false)
		return
	}
	c, err := p.authenticateClient(form, r, snap)
	if err == nil && !c.authenticated {
		err = oerr(http.StatusUnauthorized, "invalid_client", "Introspection requires client authentication.")
	}
	if err != nil {
		p.writeOAuthError(w, err, c.basic)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		p.writeOAuthError(w, invalidRequest("token is required."), c.basic)
		return
	}
	inactive := map[string]any{"active": false}
	if v, err := p.state.RefreshToken(ctx, tok); err == nil || !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			p.writeOAuthError(w, err, c.basic)
			return
		}
		rr := v.Value
		if rr.Grant.ClientID != c.app.AppID || rr.Used || !p.now().Before(rr.Expires) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		fam, err := p.loadFamily(ctx, rr.FamilyID)
		if errors.Is(err, ErrUnavailable) {
			p.writeOAuthError(w, err, c.basic)
			return
		}
		if err != nil || fam.Revoked || !p.now().Before(fam.Expires) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		u := snap.byOID[rr.Grant.UserOID]
		if u == nil || !u.enabled() || u.signInRevoked(rr.Grant.AuthTime) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out := map[string]any{"active": true, "token_type": "refresh_token", "client_id": rr.Grant.ClientID,
			"sub": rr.Grant.UserOID, "scope": rr.Grant.scopeString(), "exp": rr.Expires.Unix(), "iss": p.Issuer(),
			"username": u.UserPrincipalName}
		writeJSON(w, http.StatusOK, out)
		return
	}
	ac, err := p.verifyAccessToken(ctx, tok)
	if err != nil || (ac.Azp != c.app.AppID && ac.Aud != c.app.AppID) {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	if err := p.checkAccessToken(ctx, snap, ac); err != nil {
		if !errors.Is(err, errInactive) {
			p.writeOAuthError(w, err, c.basic)
			return
		}
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	out := map[string]any{"active": true, "token_type": "Bearer", "client_id": ac.ClientID, "sub": ac.Sub, "aud": ac.Aud,
		"iss": ac.Iss, "exp": ac.Exp, "iat": ac.Iat, "nbf": ac.Nbf, "jti": ac.Jti, "tid": ac.Tid, "oid": ac.Oid}
	if ac.Scp != "" {
		out["scope"] = ac.Scp
	}
	if len(ac.Roles) > 0 {
		out["roles"] = ac.Roles
	}
	if ac.PreferredUsername != "" {
		out["username"] = ac.PreferredUsername
	}
	writeJSON(w, http.StatusOK, out)
}

// idTokenAudience returns the aud of an ID token this provider signed,
// ignoring its expiry (id_token_hint may be old).
func (p *Provider) idTokenAudience(ctx context.Context, raw string) string {
	if len(raw) > 16<<10 {
		return ""
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return ""
	}
	kc, err := p.loadKeys(ctx)
	if err != nil {
		return ""
	}
	for _, k := range kc.keys {
		if k.KID != jws.Signatures[0].Header.KeyID {
			continue
		}
		payload, err := jws.Verify(k.signer.Public())
		if err != nil {
			return ""
		}
		var c struct {
			Iss string `json:"iss"`
			Aud string `json:"aud"`
		}
		if json.Unmarshal(payload, &c) != nil || c.Iss != p.Issuer() {
			return ""
		}
		return c.Aud
	}
	return ""
}

// handleLogout ends the sign-in session (OpenID RP-initiated logout) and
// returns to post_logout_redirect_uri only when it is registered for the
// client named by client_id or id_token_hint.
func (p *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	}
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "The request could not be read.")
		return
	}
	ctx := r.Context()
	snap, err := p.directory(ctx)
	if err != nil {
		p.serverError(w, err)
		return
	}
	target := r.Form.Get("post_logout_redirect_uri")
	clientID := r.Form.Get("client_id")
	hint := r.Form.Get("id_token_hint")
	if hint != "" {
		aud := p.idTokenAudience(ctx, hint)
		if aud == "" || (clientID != "" && aud != clientID) {
			p.errorPage(w, http.StatusBadRequest, "The id_token_hint is not valid.")
			return
		}
		clientID = aud
	}
	sess, cookie := p.currentSession(ctx, r, snap)
	// Without a valid id_token_hint anyone could link a user to logout:
	// the user confirms, with a form only this page can send (OpenID
	// RP-Initiated Logout §2).
	confirmed := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes" && checkCSRF(r, logoutCSRF)
	if sess != nil && hint == "" && !confirmed {
		p.logoutPage(w, r, snap, sess, clientID, target)
		return
	}
	if cookie != "" {
		if err := p.state.DeleteSession(ctx, cookie); err != nil {
			p.serverError(w, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
	if target != "" {
		if app := snap.app(clientID); app != nil {
			for _, reg := range app.redirectURIs() {
				if reg.uri == target {
					u, _ := url.Parse(target)
					q := u.Query()
					if s := r.Form.Get("state"); s != "" {
						q.Set("state", s)
					}
					u.RawQuery = q.Encode()
					http.Redirect(w, r, u.String(), http.StatusFound)
					return
				}
			}
		}
	}
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = pages().ExecuteTemplate(w, "message", map[string]any{"Title": "Signed out", "Message": "You have signed out. You can close this window."})
}

// DirectoryInfo is GET /directory's answer.
type DirectoryInfo struct {
	TenantID string `json:"tenantId"`
	Name     string `json:"name"`
	Issuer   string `json:"issuer"`
	// Gateway is the gateway's own identity (a service principal).
	Gateway *GatewayIdentity `json:"gateway,omitempty"`
}

// SigningKeyInfo describes a published signing key.
type SigningKeyInfo struct {
	KID        string    `json:"kid"`
	Alg        string    `json:"alg"`
	Created    time.Time `json:"created"`
	ActiveFrom time.Time `json:"activeFrom"`
	NotAfter   time.Time `json:"notAfter,omitzero"`
}

// DirectoryHandler serves the management API's non-resource directory
// routes (the management server authenticates first):
//
//	GET  /directory                      {tenantId, name, issuer, gateway}
//	GET  /directory/signingKeys          the signing keys, without secrets
//	POST /directory/signingKeys/rotate   {"publishDelaySeconds": N} (optional)
func (p *Provider) DirectoryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/directory"), "/")
		switch {
		case path == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			t := p.Tenant()
			info := DirectoryInfo{TenantID: t.ID, Name: t.Name, Issuer: p.Issuer()}
			if g, err := p.Gateway(r.Context()); err == nil {
				info.Gateway = &g
			} else {
				p.log.Warn("directory: the gateway's identity", "err", err)
			}
			writeJSON(w, http.StatusOK, info)
		case path == "/signingKeys" && r.Method == http.MethodGet:
			kc, err := p.loadKeys(r.Context())
			if err != nil {
				apierror.Write(w, err)
				return
			}
			out := []SigningKeyInfo{}
			for _, k := range kc.keys {
				out = append(out, SigningKeyInfo{KID: k.KID, Alg: k.Alg, Created: k.Created, ActiveFrom: k.ActiveFrom, NotAfter: k.NotAfter})
			}
			writeJSON(w, http.StatusOK, map[string]any{"value": out, "count": len(out)})
		case path == "/signingKeys/rotate" && r.Method == http.MethodPost:
			var req struct {
				PublishDelaySeconds *int64 `json:"publishDelaySeconds"`
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, maxActionBody+1))
			if err != nil {
				apierror.Write(w, apierror.New(http.StatusBadRequest, "InvalidRequestBody", "The request body could not be read."))
				return
			}
			if err := decodeBody(body, &req); err != nil {
				apierror.Write(w, err)
				return
			}
			delay := time.Duration(-1)
			if req.PublishDelaySeconds != nil {
				if *req.PublishDelaySeconds < 0 || *req.PublishDelaySeconds > 30*24*3600 {
					apierror.Write(w, fieldError("publishDelaySeconds", "must be between 0 and 2592000"))
					return
				}
				delay = time.Duration(*req.PublishDelaySeconds) * time.Second
			}
			k, err := p.RotateSigningKey(r.Context(), delay)
			if err != nil {
				p.log.Error("rotate signing key", "err", err)
				apierror.Write(w, err)
				return
			}
			writeJSON(w, http.StatusOK, k)
		case path == "" || path == "/signingKeys" || path == "/signingKeys/rotate":
			apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Method %s is not allowed here.", r.Method))
		default:
			apierror.Write(w, apierror.NotFound(r.URL.Path))
		}
	})
}

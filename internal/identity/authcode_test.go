package identity_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestAuthorizationCodeSeedWithOIDCLibraries(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	ctx := context.Background()

	// go-oidc: discovery at <issuer>/.well-known/openid-configuration,
	// with its strict issuer check.
	prov, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	conf := oauth2.Config{ClientID: s.client.AppID, ClientSecret: s.secret, Endpoint: prov.Endpoint(), RedirectURL: s.redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess, "api://" + s.backend.AppID + "/Colors.Read"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st-1", oidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier))

	b := newBrowser(t, s.redirect)
	p := b.get(authURL)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("sign-in page: %d %s", p.status, p.body)
	}
	for _, h := range []string{"X-Frame-Options", "Content-Security-Policy"} {
		if p.header.Get(h) == "" {
			t.Errorf("sign-in page lacks %s", h)
		}
	}
	if !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q", p.header.Get("Content-Security-Policy"))
	}
	if p.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("authorize must not send CORS headers")
	}
	// A wrong password shows the form again.
	p2 := b.signIn(e.idp.URL, p, s.user, "wrong password")
	if p2.status != http.StatusUnauthorized || !strings.Contains(p2.body, "incorrect") {
		t.Fatalf("wrong password: %d", p2.status)
	}
	p = b.signIn(e.idp.URL, p2, s.user, s.password)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Colors.Read") {
		t.Fatalf("consent page: %d %s", p.status, p.body)
	}
	p = b.consent(e.idp.URL, p, true)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, s.redirect+"?") {
		t.Fatalf("after consent: %d %s", p.status, p.location)
	}
	q, _ := url.Parse(p.location)
	if q.Query().Get("state") != "st-1" || q.Query().Get("iss") != e.issuer || q.Query().Get("code") == "" {
		t.Fatalf("redirect query %v", q.Query())
	}
	tok, err := conf.Exchange(ctx, q.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: s.client.AppID, Now: e.clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc ID token verification: %v", err)
	}
	var idc struct {
		Nonce, Name, Email, Oid, Tid string
		PreferredUsername            string `json:"preferred_username"`
	}
	idt.Claims(&idc)
	if idc.Nonce != "n-1" || idt.Subject != s.userOID || idc.Email != "alice@example.com" || idc.PreferredUsername != s.user || idc.Tid != e.tenantID {
		t.Fatalf("ID token claims %+v sub %s", idc, idt.Subject)
	}
	c, err := e.verifyJWT(tok.AccessToken, s.backend.AppID)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if c["scp"] != "Colors.Read" || c["oid"] != s.userOID || c["azp"] != s.client.AppID {
		t.Fatalf("access token claims %v", c)
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "Colors.Reader" {
		t.Errorf("user roles %v", c["roles"])
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	// Userinfo with the access token.
	ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != s.userOID || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo %+v", ui)
	}

	// The session is remembered and consent is stored: a second authorize
	// goes straight back with a code.
	p = b.get(conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)))
	if p.status != http.StatusFound || !strings.Contains(p.location, "code=") {
		t.Fatalf("second authorize: %d %s", p.status, p.location)
	}
	// Refresh through x/oauth2.
	ts := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	tok2, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	_, challenge := pkcePair()
	scope := "openid api://" + s.backend.AppID + "/Colors.Read"
	authz := e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?"

	// Never redirected to: unknown client, unregistered redirect URI
	// (including a different port for a web app).
	for name, params := range map[string]url.Values{
		"unknown client":       authParams("5f0c1f7e-0000-4000-8000-000000000000", s.redirect, scope, challenge),
		"unregistered":         authParams(s.client.AppID, "https://evil.example.com/cb", scope, challenge),
		"other port (web)":     authParams(s.client.AppID, "http://localhost:9998/callback", scope, challenge),
		"prefix of registered": authParams(s.client.AppID, s.redirect+"/more", scope, challenge),
		"query added":          authParams(s.client.AppID, s.redirect+"?x=1", scope, challenge),
	} {
		p := newBrowser(t, "").get(authz + params.Encode())
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("%s: status %d location %q", name, p.status, p.location)
		}
		if p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: error page can be framed", name)
		}
	}
	// The loopback port exception for native apps (RFC 8252).
	p := newBrowser(t, "").get(authz + authParams(s.client.AppID, "http://127.0.0.1:53123/native", scope, challenge).Encode())
	if p.status != http.StatusOK {
		t.Errorf("native loopback with a port: %d %s", p.status, p.location)
	}

	// Redirected with error, state and iss.
	for name, c := range map[string]struct {
		mutate func(url.Values)
		code   string
	}{
		"plain PKCE":       {func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no method":        {func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		"token response":   {func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		"unknown scope":    {func(v url.Values) { v.Set("scope", "openid api://"+s.backend.AppID+"/Colors.Write") }, "invalid_scope"},
		"admin-only scope": {func(v url.Values) { v.Set("scope", "openid api://"+s.backend.AppID+"/Colors.Admin") }, "consent_required"},
		"not signed in":    {func(v url.Values) { v.Set("prompt", "none") }, "login_required"},
		"public, no PKCE": {func(v url.Values) {
			v.Set("redirect_uri", "http://127.0.0.1/native")
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}, "invalid_request"},
	} {
		v := authParams(s.client.AppID, s.redirect, scope, challenge)
		c.mutate(v)
		p := newBrowser(t, "").get(authz + v.Encode())
		u, _ := url.Parse(p.location)
		if p.status != http.StatusFound || u == nil || u.Query().Get("error") != c.code || u.Query().Get("state") != "st-123" || u.Query().Get("iss") != e.issuer {
			t.Errorf("%s: %d %s", name, p.status, p.location)
		}
	}

	// Declining consent redirects with access_denied.
	b := newBrowser(t, s.redirect)
	p = b.get(authz + authParams(s.client.AppID, s.redirect, scope, challenge).Encode())
	p = b.signIn(e.idp.URL, p, s.user, s.password)
	p = b.consent(e.idp.URL, p, false)
	if u, _ := url.Parse(p.location); u == nil || u.Query().Get("error") != "access_denied" {
		t.Errorf("declined consent: %d %s", p.status, p.location)
	}

	// CSRF: a form without the browser's token is refused.
	b = newBrowser(t, s.redirect)
	p = b.get(authz + authParams(s.client.AppID, s.redirect, scope, challenge).Encode())
	action, form := formFields(t, p.body)
	form.Set("csrf", "forged")
	form.Set("username", s.user)
	form.Set("password", s.password)
	if p := b.post(e.idp.URL+action, form); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF token: %d", p.status)
	}
	// The same form posted from another browser (no cookie) is refused too.
	_, form = formFields(t, p.body)
	form.Set("username", s.user)
	form.Set("password", s.password)
	if p := newBrowser(t, "").post(e.idp.URL+action, form); p.status != http.StatusForbidden {
		t.Errorf("CSRF from another browser: %d", p.status)
	}
}

// codeFor signs in and returns an authorization code.
func (e *env) codeFor(s authSeed, b *browser, scope, challenge string) string {
	e.t.Helper()
	q := e.authorize(b, authParams(s.client.AppID, s.redirect, scope, challenge), s.user, s.password)
	if q.Get("code") == "" {
		e.t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

func TestCodeReuseRevokesTokens(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	scope := "openid offline_access api://" + s.backend.AppID + "/Colors.Read"
	code := e.codeFor(s, newBrowser(t, s.redirect), scope, challenge)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier},
		"client_id": {s.client.AppID}, "client_secret": {s.secret}}
	st, out := e.token(form)
	if st != 200 {
		t.Fatalf("first redemption: %d %v", st, out)
	}
	at, rt := out["access_token"].(string), out["refresh_token"].(string)
	introspect := func(tok string) bool {
		_, r, _ := e.postForm("/"+e.tenantID+"/oauth2/v2.0/introspect", url.Values{"token": {tok}}, s.client.AppID, s.secret)
		return r["active"] == true
	}
	if !introspect(at) || !introspect(rt) {
		t.Fatal("fresh tokens should be active")
	}
	st, out = e.token(form)
	if st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", st, out)
	}
	if introspect(at) || introspect(rt) {
		t.Fatal("tokens issued by a reused code must be revoked")
	}
	st, out = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	if st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after code reuse: %d %v", st, out)
	}
}

func TestAuthorizationCodeGrantErrors(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	scope := "openid api://" + s.backend.AppID + "/Colors.Read"
	b := newBrowser(t, s.redirect)
	redeem := func(code string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "client_id": {s.client.AppID}, "client_secret": {s.secret}}
		for k, v := range extra {
			f[k] = v
		}
		return e.token(f)
	}
	verifier, challenge := pkcePair()

	// PKCE downgrade: a code issued without a challenge, redeemed with a
	// verifier, is refused.
	code := e.codeFor(s, b, scope, "")
	if st, out := redeem(code, url.Values{"code_verifier": {verifier}}); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("PKCE downgrade: %d %v", st, out)
	}
	// A code issued with a challenge needs the verifier, the right one.
	code = e.codeFor(s, b, scope, challenge)
	if st, out := redeem(code, nil); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("missing verifier: %d %v", st, out)
	}
	code = e.codeFor(s, b, scope, challenge)
	other, _ := pkcePair()
	if st, out := redeem(code, url.Values{"code_verifier": {other}}); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", st, out)
	}
	// Bound to the redirect URI and the client.
	code = e.codeFor(s, b, scope, challenge)
	if st, out := redeem(code, url.Values{"code_verifier": {verifier}, "redirect_uri": {"http://localhost:9999/other"}}); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v", st, out)
	}
	code = e.codeFor(s, b, scope, challenge)
	var thief appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/thief", map[string]any{"web": map[string]any{"redirectUris": []string{s.redirect}}}, &thief)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/thief/addPassword", nil, &added)
	if st, out := redeem(code, url.Values{"code_verifier": {verifier}, "client_id": {thief.AppID}, "client_secret": {added.SecretText}}); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("other client: %d %v", st, out)
	}
	// A confidential client must authenticate.
	code = e.codeFor(s, b, scope, challenge)
	if st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "client_id": {s.client.AppID}, "code_verifier": {verifier}}); st != 401 || out["error"] != "invalid_client" {
		t.Errorf("no secret: %d %v", st, out)
	}
	// Expired codes are refused.
	code = e.codeFor(s, b, scope, challenge)
	e.clock.Advance(2 * time.Minute)
	if st, out := redeem(code, url.Values{"code_verifier": {verifier}}); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v", st, out)
	}
	if st, out := redeem("made-up", nil); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("unknown code: %d %v", st, out)
	}
	// Confidential client with PKCE, honoured: success.
	b = newBrowser(t, s.redirect)
	code = e.codeFor(s, b, scope, challenge)
	if st, out := redeem(code, url.Values{"code_verifier": {verifier}}); st != 200 || out["id_token"] == nil || out["refresh_token"] != nil {
		t.Errorf("good redemption: %d %v", st, out)
	}
}

func TestPublicClientWithLoopbackRedirect(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	redirect := "http://127.0.0.1:40123/native"
	b := newBrowser(t, redirect)
	q := e.authorize(b, authParams(s.client.AppID, redirect, "openid offline_access api://"+s.backend.AppID+"/Colors.Read", challenge), s.user, s.password)
	// A public client redeems with its id and the verifier only.
	st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "client_id": {s.client.AppID}, "code_verifier": {verifier}})
	if st != 200 {
		t.Fatalf("public redemption: %d %v", st, out)
	}
	if c := claims(t, out["access_token"].(string)); c["azpacr"] != "0" {
		t.Errorf("azpacr %v", c["azpacr"])
	}
	st, out = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}, "client_id": {s.client.AppID}})
	if st != 200 {
		t.Fatalf("public refresh: %d %v", st, out)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	code := e.codeFor(s, newBrowser(t, s.redirect), "openid offline_access api://"+s.backend.AppID+"/Colors.Read", challenge)
	st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	if st != 200 {
		t.Fatal(out)
	}
	refresh := func(rt string, extra ...string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}}
		if len(extra) == 2 {
			f.Set(extra[0], extra[1])
		}
		return e.token(f)
	}
	rt1 := out["refresh_token"].(string)
	st, out = refresh(rt1)
	if st != 200 || out["refresh_token"] == nil || out["refresh_token"] == rt1 || out["id_token"] == nil {
		t.Fatalf("refresh: %d %v", st, out)
	}
	rt2 := out["refresh_token"].(string)
	if c := claims(t, out["access_token"].(string)); c["scp"] != "Colors.Read" || c["aud"] != s.backend.AppID {
		t.Fatalf("refreshed claims %v", c)
	}
	// Narrowing is allowed, widening is not.
	if st, out := refresh(rt2, "scope", "openid api://"+s.backend.AppID+"/Colors.Admin"); st != 400 || out["error"] != "invalid_scope" {
		t.Fatalf("widening: %d %v", st, out)
	}
	// Another client cannot use it.
	if st, out := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "client_id": {s.client.AppID}}); st != 401 {
		t.Fatalf("confidential refresh without secret: %d %v", st, out)
	}
	// Reuse of rt1 (already rotated) revokes the family, rt2 included.
	if st, out := refresh(rt1); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", st, out)
	}
	if st, out := refresh(rt2); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("family member after reuse: %d %v", st, out)
	}
	// An expired refresh token is refused.
	code = e.codeFor(s, newBrowser(t, s.redirect), "openid offline_access api://"+s.backend.AppID+"/Colors.Read", challenge)
	_, out = e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	e.clock.Advance(15 * 24 * time.Hour)
	if st, out := refresh(out["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("expired refresh token: %d %v", st, out)
	}
}

func TestDisabledUser(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	scope := "openid offline_access api://" + s.backend.AppID + "/Colors.Read"
	code := e.codeFor(s, newBrowser(t, s.redirect), scope, challenge)
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	rt := out["refresh_token"].(string)
	at := out["access_token"].(string)

	e.must(http.StatusOK, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": false}, nil)

	// Sign-in is refused, with the right password too.
	b := newBrowser(t, s.redirect)
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, scope, challenge).Encode())
	p = b.signIn(e.idp.URL, p, s.user, s.password)
	if p.status != http.StatusForbidden || p.location != "" {
		t.Fatalf("disabled sign-in: %d %s", p.status, p.location)
	}
	// Refresh is refused, and userinfo.
	if st, out := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}}); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("disabled refresh: %d %v", st, out)
	}
	req, _ := http.NewRequest("GET", e.idp.URL+"/"+e.tenantID+"/oauth2/v2.0/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("disabled userinfo: %d", resp.StatusCode)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	_, challenge := pkcePair()
	b := newBrowser(t, s.redirect)
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, "openid", challenge).Encode())
	for i := 0; i < 5; i++ {
		p = b.signIn(e.idp.URL, p, s.user, "wrong")
		if p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.status)
		}
	}
	// Locked: even the right password is refused until the window passes.
	p = b.signIn(e.idp.URL, p, s.user, s.password)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("throttled: %d", p.status)
	}
	e.clock.Advance(16 * time.Minute)
	p = b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, "openid", challenge).Encode())
	p = b.signIn(e.idp.URL, p, s.user, s.password)
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d %s", p.status, p.body)
	}
}

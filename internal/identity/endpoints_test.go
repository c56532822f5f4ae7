package identity_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/identity"
)

func TestDiscoveryAndCORS(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/" + e.tenantID + "/v2.0/.well-known/openid-configuration",
		"/default/v2.0/.well-known/openid-configuration",
		"/" + e.tenantID + "/.well-known/openid-configuration",
		"/.well-known/oauth-authorization-server/" + e.tenantID + "/v2.0",
	} {
		req, _ := http.NewRequest("GET", e.idp.URL+path, nil)
		req.Header.Set("Origin", "https://spa.example.com")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if resp.StatusCode != 200 || md["issuer"] != e.issuer {
			t.Fatalf("%s: %d issuer %v", path, resp.StatusCode, md["issuer"])
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: no CORS", path)
		}
		if md["token_endpoint"] != e.tokenURL() || md["jwks_uri"] != e.idp.URL+"/"+e.tenantID+"/discovery/v2.0/keys" {
			t.Errorf("%s: endpoints %v %v", path, md["token_endpoint"], md["jwks_uri"])
		}
		if md["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("RFC 9207 flag missing")
		}
		if got := str(md["code_challenge_methods_supported"]); got != "[S256]" {
			t.Errorf("code_challenge_methods_supported %s", got)
		}
		if got := str(md["grant_types_supported"]); strings.Contains(got, "implicit") || strings.Contains(got, "password") {
			t.Errorf("grant types %s", got)
		}
	}
	// Preflight on the token endpoint; none on authorize.
	req, _ := http.NewRequest("OPTIONS", e.tokenURL(), nil)
	req.Header.Set("Origin", "https://spa.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("token preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("OPTIONS", e.idp.URL+"/"+e.tenantID+"/oauth2/v2.0/authorize", nil)
	req.Header.Set("Origin", "https://spa.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("authorize answered with CORS")
	}
	// JWKS: public keys only.
	resp, err = http.Get(e.idp.URL + "/" + e.tenantID + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) != 1 || set.Keys[0]["d"] != nil || set.Keys[0]["use"] != "sig" || set.Keys[0]["kid"] == nil || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("JWKS %v", set)
	}
	// PublicKeys and Issuer for the gateway.
	ks, err := e.p.PublicKeys(t.Context())
	if err != nil || len(ks.Keys) != 1 || !ks.Keys[0].IsPublic() || e.p.Issuer() != e.issuer {
		t.Fatalf("PublicKeys %v %v", ks, err)
	}
}

func TestIntrospectionRevocationUserinfoLogout(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	verifier, challenge := pkcePair()
	b := newBrowser(t, s.redirect)
	code := e.codeFor(s, b, "openid profile offline_access api://"+s.backend.AppID+"/Colors.Read", challenge)
	st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	if st != 200 {
		t.Fatal(out)
	}
	at, rt, idt := out["access_token"].(string), out["refresh_token"].(string), out["id_token"].(string)
	base := "/" + e.tenantID + "/oauth2/v2.0/"

	// Introspection needs client authentication.
	if st, out, _ := e.postForm(base+"introspect", url.Values{"token": {at}, "client_id": {s.client.AppID}}, "", ""); st != 401 || out["error"] != "invalid_client" {
		t.Fatalf("unauthenticated introspection: %d %v", st, out)
	}
	_, in, _ := e.postForm(base+"introspect", url.Values{"token": {at}}, s.client.AppID, s.secret)
	if in["active"] != true || in["scope"] != "Colors.Read" || in["client_id"] != s.client.AppID || in["sub"] != s.userOID || in["username"] != s.user {
		t.Fatalf("introspection %v", in)
	}
	_, in, _ = e.postForm(base+"introspect", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, s.client.AppID, s.secret)
	if in["active"] != true || in["token_type"] != "refresh_token" {
		t.Fatalf("refresh introspection %v", in)
	}
	// Another client learns nothing.
	var cc appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/other-client", map[string]any{"displayName": "other"}, &cc)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/other-client/addPassword", nil, &added)
	secret := added.SecretText
	_, in, _ = e.postForm(base+"introspect", url.Values{"token": {at}}, cc.AppID, secret)
	if in["active"] != false {
		t.Fatalf("introspection by another client: %v", in)
	}
	_, in, _ = e.postForm(base+"introspect", url.Values{"token": {"garbage"}}, s.client.AppID, s.secret)
	if in["active"] != false || len(in) != 1 {
		t.Fatalf("garbage introspection: %v", in)
	}

	// Userinfo.
	userinfo := func(tok string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", e.idp.URL+base+"userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, ui := userinfo(at); st != 200 || ui["sub"] != s.userOID || ui["preferred_username"] != s.user {
		t.Fatalf("userinfo: %d %v", st, ui)
	}
	if st, _ := userinfo("nope"); st != 401 {
		t.Fatalf("userinfo with a bad token: %d", st)
	}

	// Revocation: the access token, then the refresh token (its family).
	if st, _, _ := e.postForm(base+"revoke", url.Values{"token": {at}}, s.client.AppID, s.secret); st != 200 {
		t.Fatalf("revoke access token: %d", st)
	}
	if _, in, _ = e.postForm(base+"introspect", url.Values{"token": {at}}, s.client.AppID, s.secret); in["active"] != false {
		t.Fatal("revoked access token still active")
	}
	if st, _ := userinfo(at); st != 401 {
		t.Fatalf("userinfo with a revoked token: %d", st)
	}
	if st, _, _ := e.postForm(base+"revoke", url.Values{"token": {rt}}, s.client.AppID, s.secret); st != 200 {
		t.Fatalf("revoke refresh token: %d", st)
	}
	if st, out := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}}); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("revoked refresh token: %d %v", st, out)
	}
	if st, _, _ := e.postForm(base+"revoke", url.Values{"token": {"unknown"}}, s.client.AppID, s.secret); st != 200 {
		t.Fatalf("revoke unknown: %d", st)
	}
	if st, _, _ := e.postForm(base+"revoke", url.Values{"token": {"unknown"}}, s.client.AppID, "wrong"); st != 401 {
		t.Fatalf("revoke with a wrong secret: %d", st)
	}

	// End-session: redirects only to a registered URI, and ends the
	// session (the next authorize shows the sign-in page again).
	p := b.get(e.idp.URL + base + "logout?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {s.redirect}, "state": {"bye"}}.Encode())
	if p.status != http.StatusFound || p.location != s.redirect+"?state=bye" {
		t.Fatalf("logout redirect: %d %q", p.status, p.location)
	}
	p = b.get(e.idp.URL + base + "authorize?" + authParams(s.client.AppID, s.redirect, "openid", challenge).Encode())
	if p.status != 200 || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("after logout: %d", p.status)
	}
	p = b.get(e.idp.URL + base + "logout?" + url.Values{"client_id": {s.client.AppID}, "post_logout_redirect_uri": {"https://evil.example.com/"}}.Encode())
	if p.status != 200 || p.location != "" {
		t.Fatalf("logout to an unregistered URI: %d %q", p.status, p.location)
	}
	_ = identity.KindUsers
}

func TestThrottlingPerAddress(t *testing.T) {
	e := newEnv(t, func(o *identity.Options) { o.LoginMaxFailuresPerAddress = 3 })
	s := e.seedAuthCode()
	_, challenge := pkcePair()
	b := newBrowser(t, s.redirect)
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, "openid", challenge).Encode())
	for i, user := range []string{"x@example.com", "y@example.com", "z@example.com"} {
		if p = b.signIn(e.idp.URL, p, user, "guess"); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.status)
		}
	}
	if p = b.signIn(e.idp.URL, p, s.user, s.password); p.status != http.StatusTooManyRequests {
		t.Fatalf("address throttled: %d", p.status)
	}
}

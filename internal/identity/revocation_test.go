package identity_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/identity"
)

// signInTokens runs the code flow for s's user with scope, as the
// confidential client, and returns the token response.
func (e *env) signInTokens(t *testing.T, s authSeed, scope string) map[string]any {
	t.Helper()
	verifier, challenge := pkcePair()
	code := e.codeFor(s, newBrowser(t, s.redirect), scope, challenge)
	st, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect},
		"code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	if st != http.StatusOK {
		t.Fatalf("code redemption: %d %v", st, out)
	}
	return out
}

func (e *env) refresh(s authSeed, rt string) (int, map[string]any) {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
}

// active introspects tok as s's client.
func (e *env) active(s authSeed, tok string) bool {
	e.t.Helper()
	st, r, _ := e.postForm("/"+e.tenantID+"/oauth2/v2.0/introspect", url.Values{"token": {tok}}, s.client.AppID, s.secret)
	if st != http.StatusOK {
		e.t.Fatalf("introspection: %d %v", st, r)
	}
	return r["active"] == true
}

func (e *env) userinfo(tok string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.idp.URL+"/"+e.tenantID+"/oauth2/v2.0/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// alice returns the seed user's body with extra fields, for PUT.
func alice(s authSeed, extra map[string]any) map[string]any {
	m := map[string]any{"userPrincipalName": s.user, "displayName": "Alice", "mail": "alice@example.com"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var mgmtReadWrite = []map[string]any{{"resourceAppId": identity.ManagementIdentifier, "appRoleId": identity.RoleManagementReadWrite}}

const mgmtScope = "openid offline_access " + identity.ManagementIdentifier + "/.default"

// permitManagement registers the management API's delegated scope on s's
// client, so that its .default asks for it (and the user consents once).
func (e *env) permitManagement(s authSeed) {
	e.t.Helper()
	e.must(http.StatusOK, "PATCH", "/directory/applications/console-app", map[string]any{"requiredResourceAccess": []map[string]any{
		{"resourceAppId": identity.ManagementIdentifier, "resourceAccess": []map[string]any{{"id": identity.ScopeManagementUser, "type": "Scope"}}}}}, nil)
}

func TestRevokeAccessTokenNeedsClientAuthentication(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	revoke := "/" + e.tenantID + "/oauth2/v2.0/revoke"

	// A confidential client's user token: client_id alone is refused.
	at := e.signInTokens(t, s, "openid api://"+s.backend.AppID+"/Colors.Read")["access_token"].(string)
	if st, out, _ := e.postForm(revoke, url.Values{"token": {at}, "client_id": {s.client.AppID}}, "", ""); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("unauthenticated revocation of a confidential token: %d %v", st, out)
	}
	if !e.active(s, at) {
		t.Fatal("an unauthenticated revocation revoked the token")
	}
	// Its client-credentials token too.
	res, cl, secret := e.seedClientCredentials()
	_, cc := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {cl.AppID}, "client_secret": {secret}, "scope": {res.AppID + "/.default"}})
	if st, out, _ := e.postForm(revoke, url.Values{"token": {cc["access_token"].(string)}, "client_id": {cl.AppID}}, "", ""); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("unauthenticated revocation of a client-credentials token: %d %v", st, out)
	}
	// Authenticated, it works.
	if st, _, _ := e.postForm(revoke, url.Values{"token": {at}}, s.client.AppID, s.secret); st != http.StatusOK {
		t.Fatalf("authenticated revocation: %d", st)
	}
	if e.active(s, at) {
		t.Fatal("revoked token still active")
	}

	// A public client (native redirect, no secret) revokes its own token
	// with client_id only.
	verifier, challenge := pkcePair()
	redirect := "http://127.0.0.1:40123/native"
	q := e.authorize(newBrowser(t, redirect), authParams(s.client.AppID, redirect, "openid api://"+s.backend.AppID+"/Colors.Read", challenge), s.user, s.password)
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "client_id": {s.client.AppID}, "code_verifier": {verifier}})
	pub := out["access_token"].(string)
	if st, out, _ := e.postForm(revoke, url.Values{"token": {pub}, "client_id": {s.client.AppID}}, "", ""); st != http.StatusOK {
		t.Fatalf("public revocation: %d %v", st, out)
	}
	if e.active(s, pub) {
		t.Fatal("public client's revoked token still active")
	}
}

func TestManagementTokenFollowsItsPrincipal(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	e.permitManagement(s)

	// A user with Management.ReadWrite.All, then disabled: the token stops
	// working at once, so he cannot enable himself again.
	e.must(http.StatusOK, "PUT", "/directory/users/alice", alice(s, map[string]any{"appRoleAssignments": mgmtReadWrite}), nil)
	at := e.signInTokens(t, s, mgmtScope)["access_token"].(string)
	if st := e.callWith(at, "GET", "/directory/users/alice", nil, nil); st != http.StatusOK {
		t.Fatalf("user token: %d", st)
	}
	e.must(http.StatusOK, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": false}, nil)
	if st := e.callWith(at, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": true}, nil); st != http.StatusUnauthorized {
		t.Fatalf("disabled user re-enabling himself: %d", st)
	}
	// Enabled again by an administrator, the old token stays dead (its
	// sign-in predates the disabling).
	e.must(http.StatusOK, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": true}, nil)
	if st := e.callWith(at, "GET", "/directory/users/alice", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("token from before the disabling: %d", st)
	}

	// The role assignment removed: the role in the token no longer counts.
	at = e.signInTokens(t, s, mgmtScope)["access_token"].(string)
	if st := e.callWith(at, "GET", "/directory/users/alice", nil, nil); st != http.StatusOK {
		t.Fatalf("new user token: %d", st)
	}
	e.must(http.StatusOK, "PUT", "/directory/users/alice", alice(s, nil), nil)
	if st := e.callWith(at, "GET", "/directory/users/alice", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("token after the role was removed: %d", st)
	}

	// The user deleted.
	e.must(http.StatusOK, "PUT", "/directory/users/alice", alice(s, map[string]any{"appRoleAssignments": mgmtReadWrite}), nil)
	at = e.signInTokens(t, s, mgmtScope)["access_token"].(string)
	e.must(http.StatusNoContent, "DELETE", "/directory/users/alice", nil, nil)
	if st := e.callWith(at, "GET", "/directory/applications/console-app", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("deleted user's token: %d", st)
	}

	// Applications: the role un-consented, and the application deleted.
	app := func(name string) string {
		e.must(http.StatusCreated, "PUT", "/directory/applications/"+name, map[string]any{"requiredResourceAccess": []map[string]any{
			{"resourceAppId": identity.ManagementIdentifier, "resourceAccess": []map[string]any{{"id": identity.RoleManagementReadWrite, "type": "Role"}}}}}, nil)
		var a appView
		e.must(http.StatusOK, "GET", "/directory/applications/"+name, nil, &a)
		var added struct {
			SecretText string `json:"secretText"`
		}
		e.must(http.StatusOK, "POST", "/directory/applications/"+name+"/addPassword", nil, &added)
		e.must(http.StatusOK, "POST", "/directory/applications/"+name+"/grantAdminConsent", nil, nil)
		st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.AppID}, "client_secret": {added.SecretText}, "scope": {identity.ManagementIdentifier + "/.default"}})
		if st != http.StatusOK {
			t.Fatalf("client credentials: %d %v", st, out)
		}
		tok := out["access_token"].(string)
		if st := e.callWith(tok, "GET", "/directory/users", nil, nil); st != http.StatusOK {
			t.Fatalf("app token: %d", st)
		}
		return tok
	}
	tok := app("automation")
	e.must(http.StatusOK, "PUT", "/directory/applications/automation", map[string]any{"displayName": "automation"}, nil)
	e.must(http.StatusOK, "POST", "/directory/applications/automation/grantAdminConsent", nil, nil)
	if st := e.callWith(tok, "GET", "/directory/users", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("app token after consent was withdrawn: %d", st)
	}
	tok = app("robot")
	e.must(http.StatusNoContent, "DELETE", "/directory/applications/robot", nil, nil)
	if st := e.callWith(tok, "GET", "/directory/users", nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("deleted app's token: %d", st)
	}
}

func TestReuseRevokesTheFamilysAccessTokens(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	e.permitManagement(s)
	e.must(http.StatusOK, "PUT", "/directory/users/alice", alice(s, map[string]any{"appRoleAssignments": mgmtReadWrite}), nil)

	// Refresh-token reuse.
	out := e.signInTokens(t, s, mgmtScope)
	at1, rt1 := out["access_token"].(string), out["refresh_token"].(string)
	st, out := e.refresh(s, rt1)
	if st != http.StatusOK {
		t.Fatal(out)
	}
	at2 := out["access_token"].(string)
	if st, _ := e.refresh(s, rt1); st != http.StatusBadRequest {
		t.Fatalf("reuse: %d", st)
	}
	for i, at := range []string{at1, at2} {
		if e.active(s, at) {
			t.Errorf("access token %d active after refresh-token reuse", i+1)
		}
		if st, _ := e.userinfo(at); st != http.StatusUnauthorized {
			t.Errorf("userinfo with access token %d: %d", i+1, st)
		}
		if st := e.callWith(at, "GET", "/directory/users/alice", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("management API with access token %d: %d", i+1, st)
		}
	}

	// Both carry the family's id.
	if f1, f2 := claims(t, at1)["fid"], claims(t, at2)["fid"]; f1 == nil || f1 != f2 {
		t.Errorf("family ids: %v %v", f1, f2)
	}

	// Code reuse: the access token of a refresh made after the first
	// redemption is revoked too.
	verifier, challenge := pkcePair()
	code := e.codeFor(s, newBrowser(t, s.redirect), mgmtScope, challenge)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect}, "code_verifier": {verifier},
		"client_id": {s.client.AppID}, "client_secret": {s.secret}}
	_, out = e.token(form)
	_, out = e.refresh(s, out["refresh_token"].(string))
	at3 := out["access_token"].(string)
	if !e.active(s, at3) {
		t.Fatal("fresh token inactive")
	}
	if st, _ := e.token(form); st != http.StatusBadRequest {
		t.Fatalf("code reuse: %d", st)
	}
	if e.active(s, at3) {
		t.Error("refreshed access token active after code reuse")
	}
	if st := e.callWith(at3, "GET", "/directory/users/alice", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("management API after code reuse: %d", st)
	}
}

func TestDisabledUsersTokensAreInactive(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	out := e.signInTokens(t, s, "openid offline_access api://"+s.backend.AppID+"/Colors.Read")
	at, rt := out["access_token"].(string), out["refresh_token"].(string)
	if !e.active(s, at) || !e.active(s, rt) {
		t.Fatal("fresh tokens inactive")
	}
	e.must(http.StatusOK, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": false}, nil)
	if e.active(s, at) || e.active(s, rt) {
		t.Fatal("a disabled user's tokens introspect active")
	}
	// Enabling again does not revive them.
	e.must(http.StatusOK, "PATCH", "/directory/users/alice", map[string]any{"accountEnabled": true}, nil)
	if e.active(s, at) || e.active(s, rt) {
		t.Fatal("tokens revived by enabling the user again")
	}
	if st, out := e.refresh(s, rt); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after disable and enable: %d %v", st, out)
	}
}

func TestUserinfoFollowsScopes(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	for _, c := range []struct {
		scope              string
		name, mail, upnKey bool
	}{
		{"openid", false, false, false},
		{"openid profile", true, false, true},
		{"openid email", false, true, false},
		{"openid profile email api://" + s.backend.AppID + "/Colors.Read", true, true, true},
	} {
		at := e.signInTokens(t, s, c.scope)["access_token"].(string)
		st, ui := e.userinfo(at)
		if st != http.StatusOK || ui["sub"] != s.userOID {
			t.Fatalf("%q: %d %v", c.scope, st, ui)
		}
		_, name := ui["name"]
		_, upn := ui["preferred_username"]
		_, mail := ui["email"]
		if name != c.name || upn != c.upnKey || mail != c.mail {
			t.Errorf("%q: userinfo %v", c.scope, ui)
		}
	}
}

func TestUserChangesRevokeSignIns(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	scope := "openid offline_access api://" + s.backend.AppID + "/Colors.Read"

	// A new password ends the sign-ins made before, and the browser
	// session.
	b := newBrowser(t, s.redirect)
	verifier, challenge := pkcePair()
	code := e.codeFor(s, b, scope, challenge)
	_, out := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.redirect},
		"code_verifier": {verifier}, "client_id": {s.client.AppID}, "client_secret": {s.secret}})
	at, rt := out["access_token"].(string), out["refresh_token"].(string)
	e.must(http.StatusNoContent, "POST", "/directory/users/alice/setPassword", map[string]any{"password": "a new password 42"}, nil)
	if st, out := e.refresh(s, rt); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after setPassword: %d %v", st, out)
	}
	if e.active(s, at) {
		t.Error("access token active after setPassword")
	}
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, scope, challenge).Encode())
	if p.status != http.StatusOK || p.location != "" {
		t.Fatalf("authorize with a session from before setPassword: %d %q", p.status, p.location)
	}
	s.password = "a new password 42"

	// A deleted user's objectId given to a new user does not revive the
	// deleted user's tokens.
	out = e.signInTokens(t, s, scope)
	at, rt = out["access_token"].(string), out["refresh_token"].(string)
	e.must(http.StatusNoContent, "DELETE", "/directory/users/alice", nil, nil)
	e.must(http.StatusCreated, "PUT", "/directory/users/mallory", map[string]any{"userPrincipalName": "mallory@example.com", "objectId": s.userOID}, nil)
	if st, out := e.refresh(s, rt); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh for a re-used objectId: %d %v", st, out)
	}
	if e.active(s, at) {
		t.Error("access token active for a re-used objectId")
	}
	if st, _ := e.userinfo(at); st != http.StatusUnauthorized {
		t.Errorf("userinfo for a re-used objectId: %d", st)
	}
	// The new user signs in normally.
	s.user = "mallory@example.com"
	e.must(http.StatusNoContent, "POST", "/directory/users/mallory/setPassword", map[string]any{"password": s.password}, nil)
	if out := e.signInTokens(t, s, scope); !e.active(s, out["access_token"].(string)) || !e.active(s, out["refresh_token"].(string)) {
		t.Error("the new user's tokens are inactive")
	}
	// The field is the server's: a PUT cannot move it back.
	var u map[string]any
	e.must(http.StatusOK, "GET", "/directory/users/mallory", nil, &u)
	if u["signInSessionsValidFromDateTime"] == nil {
		t.Fatalf("user %v", u)
	}
	e.must(http.StatusOK, "PUT", "/directory/users/mallory", map[string]any{"userPrincipalName": "mallory@example.com",
		"signInSessionsValidFromDateTime": time.Unix(0, 0).UTC().Format(time.RFC3339)}, nil)
	e.must(http.StatusOK, "GET", "/directory/users/mallory", nil, &u)
	if u["signInSessionsValidFromDateTime"] == "1970-01-01T00:00:00Z" {
		t.Error("signInSessionsValidFromDateTime was set by a client")
	}
	if st, out := e.refresh(s, rt); st != http.StatusBadRequest {
		t.Fatalf("old refresh token after a PUT: %d %v", st, out)
	}
}

func TestClientAuthenticationFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	res, cl, _ := e.seedClientCredentials()
	scope := res.AppID + "/.default"
	_, unknown := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-000000000000"}, "client_secret": {"x"}, "scope": {scope}})
	_, wrong := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {cl.AppID}, "client_secret": {"x"}, "scope": {scope}})
	if unknown["error"] != "invalid_client" || unknown["error_description"] != wrong["error_description"] {
		t.Fatalf("unknown client %v, wrong secret %v", unknown, wrong)
	}
	st, basicUnknown, _ := e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, "nobody", "x")
	_, basicWrong, _ := e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, cl.AppID, "x")
	if st != http.StatusUnauthorized || basicUnknown["error_description"] != basicWrong["error_description"] {
		t.Fatalf("Basic: unknown client %v, wrong secret %v", basicUnknown, basicWrong)
	}
}

func TestFailedRedemptionUsesUpTheCode(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	scope := "openid api://" + s.backend.AppID + "/Colors.Read"
	var thief appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/thief", map[string]any{"web": map[string]any{"redirectUris": []string{s.redirect}}}, &thief)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/thief/addPassword", nil, &added)
	verifier, challenge := pkcePair()
	wrongVerifier, _ := pkcePair()
	good := url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {s.redirect}, "code_verifier": {verifier},
		"client_id": {s.client.AppID}, "client_secret": {s.secret}}
	for _, c := range []struct {
		name string
		bad  url.Values
	}{
		{"missing verifier", url.Values{"code_verifier": nil}},
		{"wrong verifier", url.Values{"code_verifier": {wrongVerifier}}},
		{"wrong redirect_uri", url.Values{"redirect_uri": {"http://localhost:9999/other"}}},
		{"another client", url.Values{"client_id": {thief.AppID}, "client_secret": {added.SecretText}}},
		{"no client secret", url.Values{"client_secret": nil}},
		{"wrong client secret", url.Values{"client_secret": {"wrong"}}},
	} {
		code := e.codeFor(s, newBrowser(t, s.redirect), scope, challenge)
		f := url.Values{"code": {code}}
		for k, v := range good {
			f[k] = v
		}
		for k, v := range c.bad {
			if v == nil {
				delete(f, k)
			} else {
				f[k] = v
			}
		}
		if st, out := e.token(f); st < 400 {
			t.Fatalf("%s: accepted: %d %v", c.name, st, out)
		}
		good.Set("code", code)
		if st, out := e.token(good); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%s: the code was still redeemable: %d %v", c.name, st, out)
		}
		good.Del("code")
	}
}

package identity_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/store"
)

// A client with no permission on a resource asking for <resource>/.default
// gets nothing from it: not the user's roles, not a code.
func TestDefaultScopeWithoutAGrantIsRefused(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	e.must(http.StatusOK, "PUT", "/directory/users/alice", alice(s, map[string]any{"appRoleAssignments": mgmtReadWrite}), nil)

	for _, scope := range []string{mgmtScope, "openid api://" + s.backend.AppID + "/.default"} {
		q := e.authorize(newBrowser(t, s.redirect), authParams(s.client.AppID, s.redirect, scope, ""), s.user, s.password)
		if q.Get("code") != "" || q.Get("error") != "invalid_client" || !strings.Contains(q.Get("error_description"), "AADSTS650057") {
			t.Fatalf("%s without a grant: %v", scope, q)
		}
	}

	// Registered but not granted, and the user may consent: the consent
	// page is shown, and only after it is a code issued.
	e.permitManagement(s)
	b := newBrowser(t, s.redirect)
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, mgmtScope, "").Encode())
	p = b.signIn(e.idp.URL, p, s.user, s.password)
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="decision"`) || !strings.Contains(p.body, "Access the Tollgate management API") {
		t.Fatalf("no consent page for a registered, ungranted .default: %d %s %s", p.status, p.location, p.body)
	}
	p = b.consent(e.idp.URL, p, true)
	u, _ := url.Parse(p.location)
	if u.Query().Get("code") == "" {
		t.Fatalf("no code after consent: %s", p.location)
	}

	// Registered with only an admin-consent scope, not granted: refused.
	e.must(http.StatusOK, "PATCH", "/directory/applications/console-app", map[string]any{"requiredResourceAccess": []map[string]any{
		{"resourceAppId": s.backend.AppID, "resourceAccess": []map[string]any{{"id": "Colors.Admin", "type": "Scope"}}}}}, nil)
	q := e.authorize(newBrowser(t, s.redirect), authParams(s.client.AppID, s.redirect, "openid api://"+s.backend.AppID+"/.default", ""), s.user, s.password)
	if q.Get("code") != "" || q.Get("error") != "consent_required" {
		t.Fatalf("admin-only .default without admin consent: %v", q)
	}

	// Client credentials: roles the application only asks for, without
	// admin consent, are not in its token.
	e.must(http.StatusCreated, "PUT", "/directory/applications/asks-only", map[string]any{"requiredResourceAccess": []map[string]any{
		{"resourceAppId": identity.ManagementIdentifier, "resourceAccess": []map[string]any{{"id": identity.RoleManagementReadWrite, "type": "Role"}}}}}, nil)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/asks-only/addPassword", map[string]any{"displayName": "x"}, &added)
	var a appView
	e.must(http.StatusOK, "GET", "/directory/applications/asks-only", nil, &a)
	st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {a.AppID}, "client_secret": {added.SecretText}, "scope": {identity.ManagementIdentifier + "/.default"}})
	if st != http.StatusOK {
		t.Fatalf("client credentials: %d %v", st, out)
	}
	if roles := claims(t, out["access_token"].(string))["roles"]; roles != nil {
		t.Fatalf("client credentials without admin consent carry roles %v", roles)
	}
}

// Each refresh re-checks what the client holds now: a permission removed
// and consented again, or a scope disabled on the resource, is dropped;
// nothing left, the refresh is refused.
func TestRefreshFollowsWithdrawnPermissions(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	permit := func(scopes ...string) {
		var access []map[string]any
		for _, sc := range scopes {
			access = append(access, map[string]any{"id": sc, "type": "Scope"})
		}
		rra := []map[string]any{}
		if len(access) > 0 {
			rra = append(rra, map[string]any{"resourceAppId": s.backend.AppID, "resourceAccess": access})
		}
		e.must(http.StatusOK, "PATCH", "/directory/applications/console-app", map[string]any{"requiredResourceAccess": rra}, nil)
		e.must(http.StatusOK, "POST", "/directory/applications/console-app/grantAdminConsent", nil, nil)
	}
	scp := func(out map[string]any) string { return str(claims(t, out["access_token"].(string))["scp"]) }

	permit("Colors.Read", "Colors.Admin")
	out := e.signInTokens(t, s, "openid offline_access api://"+s.backend.AppID+"/.default")
	if got := scp(out); got != "Colors.Read Colors.Admin" {
		t.Fatalf("scp = %q", got)
	}
	// The admin withdraws Colors.Admin: the next refresh narrows.
	permit("Colors.Read")
	st, out := e.refresh(s, out["refresh_token"].(string))
	if st != http.StatusOK || scp(out) != "Colors.Read" || strings.Contains(str(out["scope"]), "Colors.Admin") {
		t.Fatalf("refresh after withdrawal: %d %v", st, out)
	}
	// Everything withdrawn: refused.
	permit()
	if st, out := e.refresh(s, out["refresh_token"].(string)); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after every permission was withdrawn: %d %v", st, out)
	}

	// A scope the user consented to, then disabled on the resource.
	out = e.signInTokens(t, s, "openid offline_access api://"+s.backend.AppID+"/Colors.Read")
	if st, o := e.refresh(s, out["refresh_token"].(string)); st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, o)
	} else {
		out = o
	}
	e.must(http.StatusOK, "PATCH", "/directory/applications/backend-app", map[string]any{"api": map[string]any{"oauth2PermissionScopes": []map[string]any{
		{"value": "Colors.Read", "adminConsentDisplayName": "Read colors", "type": "User", "isEnabled": false},
		{"value": "Colors.Admin", "adminConsentDisplayName": "Administer colors", "type": "Admin"},
	}}}, nil)
	if st, out := e.refresh(s, out["refresh_token"].(string)); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("refresh of a disabled scope: %d %v", st, out)
	}
}

// Concurrent wrong passwords for one account, from different addresses:
// the attempts are counted before the passwords are checked, so no more
// than the limit are checked.
func TestSignInThrottleCountsConcurrentAttempts(t *testing.T) {
	// A hash that takes a while to check, so the attempts overlap.
	e := newEnv(t, func(o *identity.Options) {
		o.Passwords = identity.PasswordHasher{Time: 3, MemoryKiB: 8 << 10, Threads: 1}
	})
	s := e.seedAuthCode()
	const n = 12
	type attempt struct {
		b      *browser
		action string
		form   url.Values
	}
	var attempts []attempt
	for i := range n {
		b := newBrowser(t, s.redirect)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		b.c.Transport = &http.Transport{DialContext: d.DialContext}
		p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, "openid", "").Encode())
		action, form := formFields(t, p.body)
		form.Set("username", s.user)
		form.Set("password", "wrong")
		attempts = append(attempts, attempt{b, action, form})
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i] = a.b.post(e.idp.URL+a.action, a.form).status
		}()
	}
	close(start)
	wg.Wait()
	checked := 0
	for _, st := range statuses {
		switch st {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("unexpected status %d in %v", st, statuses)
		}
	}
	if checked > 5 || checked == 0 {
		t.Fatalf("%d of %d concurrent wrong passwords were checked (limit 5): %v", checked, n, statuses)
	}
}

// A logout by GET without id_token_hint ends nothing until the user
// confirms with the page's own form.
func TestLogoutWithoutHintAsksToConfirm(t *testing.T) {
	e := newEnv(t)
	s := e.seedAuthCode()
	b := newBrowser(t, s.redirect)
	base := e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/"
	e.authorize(b, authParams(s.client.AppID, s.redirect, "openid", ""), s.user, s.password)
	signedIn := func() bool {
		p := b.get(base + "authorize?" + authParams(s.client.AppID, s.redirect, "openid", "").Encode())
		return p.location != "" && strings.Contains(p.location, "code=")
	}
	if !signedIn() {
		t.Fatal("not signed in")
	}
	logout := url.Values{"client_id": {s.client.AppID}, "post_logout_redirect_uri": {s.redirect}, "state": {"bye"}}
	p := b.get(base + "logout?" + logout.Encode())
	if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, `name="confirm"`) {
		t.Fatalf("logout without a hint: %d %q %s", p.status, p.location, p.body)
	}
	if !signedIn() {
		t.Fatal("an unconfirmed logout ended the session")
	}
	// A form posted from elsewhere (no CSRF token) is not a confirmation.
	forged := url.Values{"confirm": {"yes"}, "client_id": {s.client.AppID}, "post_logout_redirect_uri": {s.redirect}}
	if p := b.post(base+"logout", forged); p.status != http.StatusOK || p.location != "" || !signedIn() {
		t.Fatalf("forged confirmation: %d %q", p.status, p.location)
	}
	// The page's own form signs out and returns to the client.
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in %s", p.body)
	}
	confirm := url.Values{"confirm": {"yes"}, "csrf": {m[1]}, "client_id": {s.client.AppID}, "post_logout_redirect_uri": {s.redirect}, "state": {"bye"}}
	p = b.post(base+"logout", confirm)
	if p.location != s.redirect+"?state=bye" {
		t.Fatalf("confirmed logout: %d %q", p.status, p.location)
	}
	if signedIn() {
		t.Fatal("still signed in after a confirmed logout")
	}
}

// A management application made before it had a delegated scope gets it
// at the next start; the scope cannot be removed.
func TestManagementAppKeepsItsDelegatedScope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const path = "/directory/applications/tollgate-management"
	if _, err := e.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, path)
		if err != nil {
			return err
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body, &body); err != nil {
			return err
		}
		delete(body, "api")
		rec.Body, _ = json.Marshal(body)
		_, err = tx.Put(ctx, rec, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	newEnvOn(t, e.store, e.kr) // another start
	var app struct {
		API struct {
			OAuth2PermissionScopes []struct{ Value, Type string } `json:"oauth2PermissionScopes"`
		} `json:"api"`
		IdentifierURIs []string `json:"identifierUris"`
		AppRoles       []any    `json:"appRoles"`
	}
	e.must(http.StatusOK, "GET", path, nil, &app)
	if s := app.API.OAuth2PermissionScopes; len(s) != 1 || s[0].Value != identity.ScopeManagementUser || s[0].Type != "User" {
		t.Fatalf("management application's scopes after a start: %+v", s)
	}
	e.must(http.StatusBadRequest, "PATCH", path, map[string]any{"api": map[string]any{"oauth2PermissionScopes": []any{}}}, nil)
}

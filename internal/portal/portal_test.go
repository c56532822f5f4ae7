package portal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/portal"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

var subIDRe = regexp.MustCompile(`id="sub-([^"]+)"`)
var keyRe = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)

// TestSubscribeAndCallWithKey: sign in, subscribe to Starter, show the
// keys, call the gateway with them, regenerate, cancel; the limit and the
// approval-required product; on both backends.
func TestSubscribeAndCallWithKey(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, nil)
		e.seed()
		b := e.browser()
		// Anonymous: browsing works, subscribing sends to sign in.
		mustContain(t, b.get(e.url+"/products"), "Starter", "Colors", "Gold")
		mustNotContain(t, b.get(e.url+"/products"), "Draft")
		if pg := b.get(e.url + "/products/draft"); pg.status != http.StatusNotFound {
			t.Fatalf("unpublished product: %d", pg.status)
		}
		if pg := b.get(e.url + "/apis/hidden"); pg.status != http.StatusNotFound {
			t.Fatalf("API of no published product: %d", pg.status)
		}
		mustContain(t, b.get(e.url+"/apis/colors"), "List colors", "/colors/{id}", "Colors authorization", "api://colors/Colors.Read")
		mustContain(t, b.get(e.url+"/apis/colors/operations/get-color"), "<code>id</code>", "path", e.gwURL+"/colors/colors/{id}")
		b.signIn("alice@example.com")
		csrf := b.csrf()
		pg := b.post(e.url+"/products/starter/subscribe", url.Values{"csrf": {csrf}, "name": {"My starter"}})
		if pg.status != http.StatusBadRequest || !strings.Contains(pg.body, "Accept the product") {
			t.Fatalf("subscribing without accepting the terms: %d %s", pg.status, pg.body)
		}
		pg = b.post(e.url+"/products/starter/subscribe", url.Values{"csrf": {csrf}, "name": {"My starter"}, "accept": {"yes"}})
		mustContain(t, pg, "You are subscribed", "My starter", "active")
		mustNotContain(t, pg, `class="secret"`)
		sub := subIDRe.FindStringSubmatch(pg.body)[1]
		pg = b.post(e.url+"/subscriptions/"+sub+"/keys", url.Values{"csrf": {csrf}})
		if pg.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("keys page Cache-Control %q", pg.header.Get("Cache-Control"))
		}
		keys := keyRe.FindAllStringSubmatch(pg.body, -1)
		if len(keys) != 2 {
			t.Fatalf("keys page shows %d keys: %s", len(keys), pg.body)
		}
		primary, secondary := keys[0][1], keys[1][1]
		if got := e.callGateway("/echo/resource", "Ocp-Apim-Subscription-Key", primary); got != http.StatusOK {
			t.Fatalf("call with the primary key: %d", got)
		}
		if got := e.callGateway("/echo/resource", "Ocp-Apim-Subscription-Key", "0123456789abcdef0123456789abcdef"); got != http.StatusUnauthorized {
			t.Fatalf("call with a wrong key: %d", got)
		}
		// The limit of one Starter subscription.
		pg = b.post(e.url+"/products/starter/subscribe", url.Values{"csrf": {csrf}, "accept": {"yes"}})
		if pg.status != http.StatusConflict || !strings.Contains(pg.body, "limit") {
			t.Fatalf("second Starter subscription: %d %s", pg.status, pg.body)
		}
		// Regenerate the primary key: the old one stops working.
		b.post(e.url+"/subscriptions/"+sub+"/regenerate", url.Values{"csrf": {csrf}, "key": {"primary"}})
		if got := e.callGateway("/echo/resource", "Ocp-Apim-Subscription-Key", primary); got != http.StatusUnauthorized {
			t.Fatalf("call with the regenerated-away key: %d", got)
		}
		if got := e.callGateway("/echo/resource", "Ocp-Apim-Subscription-Key", secondary); got != http.StatusOK {
			t.Fatalf("call with the secondary key: %d", got)
		}
		// Approval required: submitted, and its key does not work.
		pg = b.post(e.url+"/products/gold/subscribe", url.Values{"csrf": {csrf}})
		mustContain(t, pg, "administrator must approve", "submitted")
		// Cancel.
		pg = b.post(e.url+"/subscriptions/"+sub+"/cancel", url.Values{"csrf": {csrf}})
		mustContain(t, pg, "cancelled")
		if got := e.callGateway("/echo/resource", "Ocp-Apim-Subscription-Key", secondary); got != http.StatusUnauthorized {
			t.Fatalf("call with a cancelled subscription's key: %d", got)
		}
	})
}

// TestCSRFRefused: a form without the token, with another browser's
// token, or from another origin is refused and changes nothing.
func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	b := e.browser()
	b.signIn("alice@example.com")
	other := e.browser().csrf()
	for name, form := range map[string]url.Values{"none": {}, "another browser's": {"csrf": {other}}, "forged": {"csrf": {"AAAA"}}} {
		pg := b.post(e.url+"/products/starter/subscribe", form)
		if pg.status != http.StatusForbidden || !strings.Contains(pg.body, "CSRF") {
			t.Fatalf("%s token: %d %s", name, pg.status, pg.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/products/starter/subscribe", strings.NewReader(url.Values{"csrf": {b.csrf()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if pg := b.do(req); pg.status != http.StatusForbidden {
		t.Fatalf("cross-origin form: %d", pg.status)
	}
	mustContain(t, b.get(e.url+"/subscriptions"), "no subscription yet")
}

// TestOwnDataOnly: bob sees neither alice's subscriptions and keys nor
// her applications and secrets, not even by their direct URLs.
func TestOwnDataOnly(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	alice, bob := e.browser(), e.browser()
	alice.signIn("alice@example.com")
	pg := alice.post(e.url+"/products/starter/subscribe", url.Values{"csrf": {alice.csrf()}, "accept": {"yes"}})
	sub := subIDRe.FindStringSubmatch(pg.body)[1]
	mustContain(t, alice.get(e.url+"/applications"), "Alice&#39;s partner app", e.partnerClientID, "Partner", `<code class="scope">`+e.partnerScope+"</code>")

	bob.signIn("bob@example.com")
	csrf := bob.csrf()
	mustNotContain(t, bob.get(e.url+"/subscriptions"), sub)
	mustNotContain(t, bob.get(e.url+"/applications"), e.partnerClientID, "partner app")
	for _, path := range []string{"/subscriptions/" + sub + "/keys", "/subscriptions/" + sub + "/regenerate", "/subscriptions/" + sub + "/cancel",
		"/applications/" + e.aliceApp + "/secret", "/applications/" + e.aliceApp + "/regenerate"} {
		pg := bob.post(e.url+path, url.Values{"csrf": {csrf}})
		if pg.status != http.StatusNotFound || keyRe.MatchString(pg.body) {
			t.Fatalf("bob POST %s: %d %s", path, pg.status, pg.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/console/key", strings.NewReader("subscription="+sub))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	if pg := bob.do(req); pg.status != http.StatusNotFound || strings.Contains(pg.body, `"key"`) {
		t.Fatalf("bob's console asks for alice's key: %d %s", pg.status, pg.body)
	}
	if pg := bob.consoleToken(csrf, url.Values{"api": {"inventory"}, "grant": {"client_credentials"}, "application": {e.aliceApp}}); pg.status != http.StatusNotFound || strings.Contains(pg.body, "access_token") {
		t.Fatalf("bob's console gets a token with alice's application: %d %s", pg.status, pg.body)
	}
	// Alice's subscription is untouched.
	mustContain(t, alice.get(e.url+"/subscriptions"), "active")
	// A blocked developer is signed out at once.
	if _, _, err := e.mgmt.Put(t.Context(), "/users/alice", []byte(`{"state":"blocked"}`), "", true); err != nil {
		t.Fatal(err)
	}
	if pg := alice.get(e.url + "/subscriptions"); pg.status != http.StatusForbidden || !strings.Contains(pg.body, "not active") {
		t.Fatalf("a blocked developer: %d %s", pg.status, pg.url)
	}
	// Anonymous: sent to sign in.
	anon := e.browser()
	if pg := anon.get(e.url + "/subscriptions"); !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("anonymous /subscriptions did not go to sign-in: %s", pg.url)
	}
}

// TestApplicationSecretAndClientCredentials: alice reveals her
// application's secret, gets a token with it through the console's token
// endpoint (the portal uses the secret; the browser never sees it) and
// calls the Partner product's API; a new secret leaves the old one working
// for the grace period.
func TestApplicationSecretAndClientCredentials(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	b := e.browser()
	b.signIn("alice@example.com")
	csrf := b.csrf()
	pg := b.get(e.url + "/applications")
	mustContain(t, pg, e.idpURL+"/"+e.idp.Tenant().ID+"/oauth2/v2.0/token", "24 hours")
	mustNotContain(t, pg, `class="secret"`)
	pg = b.post(e.url+"/applications/"+e.aliceApp+"/secret", url.Values{"csrf": {csrf}})
	m := keyRe.FindStringSubmatch(pg.body)
	if m == nil || pg.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("no secret shown (Cache-Control %q): %s", pg.header.Get("Cache-Control"), pg.body)
	}
	first := m[1]
	if got := e.appToken(e.partnerClientID, first, e.partnerScope); got == "" {
		t.Fatal("the shown secret gets no token")
	}
	mustContain(t, b.get(e.url+"/products/partner"), `<code class="scope">`+e.partnerScope+"</code>", "takes no subscription keys")
	mustNotContain(t, b.get(e.url+"/products/starter"), `class="scope"`)
	pg = b.get(e.url + "/apis/inventory/operations/list")
	mustContain(t, pg, `<option value="client">`, `<option value="alice-partner" data-scope="`+e.partnerScope+`">`)
	mustNotContain(t, pg, first)
	pg = b.consoleToken(csrf, url.Values{"api": {"inventory"}, "grant": {"client_credentials"}, "application": {e.aliceApp}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(pg.body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("console token: %d %s", pg.status, pg.body)
	}
	if got := e.callGateway("/inventory/stock", "Authorization", "Bearer "+tok.AccessToken); got != http.StatusOK {
		t.Fatalf("inventory with the application's token: %d", got)
	}
	if got := e.callGateway("/colors/colors", "Authorization", "Bearer "+tok.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("colors (needs scp Colors.Read) with an application token: %d", got)
	}
	// An API of no product the application is linked to: no application.
	pg = b.get(e.url + "/apis/echo/operations/get")
	mustNotContain(t, pg, `<option value="client">`)
	if pg := b.consoleToken(csrf, url.Values{"api": {"echo"}, "grant": {"client_credentials"}, "application": {e.aliceApp}}); pg.status != http.StatusNotFound {
		t.Fatalf("console token for an API of no linked product: %d %s", pg.status, pg.body)
	}
	// A new secret: shown once made; the previous one still works.
	pg = b.post(e.url+"/applications/"+e.aliceApp+"/regenerate", url.Values{"csrf": {csrf}})
	if !regexp.MustCompile(`previous one keeps working until \d{4}-\d\d-\d\d \d\d:\d\d UTC`).MatchString(pg.body) {
		t.Fatalf("the new secret's page does not say until when the previous one works: %s", pg.body)
	}
	m = keyRe.FindStringSubmatch(pg.body)
	if m == nil || m[1] == first {
		t.Fatalf("no new secret shown: %s", pg.body)
	}
	for _, sec := range []string{first, m[1]} {
		if got := e.appToken(e.partnerClientID, sec, e.partnerScope); got == "" {
			t.Fatal("a secret of the grace period gets no token")
		}
	}
}

// appToken asks the identity provider for a client credentials token and
// returns it, or "".
func (e *env) appToken(clientID, secret, scope string) string {
	e.t.Helper()
	resp, err := http.PostForm(e.idp.Metadata()["token_endpoint"].(string), url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	return tok.AccessToken
}

// consoleToken posts to the console's token endpoint as its script does.
func (b *browser) consoleToken(csrf string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+"/console/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	return b.do(req)
}

// TestSignUp: a visitor makes an account, signs in with it and owns a
// management user; with sign-up off (portal settings through the
// management API) the page and the form are gone.
func TestSignUp(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	b := e.browser()
	pg := b.get(e.url + "/signup")
	mustContain(t, pg, `<label for="email">Email</label>`)
	bad := b.post(e.url+"/signup", url.Values{"csrf": {pg.hidden("csrf")}, "email": {"nope"}, "firstName": {""}, "password": {"short"}, "confirm": {"short"}})
	if bad.status != http.StatusBadRequest {
		t.Fatalf("bad sign-up: %d", bad.status)
	}
	mustContain(t, bad, "Enter an email address", "Enter your first name", "Use 12 to 200", `aria-invalid="true"`)
	dup := b.post(e.url+"/signup", url.Values{"csrf": {pg.hidden("csrf")}, "email": {"alice@example.com"}, "firstName": {"A"}, "password": {password}, "confirm": {password}})
	mustContain(t, dup, "An account with this email exists")
	form := url.Values{"csrf": {pg.hidden("csrf")}, "email": {"carol@example.com"}, "firstName": {"Carol"}, "lastName": {"Poe"}, "password": {password}, "confirm": {password}}
	pg = b.post(e.url+"/signup", form)
	mustContain(t, pg, `name="password"`, "carol@example.com") // the identity provider's sign-in, with the hint
	b.signIn("carol@example.com")
	mustContain(t, b.get(e.url+"/"), "Carol Poe")
	recs, err := e.store.List(t.Context(), "users", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || bytes.Contains(r.Body, []byte("carol@example.com"))
	}
	if !found {
		t.Fatal("no management user for carol")
	}

	// Terms set by the operator must be accepted.
	if status, body := e.mgmtCall(http.MethodPut, "/portalSettings/default", `{"terms":"Be nice to the APIs."}`); status != http.StatusCreated {
		t.Fatalf("PUT settings: %d %s", status, body)
	}
	form.Set("email", "frank@example.com")
	pg = b.post(e.url+"/signup", form)
	if pg.status != http.StatusBadRequest || !strings.Contains(pg.body, "Be nice to the APIs.") || !strings.Contains(pg.body, "Accept the terms") {
		t.Fatalf("sign-up without accepting the terms: %d %s", pg.status, pg.body)
	}

	// Sign-up off, through the management API.
	anon := e.browser()
	anonCSRF := anon.csrf()
	status, body := e.mgmtCall(http.MethodPut, "/portalSettings/default", `{"title":"Contoso developers","signUpEnabled":false,"primaryColor":"#7a1f5c"}`)
	if status != http.StatusOK {
		t.Fatalf("PUT settings: %d %s", status, body)
	}
	pg = anon.get(e.url + "/signup")
	if pg.status != http.StatusNotFound {
		t.Fatalf("sign-up page with sign-up off: %d", pg.status)
	}
	if pg = anon.post(e.url+"/signup", url.Values{"csrf": {anonCSRF}, "email": {"dave@example.com"}, "firstName": {"D"}, "password": {password}, "confirm": {password}}); pg.status != http.StatusNotFound {
		t.Fatalf("sign-up POST with sign-up off: %d", pg.status)
	}
	pg = anon.get(e.url + "/")
	mustContain(t, pg, "<title>Home · Contoso developers</title>")
	mustNotContain(t, pg, "/signup")
	if css := anon.get(e.url + "/theme.css"); !strings.Contains(css.body, "--primary:#7a1f5c") {
		t.Fatalf("theme: %s", css.body)
	}
	status, body = e.mgmtCall(http.MethodPut, "/portalSettings/default", `{"primaryColor":"red","logoUrl":"javascript:alert(1)"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "primaryColor") || !strings.Contains(body, "logoUrl") {
		t.Fatalf("bad settings: %d %s", status, body)
	}
}

// TestSignUpRateLimited: one client address gets a bounded number of
// sign-up attempts (10 an hour), valid or not; past it even a valid form
// is refused with 429 and no account is made.
func TestSignUpRateLimited(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	b := e.browser()
	csrf := b.csrf()
	for i := range 10 {
		pg := b.post(e.url+"/signup", url.Values{"csrf": {csrf}, "email": {"nope"}})
		if pg.status != http.StatusBadRequest {
			t.Fatalf("attempt %d: %d %s", i+1, pg.status, pg.body)
		}
	}
	pg := b.post(e.url+"/signup", url.Values{"csrf": {csrf}, "email": {"gina@example.com"}, "firstName": {"Gina"}, "password": {password}, "confirm": {password}})
	if pg.status != http.StatusTooManyRequests || pg.header.Get("Retry-After") == "" {
		t.Fatalf("attempt 11: %d (Retry-After %q)", pg.status, pg.header.Get("Retry-After"))
	}
	mustContain(t, pg, "Too many sign-up attempts")
	recs, err := e.store.List(t.Context(), "users", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if bytes.Contains(r.Body, []byte("gina@example.com")) {
			t.Fatal("a refused sign-up made an account")
		}
	}
}

func (e *env) mgmtCall(method, path, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.mgmtURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHeadersAndMounts: security headers and cookies, sign-out, and a
// mounted handler (the credential manager's pages).
func TestHeadersAndMounts(t *testing.T) {
	mounted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "credential manager at "+r.URL.Path)
	})
	e := newEnv(t, teststores.SQLite(t), map[string]http.Handler{"/credential-manager/": mounted})
	e.seed()
	b := e.browser()
	pg := b.get(e.url + "/")
	csp := pg.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self' " + e.gwURL} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if pg.header.Get("X-Frame-Options") != "DENY" || pg.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("framing headers: %v", pg.header)
	}
	b.signIn("alice@example.com")
	u, _ := url.Parse(e.url)
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "tgp_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	pg = b.get(e.url + "/credential-manager/consent")
	if pg.body != "credential manager at /credential-manager/consent" || pg.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("mounted handler: %q %v", pg.body, pg.header)
	}
	pg = b.post(e.url+"/signout", url.Values{"csrf": {b.csrf()}})
	if !strings.HasPrefix(pg.url, e.url+"/") || strings.Contains(pg.body, "Sign out") {
		t.Fatalf("after sign-out: %s %s", pg.url, pg.body)
	}
	// The old session cookie no longer signs in.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/subscriptions", nil)
	req.AddCookie(session)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("old session after sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

var dataAttrRe = regexp.MustCompile(`data-(authorize|client-id|callback)="([^"]*)"`)

// consoleToken does what the console's script does for the authorization
// code grant: PKCE, the authorization endpoint (the browser is signed in
// to the identity provider, so it answers at once), the callback page,
// and the portal's token exchange.
func consoleToken(t *testing.T, b *browser, api, op, scope string) map[string]any {
	t.Helper()
	pg := b.get(b.e.url + "/apis/" + api + "/operations/" + op)
	attrs := map[string]string{}
	for _, m := range dataAttrRe.FindAllStringSubmatch(pg.body, -1) {
		attrs[m[1]] = html.UnescapeString(m[2])
	}
	if attrs["authorize"] == "" || attrs["callback"] != b.e.url+"/console/oauth-callback" {
		t.Fatalf("console data of %s/%s: %v", api, op, attrs)
	}
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {attrs["client-id"]}, "redirect_uri": {attrs["callback"]}, "scope": {scope},
		"state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	cb := b.get(attrs["authorize"] + "?" + q.Encode())
	u, _ := url.Parse(cb.url)
	if !strings.HasPrefix(cb.url, attrs["callback"]) || u.Query().Get("code") == "" || u.Query().Get("state") != "s1" {
		t.Fatalf("authorization ended at %s: %s", cb.url, cb.body)
	}
	mustContain(t, cb, "callback.js")
	form := url.Values{"api": {api}, "grant": {"authorization_code"}, "code": {u.Query().Get("code")}, "code_verifier": {verifier}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, b.e.url+"/console/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", b.csrf())
	res := b.do(req)
	var tok map[string]any
	if err := json.Unmarshal([]byte(res.body), &tok); err != nil || tok["access_token"] == nil {
		t.Fatalf("console token for %s: %d %s", api, res.status, res.body)
	}
	return tok
}

// TestConsoleAuthorizationCode: the console's authorization code grant
// with PKCE, through an API's authorization server (a token with the
// scope calls the Colors API; one without is refused) and through an
// API's OpenID Connect provider (its endpoints read from discovery).
func TestConsoleAuthorizationCode(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	b := e.browser()
	b.signIn("alice@example.com")
	tok := consoleToken(t, b, "colors", "list-colors", "api://colors/Colors.Read")
	if got := e.callGateway("/colors/colors", "Authorization", "Bearer "+tok["access_token"].(string)); got != http.StatusOK {
		t.Fatalf("colors with a Colors.Read token: %d", got)
	}
	tok = consoleToken(t, b, "colors", "list-colors", "api://colors/Colors.Write")
	if got := e.callGateway("/colors/colors", "Authorization", "Bearer "+tok["access_token"].(string)); got != http.StatusUnauthorized {
		t.Fatalf("colors with a Colors.Write token: %d", got)
	}
	mustContain(t, b.get(e.url+"/apis/profile/operations/me"), "OpenID Connect through <strong>Tollgate sign-in</strong>", `value="openid profile"`)
	tok = consoleToken(t, b, "profile", "me", "openid profile")
	if tok["token_type"] != "Bearer" {
		t.Fatalf("OpenID provider token: %v", tok)
	}
	// Anonymous console requests are refused.
	anon := e.browser()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/console/token", strings.NewReader("api=colors&grant=authorization_code"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", anon.csrf())
	if pg := anon.do(req); pg.status != http.StatusUnauthorized {
		t.Fatalf("anonymous console token: %d", pg.status)
	}
}

// TestPagesWhileConfigurationChanges: pages read the view while changes
// are applied (run with -race).
func TestPagesWhileConfigurationChanges(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				for _, path := range []string{"/products", "/apis", "/", "/apis/colors"} {
					resp, err := http.Get(e.url + path)
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("GET %s: %d", path, resp.StatusCode)
						return
					}
				}
			}
		}()
	}
	for i := range 20 {
		e.put(fmt.Sprintf("/products/extra%d", i), map[string]any{"displayName": fmt.Sprintf("Extra %d", i), "state": "published"})
		e.put(fmt.Sprintf("/products/extra%d/apis/echo", i), map[string]any{})
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mustContain(t, e.browser().get(e.url+"/products?q=extra+19"), "Extra 19")
}

// TestPublicURL: behind a TLS reverse proxy, every link, redirect URI and
// cookie follows the public URL.
func TestPublicURL(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	const public = "https://developer.example.com/portal"
	p, err := portal.New(portal.Options{Store: e.store, Management: e.mgmt, Identity: e.idp, Applications: e.apps, Limiter: e.limiter,
		PublicURL: public, GatewayURL: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Bootstrap(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec, err := e.store.Get(t.Context(), portal.AppPath)
	if err != nil || !bytes.Contains(rec.Body, []byte(public+"/signin-oidc")) {
		t.Fatalf("the portal's redirect URIs: %s %v", rec.Body, err)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/apis/colors", nil))
	body := w.Body.String()
	for _, want := range []string{`href="` + public + `/static/portal.css"`, `href="` + public + `/products"`, "https://api.example.com/colors"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if c := w.Result().Cookies(); len(c) == 0 || !c[0].Secure || !c[0].HttpOnly || c[0].Name != "__Host-tgp_browser" {
		t.Errorf("cookies behind https: %v", c)
	}
	if w.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS behind https")
	}
	w = httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/signin", nil))
	if loc := w.Header().Get("Location"); !strings.Contains(loc, url.QueryEscape(public+"/signin-oidc")) {
		t.Errorf("sign-in redirect_uri: %s", loc)
	}
}

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/store/storetest"
)

// appsServer runs fn against a whole Tollgate on SQLite, and on PostgreSQL
// when TOLLGATE_TEST_POSTGRES is set.
func appsServer(t *testing.T, fn func(t *testing.T, s *appsEnv)) {
	t.Run("sqlite", func(t *testing.T) {
		srv, out := testServer(t, t.TempDir())
		fn(t, &appsEnv{srv: srv, out: out})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := storetest.PostgresDSN(t)
		srv, out := testServer(t, t.TempDir(), "--database", dsn)
		fn(t, &appsEnv{srv: srv, out: out})
	})
}

type appsEnv struct {
	srv *server
	out *syncBuffer
}

// do calls the management API as the administrator and checks the status.
func (e *appsEnv) do(t *testing.T, method, path, body string, want int) map[string]any {
	t.Helper()
	st, _, b := call(t, method, e.srv.urls["management"]+path, body, append(e.srv.admin(), "Content-Type", "application/json")...)
	return mustJSON(t, st, want, b)
}

// token asks the identity provider for an application token.
func (e *appsEnv) token(t *testing.T, clientID, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	st, _, b := call(t, "POST", e.srv.urls["identity"]+"/default/oauth2/v2.0/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	tok, _ := mustJSON(t, st, 200, b)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token: %s", b)
	}
	return tok
}

// gw calls the Echo API through the gateway with the given headers and
// returns the status, the WWW-Authenticate header and the body.
func (e *appsEnv) gw(t *testing.T, headers ...string) (int, string, string) {
	t.Helper()
	st, h, b := call(t, "GET", e.srv.urls["gateway"]+"/echo/resource", "", headers...)
	return st, h.Get("WWW-Authenticate"), string(b)
}

func bearerHeader(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// newApp creates a client application and returns its client id and secret.
func (e *appsEnv) newApp(t *testing.T, name, owner string) (string, string) {
	t.Helper()
	a := e.do(t, "PUT", "/clientApplications/"+name, `{"displayName": "`+name+`", "ownerId": "`+owner+`"}`, 201)
	if _, ok := a["clientSecret"]; ok {
		t.Fatalf("the secret is in the PUT answer: %v", a)
	}
	sec := e.do(t, "POST", "/clientApplications/"+name+"/listSecrets", "", 200)
	secret, _ := sec["clientSecret"].(string)
	exp, err := time.Parse(time.RFC3339, sec["expiresAt"].(string))
	if secret == "" || err != nil || exp.Before(time.Now().Add(360*24*time.Hour)) {
		t.Fatalf("listSecrets: %v (%v)", sec, err)
	}
	return a["applicationId"].(string), secret
}

func TestProductApplications(t *testing.T) {
	appsServer(t, func(t *testing.T, e *appsEnv) {
		e.do(t, "PUT", "/users/dev1", `{"email": "dev1@example.com", "firstName": "Dev", "lastName": "One"}`, 201)
		e.do(t, "PUT", "/users/dev2", `{"email": "dev2@example.com", "firstName": "Dev", "lastName": "Two"}`, 201)
		// The Orders product admits application tokens only; the Echo API
		// is also in Starter and Unlimited, which take keys.
		p := e.do(t, "PUT", "/products/orders", `{"displayName": "Orders", "authenticationType": ["oauth2Token"], "state": "published",
			"application": {"applicationId": "00000000-0000-0000-0000-000000000000"}}`, 201)
		pa, _ := p["application"].(map[string]any)
		prodAppID, _ := pa["applicationId"].(string)
		if prodAppID == "" || prodAppID == "00000000-0000-0000-0000-000000000000" || pa["audience"] != "api://"+prodAppID || pa["tenantId"] == "" {
			t.Fatalf("product application: %v", p)
		}
		reg := e.do(t, "GET", "/directory/applications/"+prodAppID, "", 200)
		if reg["displayName"] != "Tollgate Product Orders" || !strings.Contains(mustMarshal(reg["appRoles"]), "Product.orders.All") {
			t.Fatalf("directory registration: %v", reg)
		}
		list := e.do(t, "GET", "/products?$filter=application%20ne%20null", "", 200)
		if n := len(list["value"].([]any)); n != 1 {
			t.Fatalf("OAuth products listed: %v", list)
		}
		e.do(t, "PUT", "/products/orders/apis/echo-api", `{}`, 201)
		e.do(t, "DELETE", "/directory/applications/"+prodAppID, "", 409)
		e.do(t, "PUT", "/products/orders/policies/policy", `{"format": "xml", "value": "<policies><inbound><base /><set-header name=\"X-App\" exists-action=\"override\"><value>@(context.Application.Id + \"/\" + context.Application.OwnerId + \"/\" + context.User.Email + \"/\" + context.Product.Id)</value></set-header></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"}`, 201)

		clientID, secret := e.newApp(t, "app1", "/users/dev1")
		scope := "api://" + prodAppID + "/.default"

		// Not linked yet: the token carries no role.
		tok := e.token(t, clientID, secret, scope)
		if st, wa, body := e.gw(t, bearerHeader(tok)...); st != 401 || wa != `Bearer error="invalid_token"` || !strings.Contains(body, "invalid access token") {
			t.Fatalf("unlinked app: %d %q %s", st, wa, body)
		}
		e.do(t, "PUT", "/clientApplications/app1/productLinks/orders", `{"productId": "/products/orders"}`, 201)
		tok = e.token(t, clientID, secret, scope)
		st, _, body := e.gw(t, bearerHeader(tok)...)
		if st != 200 || !strings.Contains(body, "app1/dev1/dev1@example.com/orders") {
			t.Fatalf("linked app: %d %s", st, body)
		}
		if strings.Contains(e.out.String(), tok) {
			t.Fatal("the token is in the log")
		}

		// Unlink: the same token is refused on the next request.
		e.do(t, "DELETE", "/clientApplications/app1/productLinks/orders", "", 204)
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 401 {
			t.Fatalf("after unlink: %d %s", st, body)
		}
		e.do(t, "PUT", "/clientApplications/app1/productLinks/orders", `{"productId": "/products/orders"}`, 201)
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 200 {
			t.Fatalf("after re-link: %d %s", st, body)
		}
		// Suspend, resume.
		e.do(t, "PATCH", "/clientApplications/app1", `{"state": "suspended"}`, 200)
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 401 {
			t.Fatalf("suspended: %d %s", st, body)
		}
		e.do(t, "PATCH", "/clientApplications/app1", `{"state": "active"}`, 200)
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 200 {
			t.Fatalf("active again: %d %s", st, body)
		}

		// Key-only products are unaffected, with or without the token.
		st2, _, b2 := call(t, "POST", e.srv.urls["management"]+"/subscriptions/admin-unlimited/listSecrets", "", e.srv.admin()...)
		ukey, _ := mustJSON(t, st2, 200, b2)["primaryKey"].(string)
		if st, _, body := e.gw(t, "Ocp-Apim-Subscription-Key", ukey); st != 200 {
			t.Fatalf("Unlimited key: %d %s", st, body)
		}
		if st, _, body := e.gw(t, "Ocp-Apim-Subscription-Key", ukey, "Authorization", "Bearer not-a-token"); st != 200 {
			t.Fatalf("a key wins over a token: %d %s", st, body)
		}
		if st, _, body := e.gw(t); st != 401 || !strings.Contains(body, "subscription key") {
			t.Fatalf("nothing presented: %d %s", st, body)
		}

		// Tokens that must not work.
		client2, secret2 := e.newApp(t, "app2", "/users/dev2")
		if st, _, _ := e.gw(t, bearerHeader(e.token(t, client2, secret2, scope))...); st != 401 {
			t.Fatalf("another application's token: %d", st)
		}
		e.do(t, "PUT", "/products/other", `{"displayName": "Other", "authenticationType": ["oauth2Token"]}`, 201)
		other := e.do(t, "GET", "/products/other", "", 200)["application"].(map[string]any)["audience"].(string)
		e.do(t, "PUT", "/clientApplications/app1/productLinks/other", `{"productId": "/products/other"}`, 201)
		if st, _, _ := e.gw(t, bearerHeader(e.token(t, clientID, secret, other+"/.default"))...); st != 401 {
			t.Fatalf("a token for another product: %d", st)
		}
		if st, _, _ := e.gw(t, bearerHeader(foreignToken(t, prodAppID, clientID))...); st != 401 {
			t.Fatalf("a token of another issuer: %d", st)
		}

		// Bad input is refused and changes nothing.
		for _, c := range []struct {
			path, body string
			want       int
		}{
			{"/clientApplications/app1/productLinks/x", `{"productId": "/products/nope"}`, 400},
			{"/clientApplications/app1/productLinks/x", `{"productId": "/products/unlimited"}`, 400},
			{"/clientApplications/app1/productLinks/x", `{"productId": "/products/orders"}`, 409},
			{"/clientApplications/app1/productLinks/x", `{"productId": "orders"}`, 400},
			{"/clientApplications/app3", `{"displayName": "App 3", "ownerId": "/users/nobody"}`, 400},
			{"/clientApplications/app3", `{"displayName": "App 3", "ownerId": "/users/dev1", "clientSecret": "mine"}`, 400},
			{"/clientApplications/app3", `{"displayName": "App 3", "ownerId": "/users/dev1", "state": "paused"}`, 400},
		} {
			st, _, b := call(t, "PUT", e.srv.urls["management"]+c.path, c.body, e.srv.admin()...)
			if st != c.want {
				t.Errorf("PUT %s %s: %d, want %d: %s", c.path, c.body, st, c.want, b)
			}
			if st, _, _ := call(t, "GET", e.srv.urls["management"]+c.path, "", e.srv.admin()...); st != 404 {
				t.Errorf("refused PUT %s left a resource (%d)", c.path, st)
			}
		}

		// secretExpiresAt: chosen at creation, in the future.
		e.do(t, "PUT", "/clientApplications/app4", `{"displayName": "App 4", "ownerId": "/users/dev1", "secretExpiresAt": "2020-01-01T00:00:00Z"}`, 400)
		e.do(t, "PUT", "/clientApplications/app4", `{"displayName": "App 4", "ownerId": "/users/dev1", "secretExpiresAt": "2099-01-01T00:00:00Z"}`, 201)
		if exp := e.do(t, "POST", "/clientApplications/app4/listSecrets", "", 200)["expiresAt"]; exp != "2099-01-01T00:00:00Z" {
			t.Fatalf("secretExpiresAt: %v", exp)
		}

		// Rotation: the old secret works during the grace period, the new
		// one at once.
		rg := e.do(t, "POST", "/clientApplications/app1/regenerateSecret", "", 200)
		if rg["previousSecretExpiresAt"] == "" {
			t.Fatalf("regenerateSecret: %v", rg)
		}
		newSecret := e.do(t, "POST", "/clientApplications/app1/listSecrets", "", 200)["clientSecret"].(string)
		if newSecret == secret {
			t.Fatal("regenerateSecret kept the secret")
		}
		e.token(t, clientID, secret, scope)
		tok = e.token(t, clientID, newSecret, scope)
		// A second rotation ends the first secret.
		oldest := e.do(t, "POST", "/clientApplications/app4/listSecrets", "", 200)["clientSecret"].(string)
		e.do(t, "POST", "/clientApplications/app4/regenerateSecret", "", 200)
		e.do(t, "POST", "/clientApplications/app4/regenerateSecret", "", 200)
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.do(t, "GET", "/clientApplications/app4", "", 200)["applicationId"].(string)},
			"client_secret": {oldest}, "scope": {scope}}
		if st, _, b := call(t, "POST", e.srv.urls["identity"]+"/default/oauth2/v2.0/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); st != 401 {
			t.Fatalf("a secret rotated twice still works: %d %s", st, b)
		}
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 200 {
			t.Fatalf("token with the new secret: %d %s", st, body)
		}

		// Rate limits count per application, as per subscription.
		lim := e.do(t, "PUT", "/products/limited", `{"displayName": "Limited", "authenticationType": ["oauth2Token"]}`, 201)["application"].(map[string]any)["audience"].(string)
		e.do(t, "PUT", "/products/limited/apis/echo-api", `{}`, 201)
		e.do(t, "PUT", "/products/limited/policies/policy", `{"format": "xml", "value": "<policies><inbound><base /><rate-limit calls=\"2\" renewal-period=\"60\" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"}`, 201)
		e.do(t, "PUT", "/clientApplications/app1/productLinks/limited", `{"productId": "/products/limited"}`, 201)
		e.do(t, "PUT", "/clientApplications/app2/productLinks/limited", `{"productId": "/products/limited"}`, 201)
		lim1, lim2 := e.token(t, clientID, newSecret, lim+"/.default"), e.token(t, client2, secret2, lim+"/.default")
		for i, want := range []int{200, 200, 429} {
			if st, _, body := e.gw(t, bearerHeader(lim1)...); st != want {
				t.Fatalf("app1 call %d on Limited: %d, want %d: %s", i+1, st, want, body)
			}
		}
		if st, _, body := e.gw(t, bearerHeader(lim2)...); st != 200 {
			t.Fatalf("app2 on Limited after app1 ran out: %d %s", st, body)
		}

		// OAuth off: tokens stop, the registration and links are gone.
		e.do(t, "PATCH", "/products/orders", `{"authenticationType": ["subscriptionKey"]}`, 200)
		if st, _, body := e.gw(t, bearerHeader(tok)...); st != 401 {
			t.Fatalf("OAuth off: %d %s", st, body)
		}
		e.do(t, "GET", "/directory/applications/"+prodAppID, "", 404)
		e.do(t, "GET", "/clientApplications/app1/productLinks/orders", "", 404)
		if p := e.do(t, "GET", "/products/orders", "", 200); p["application"] != nil {
			t.Fatalf("application kept: %v", p)
		}

		// An application's owner cannot be deleted while it owns it.
		e.do(t, "DELETE", "/users/dev2", "", 409)

		// Deleting an application removes its registration.
		e.do(t, "DELETE", "/clientApplications/app2", "", 204)
		apps := e.do(t, "GET", "/directory/applications", "", 200)
		if strings.Contains(mustMarshal(apps), client2) {
			t.Fatal("app2's registration survived its deletion")
		}
		e.do(t, "DELETE", "/users/dev2", "", 204)
	})
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// foreignToken is a well-formed token with the right claims, signed by a
// key the built-in provider never had.
func foreignToken(t *testing.T, aud, azp string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": aud, "azp": azp, "roles": []string{"Product.orders.All"}, "iss": "https://elsewhere.example/v2.0",
		"exp": time.Now().Add(time.Hour).Unix(), "idtyp": "app",
	})
	tok.Header["kid"] = "elsewhere"
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestProductApplicationsCLI: apply, get and export know client
// applications and their links like every other kind.
func TestProductApplicationsCLI(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	conn := []string{"--management-url", srv.urls["management"], "--admin-key", srv.adminKey, "--data-dir", t.TempDir()}
	cli := func(args ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, append(args, conn...)...)
		if code != 0 {
			t.Fatalf("tollgate %v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	file := writeCLIFiles(t, map[string]string{"apps.yaml": `
kind: user
id: dev1
email: dev1@example.com
firstName: Dev
lastName: One
---
kind: product
id: orders
displayName: Orders
authenticationType: [oauth2Token]
---
kind: productApi
id: orders/echo-api
---
kind: clientApplication
id: app1
displayName: App One
ownerId: /users/dev1
---
kind: productLink
id: app1/orders
productId: /products/orders
`})
	cli("apply", "-f", file)
	cli("apply", "-f", file) // idempotent
	out := cli("get", "clientApplications")
	if !strings.Contains(out, "APPLICATION ID") || !strings.Contains(out, "app1") || !strings.Contains(out, "/users/dev1") || !strings.Contains(out, "active") {
		t.Errorf("get clientApplications:\n%s", out)
	}
	if out := cli("get", "productLinks", "app1"); !strings.Contains(out, "/clientApplications/app1/productLinks/orders") || !strings.Contains(out, "/products/orders") {
		t.Errorf("get productLinks:\n%s", out)
	}
	if out := cli("get", "products"); !strings.Contains(out, "AUTHENTICATION TYPE") || !strings.Contains(out, "oauth2Token") {
		t.Errorf("get products:\n%s", out)
	}
	// A directory registration of one's own is exported; those of the
	// product and the application are not.
	st, _, b := call(t, "PUT", srv.urls["management"]+"/directory/applications/mine", `{"displayName": "Mine"}`, srv.admin()...)
	if st != 201 {
		t.Fatalf("PUT mine: %d %s", st, b)
	}
	exported := cli("export", "--include-secrets")
	for _, want := range []string{"kind: clientApplication", "kind: productLink", "ownerId: /users/dev1", "displayName: Mine"} {
		if !strings.Contains(exported, want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if n := strings.Count(exported, "displayName: App One"); n != 1 {
		t.Errorf("App One exported %d times (the application's registration too?)", n)
	}
	for _, bad := range []string{"clientSecret", "directoryId", "secretKeyId", "applicationId", "Tollgate Product"} {
		if strings.Contains(exported, bad) {
			t.Errorf("export has %q:\n%s", bad, exported)
		}
	}
}

// signIn signs a directory user in through the authorization endpoint, as
// the developer portal does, and returns the access token for the
// management API.
func (e *appsEnv) signIn(t *testing.T, upn, password, scope string) string {
	t.Helper()
	const redirect = "http://localhost:8080/callback"
	if st, _, _ := call(t, "GET", e.srv.urls["management"]+"/directory/applications/portal-test", "", e.srv.admin()...); st == 404 {
		e.do(t, "PUT", "/directory/applications/portal-test", `{"displayName": "Portal", "web": {"redirectUris": ["`+redirect+`"]}, "requiredResourceAccess": [{"resourceAppId": "api://tollgate-management", "resourceAccess": [{"id": "user_impersonation", "type": "Scope"}]}]}`, 201)
	}
	portal := e.do(t, "GET", "/directory/applications/portal-test", "", 200)["appId"].(string)
	secret := e.do(t, "POST", "/directory/applications/portal-test/addPassword", `{}`, 200)["secretText"].(string)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	idp := e.srv.urls["identity"]
	q := url.Values{"client_id": {portal}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid " + scope}, "state": {"s1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	res, err := c.Get(idp + "/default/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, res)
	form := func(page string) (string, url.Values) {
		action := regexp.MustCompile(`<form method="post" action="([^"]*)"`).FindStringSubmatch(page)
		if action == nil {
			t.Fatalf("no form in (%d %s):\n%s", res.StatusCode, res.Header.Get("Location"), page)
		}
		v := url.Values{}
		for _, m := range regexp.MustCompile(`name="(req|csrf)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return html.UnescapeString(action[1]), v
	}
	action, v := form(page)
	v.Set("username", upn)
	v.Set("password", password)
	res, err = c.PostForm(idp+action, v)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == 200 { // consent
		action, v = form(readAll(t, res))
		v.Set("decision", "accept")
		if res, err = c.PostForm(idp+action, v); err != nil {
			t.Fatal(err)
		}
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s %s", res.StatusCode, res.Header.Get("Location"), readAll(t, res))
	}
	tv := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "client_id": {portal}, "client_secret": {secret}}
	st, _, b := call(t, "POST", idp+"/default/oauth2/v2.0/token", tv.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	return mustJSON(t, st, 200, b)["access_token"].(string)
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeveloperApplications: a signed-in developer lists their own
// applications and reads their secrets through the management API's
// developer endpoint, and nobody else's.
func TestDeveloperApplications(t *testing.T) {
	appsServer(t, func(t *testing.T, e *appsEnv) {
		for _, u := range []string{"dev1", "dev2"} {
			e.do(t, "PUT", "/users/"+u, `{"email": "`+u+`@example.com", "firstName": "Dev", "lastName": "`+u+`"}`, 201)
			e.do(t, "PUT", "/directory/users/"+u, `{"userPrincipalName": "`+u+`@example.com", "displayName": "`+u+`", "mail": "`+u+`@example.com"}`, 201)
			st, _, b := call(t, "POST", e.srv.urls["management"]+"/directory/users/"+u+"/setPassword", `{"password": "correct horse battery"}`, e.srv.admin()...)
			if st != 204 {
				t.Fatalf("setPassword: %d %s", st, b)
			}
		}
		e.do(t, "PUT", "/products/orders", `{"displayName": "Orders", "authenticationType": ["oauth2Token", "subscriptionKey"]}`, 201)
		_, secret1 := e.newApp(t, "app1", "/users/dev1")
		e.do(t, "PUT", "/clientApplications/app1/productLinks/orders", `{"productId": "/products/orders"}`, 201)
		e.newApp(t, "app2", "/users/dev2")

		tok1 := e.signIn(t, "dev1@example.com", "correct horse battery", "api://tollgate-management/.default")
		dev := func(method, path, tok string) (int, map[string]any) {
			st, _, b := call(t, method, e.srv.urls["management"]+"/developer"+path, "", "Authorization", "Bearer "+tok)
			var m map[string]any
			json.Unmarshal(b, &m)
			return st, m
		}
		st, list := dev("GET", "/applications", tok1)
		if st != 200 || list["count"] != float64(1) || !strings.Contains(mustMarshal(list), `"/products/orders"`) || strings.Contains(mustMarshal(list), "app2") {
			t.Fatalf("dev1's applications: %d %v", st, list)
		}
		if st, sec := dev("POST", "/applications/app1/listSecrets", tok1); st != 200 || sec["clientSecret"] != secret1 {
			t.Fatalf("dev1's secret: %d %v", st, sec)
		}
		if st, sec := dev("POST", "/applications/app2/listSecrets", tok1); st != 404 || strings.Contains(mustMarshal(sec), "clientSecret") {
			t.Fatalf("dev2's secret read by dev1: %d %v", st, sec)
		}
		tok2 := e.signIn(t, "dev2@example.com", "correct horse battery", "api://tollgate-management/.default")
		if st, list := dev("GET", "/applications", tok2); st != 200 || list["count"] != float64(1) || !strings.Contains(mustMarshal(list), "app2") {
			t.Fatalf("dev2's applications: %d %v", st, list)
		}
		// A new, a reassigned and a deleted application show in the lists
		// as soon as the management API has answered.
		e.newApp(t, "app3", "/users/dev1")
		e.do(t, "PUT", "/clientApplications/app2", `{"displayName": "app2", "ownerId": "/users/dev1"}`, 200)
		if st, list := dev("GET", "/applications", tok2); st != 200 || list["count"] != float64(0) {
			t.Fatalf("dev2's applications after app2 went to dev1: %d %v", st, list)
		}
		if st, list := dev("GET", "/applications", tok1); st != 200 || list["count"] != float64(3) || !strings.Contains(mustMarshal(list), "app3") || !strings.Contains(mustMarshal(list), "app2") {
			t.Fatalf("dev1's applications after app2 and app3: %d %v", st, list)
		}
		e.do(t, "DELETE", "/clientApplications/app3", "", 204)
		if st, list := dev("GET", "/applications", tok1); st != 200 || list["count"] != float64(2) || strings.Contains(mustMarshal(list), "app3") {
			t.Fatalf("dev1's applications after app3 was deleted: %d %v", st, list)
		}
		// A new password ends the sign-ins made before it.
		time.Sleep(1100 * time.Millisecond) // iat has a one-second resolution
		st2, _, b2 := call(t, "POST", e.srv.urls["management"]+"/directory/users/dev2/setPassword", `{"password": "another horse battery"}`, e.srv.admin()...)
		if st2 != 204 {
			t.Fatalf("setPassword: %d %s", st2, b2)
		}
		if st, _ := dev("GET", "/applications", tok2); st != 401 {
			t.Fatalf("a token from before the password change: %d", st)
		}
		// A product exposes no delegated permission: the identity provider
		// issues no user token for it (AADSTS650057) ...
		audience := e.do(t, "GET", "/products/orders", "", 200)["application"].(map[string]any)["audience"].(string)
		q := url.Values{"client_id": {e.do(t, "GET", "/directory/applications/portal-test", "", 200)["appId"].(string)}, "response_type": {"code"},
			"redirect_uri": {"http://localhost:8080/callback"}, "scope": {"openid " + audience + "/.default"}, "state": {"s"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(e.srv.urls["identity"] + "/default/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); !strings.Contains(loc, "AADSTS650057") {
			t.Fatalf("a user token for the product was not refused: %d %s", res.StatusCode, loc)
		}
		// ... and a user's (delegated) token for another resource is no
		// application's: refused by the gateway.
		if st, _, body := e.gw(t, bearerHeader(tok1)...); st != 401 {
			t.Fatalf("a user's token at the gateway: %d %s", st, body)
		}
		// Neither the admin key, an application's token for the management
		// API, another issuer's token nor nothing.
		e.do(t, "PUT", "/directory/applications/mgmt-client", `{"displayName": "M", "requiredResourceAccess": [{"resourceAppId": "api://tollgate-management", "resourceAccess": [{"id": "Management.Read.All", "type": "Role"}]}]}`, 201)
		e.do(t, "POST", "/directory/applications/mgmt-client/grantAdminConsent", "", 200)
		mc := e.do(t, "GET", "/directory/applications/mgmt-client", "", 200)["appId"].(string)
		ms := e.do(t, "POST", "/directory/applications/mgmt-client/addPassword", `{}`, 200)["secretText"].(string)
		appTok := e.token(t, mc, ms, "api://tollgate-management/.default")
		for _, tok := range []string{e.srv.adminKey, "", foreignToken(t, "x", "y"), appTok} {
			if st, _ := dev("GET", "/applications", tok); st != 401 {
				t.Errorf("developer endpoint with %.10q: %d", tok, st)
			}
		}
	})
}

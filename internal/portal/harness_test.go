package portal_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/internal/applications"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/jwtvalidate/jwtpolicy"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/portal"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

const adminKey = "portal-test-admin-key-0123456789"

// env is a whole Tollgate on one store: the identity provider, the
// management API, the gateway and the portal, each on its own listener.
type env struct {
	t       testing.TB
	store   store.Store
	mgmt    *management.Server
	idp     *identity.Provider
	portal  *portal.Portal
	apps    *applications.Service
	limiter *ratelimit.Local
	gwURL   string
	mgmtURL string
	idpURL  string
	url     string // the portal
	// Filled by seed.
	colorsClientID, partnerClientID, aliceApp string
	partnerScope                              string // the Partner product's client credentials scope
}

func listen(t testing.TB) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func serveOn(t testing.TB, l net.Listener, h http.Handler) {
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
}

func newEnv(t testing.TB, st store.Store, mounts map[string]http.Handler) *env {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	kek, err := keyring.NewLocalKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New(kek)
	gwL, idL, mgL, poL := listen(t), listen(t), listen(t), listen(t)
	e := &env{t: t, store: st, gwURL: "http://" + gwL.Addr().String(), idpURL: "http://" + idL.Addr().String(),
		mgmtURL: "http://" + mgL.Addr().String(), url: "http://" + poL.Addr().String()}
	quiet := slog.New(slog.DiscardHandler)
	idp, err := identity.New(identity.Options{Store: st, Logger: quiet, Keyring: kr, Issuer: e.idpURL,
		Passwords: identity.PasswordHasher{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	e.idp = idp
	reg := resource.NewRegistry()
	for _, k := range identity.Kinds() {
		reg.Register(k)
	}
	hasher := keyring.NewHasher([]byte("portal-test-lookup-key-000000000"))
	keySets := jwtvalidate.NewKeySets(jwtvalidate.KeySetsOptions{Logger: quiet})
	policies := policy.NewCompiler(policy.Options{Open: kr.Open, Logger: quiet,
		Extensions: jwtpolicy.Extensions(jwtpolicy.Deps{
			JWT: jwtvalidate.Deps{KeySets: keySets, Logger: quiet, LocalKeys: func(ctx context.Context) (jose.JSONWebKeySet, string, error) {
				keys, err := idp.PublicKeys(ctx)
				return keys, idp.Issuer(), err
			}},
			LocalTenant: func(tenant string) bool { return strings.EqualFold(tenant, idp.Tenant().ID) },
		}),
	})
	localKeys := func(ctx context.Context) (jose.JSONWebKeySet, string, error) {
		keys, err := idp.PublicKeys(ctx)
		return keys, idp.Issuer(), err
	}
	appTokens, err := jwtvalidate.New(jwtvalidate.Config{LocalKeys: true}, jwtvalidate.Deps{Logger: quiet, LocalKeys: localKeys})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Source: st, Hasher: hasher, Policies: policies, Logger: quiet, AppTokens: appTokens})
	m := management.New(management.Options{Store: st, Registry: reg, Keyring: kr, Hasher: hasher, AdminKey: adminKey, Tokens: idp, Synced: gw.Sync, Logger: quiet})
	d := idp.Directory()
	m.Handle(identity.KindApplications, management.Hooks{Prepare: d.PrepareApplication, Delete: d.DeleteApplication,
		Actions: map[string]management.Action{"addPassword": d.AddPassword, "removePassword": d.RemovePassword, "grantAdminConsent": d.GrantAdminConsent}})
	m.Handle(identity.KindUsers, management.Hooks{Prepare: d.PrepareUser, Actions: map[string]management.Action{"setPassword": d.SetPassword}})
	apps := applications.New(applications.Options{Store: st, Directory: d, Keyring: kr, TenantID: func() string { return idp.Tenant().ID }})
	apps.Install(m)
	e.mgmt, e.apps = m, apps
	v, err := st.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Sync(ctx, v); err != nil {
		t.Fatal(err)
	}
	limiter := ratelimit.NewLocal(ratelimit.LocalOptions{})
	t.Cleanup(func() { limiter.Close() })
	e.limiter = limiter
	p, err := portal.New(portal.Options{Store: st, Management: m, Identity: idp, Applications: apps, Limiter: limiter,
		PublicURL: e.url, GatewayURL: e.gwURL, Mounts: mounts, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	e.portal = p
	serveOn(t, gwL, gw)
	serveOn(t, idL, idp)
	serveOn(t, mgL, m)
	serveOn(t, poL, p)
	return e
}

// put writes a resource through the management layer.
func (e *env) put(id string, body any) json.RawMessage {
	e.t.Helper()
	b, _ := json.Marshal(body)
	rec, _, err := e.mgmt.Put(context.Background(), id, b, "", false)
	if err != nil {
		e.t.Fatalf("put %s: %v", id, err)
	}
	return rec.Body
}

func (e *env) get(id string) json.RawMessage {
	e.t.Helper()
	rec, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return rec.Body
}

func (e *env) act(id, name string, body any) any {
	e.t.Helper()
	b, _ := json.Marshal(body)
	_, res, err := e.mgmt.Act(context.Background(), id, name, b)
	if err != nil {
		e.t.Fatalf("%s %s: %v", name, id, err)
	}
	return res
}

func appID(raw json.RawMessage) string {
	var a struct {
		AppID string `json:"appId"`
	}
	_ = json.Unmarshal(raw, &a)
	return a.AppID
}

const password = "correct horse battery staple"

// seed makes the scenario of the seeds: the Colors API protected by
// validate-jwt, its authorization server for the console, an echo API in
// a Starter product, an approval-required product, two developers, and a
// client application of alice's linked to the Partner product, which
// takes application tokens (oauth2Token).
func (e *env) seed() {
	e.t.Helper()
	backend := e.put("/directory/applications/colors-backend", map[string]any{
		"displayName": "oauth-backend-app", "identifierUris": []string{"api://colors"},
		"api": map[string]any{"oauth2PermissionScopes": []map[string]any{
			{"value": "Colors.Read", "type": "User"}, {"value": "Colors.Write", "type": "User"}}},
		"appRoles": []map[string]any{{"value": "Colors.Reader", "allowedMemberTypes": []string{"Application"}}},
	})
	client := e.put("/directory/applications/colors-client", map[string]any{
		"displayName": "oauth-client-app", "web": map[string]any{"redirectUris": []string{e.url + "/console/oauth-callback"}},
		"requiredResourceAccess": []map[string]any{{"resourceAppId": "api://colors", "resourceAccess": []map[string]any{
			{"id": "Colors.Read", "type": "Scope"}, {"id": "Colors.Write", "type": "Scope"}}}},
	})
	e.colorsClientID = appID(client)
	e.act("/directory/applications/colors-client", "grantAdminConsent", nil)
	secret := e.act("/directory/applications/colors-client", "addPassword", map[string]any{"displayName": "portal"})
	b, _ := json.Marshal(secret)
	var pw struct {
		SecretText string `json:"secretText"`
	}
	_ = json.Unmarshal(b, &pw)

	md := e.idp.Metadata()
	e.put("/authorizationServers/colors-as", map[string]any{
		"displayName": "Colors authorization", "authorizationEndpoint": md["authorization_endpoint"], "tokenEndpoint": md["token_endpoint"],
		"grantTypes": []string{"authorizationCodeWithPkce", "clientCredentials"}, "clientId": e.colorsClientID, "clientSecret": pw.SecretText,
		"defaultScope": "api://colors/Colors.Read",
	})
	e.put("/openidConnectProviders/builtin", map[string]any{
		"displayName": "Tollgate sign-in", "metadataEndpoint": e.idpURL + "/" + e.idp.Tenant().ID + "/v2.0/.well-known/openid-configuration",
		"clientId": e.colorsClientID, "clientSecret": pw.SecretText,
	})
	e.put("/policies/policy", map[string]any{"value": `<policies><inbound><cors allow-credentials="false">
<allowed-origins><origin>` + e.url + `</origin></allowed-origins>
<allowed-methods><method>*</method></allowed-methods><allowed-headers><header>*</header></allowed-headers>
<expose-headers><header>*</header></expose-headers></cors></inbound><backend><forward-request/></backend><outbound/><on-error/></policies>`})
	jwt := func(claim, value string) string {
		return `<policies><inbound><base/><validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="401">
<openid-config url="` + e.idpURL + `/` + e.idp.Tenant().ID + `/v2.0/.well-known/openid-configuration"/>
<audiences><audience>api://colors</audience><audience>` + appID(backend) + `</audience></audiences>
<required-claims><claim name="` + claim + `" match="any" separator=" "><value>` + value + `</value></claim></required-claims>
</validate-jwt></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	}
	oauth := map[string]any{"oAuth2": map[string]any{"authorizationServerId": "colors-as"}}
	e.put("/apis/colors", map[string]any{"displayName": "Colors", "description": "Colors of the rainbow.", "path": "colors",
		"serviceUrl": resource.EchoServiceURL, "subscriptionRequired": false, "authenticationSettings": oauth})
	e.put("/apis/colors/operations/list-colors", map[string]any{"displayName": "List colors", "method": "GET", "urlTemplate": "/colors"})
	e.put("/apis/colors/operations/get-color", map[string]any{"displayName": "Get a color", "method": "GET", "urlTemplate": "/colors/{id}"})
	e.put("/apis/colors/policies/policy", map[string]any{"value": jwt("scp", "Colors.Read")})
	e.put("/apis/inventory", map[string]any{"displayName": "Inventory", "path": "inventory", "serviceUrl": resource.EchoServiceURL})
	e.put("/apis/inventory/operations/list", map[string]any{"displayName": "List stock", "method": "GET", "urlTemplate": "/stock"})
	e.put("/apis/profile", map[string]any{"displayName": "Profile", "path": "profile", "serviceUrl": resource.EchoServiceURL,
		"subscriptionRequired": false, "authenticationSettings": map[string]any{"openid": map[string]any{"openidProviderId": "builtin"}}})
	e.put("/apis/profile/operations/me", map[string]any{"displayName": "Me", "method": "GET", "urlTemplate": "/me"})
	e.put("/apis/echo", map[string]any{"displayName": "Echo API", "path": "echo", "serviceUrl": resource.EchoServiceURL})
	e.put("/apis/echo/operations/get", map[string]any{"displayName": "Retrieve resource", "method": "GET", "urlTemplate": "/resource"})
	e.put("/apis/echo/operations/create", map[string]any{"displayName": "Create resource", "method": "POST", "urlTemplate": "/resource"})
	e.put("/apis/hidden", map[string]any{"displayName": "Hidden API", "path": "hidden", "serviceUrl": resource.EchoServiceURL})
	e.put("/products/colors", map[string]any{"displayName": "Colors", "description": "The Colors API, with OAuth 2.0.", "state": "published", "subscriptionRequired": false})
	e.put("/products/colors/apis/colors", map[string]any{})
	e.put("/products/colors/apis/profile", map[string]any{})
	e.put("/products/starter", map[string]any{"displayName": "Starter", "description": "Try the echo API.", "state": "published", "subscriptionsLimit": 1, "terms": "Be nice."})
	e.put("/products/starter/apis/echo", map[string]any{})
	e.put("/products/gold", map[string]any{"displayName": "Gold", "description": "Approval required.", "state": "published", "approvalRequired": true})
	e.put("/products/gold/apis/echo", map[string]any{})
	e.put("/products/partner", map[string]any{"displayName": "Partner", "description": "For partner applications.", "state": "published",
		"authenticationType": []string{"oauth2Token"}})
	e.put("/products/partner/apis/inventory", map[string]any{})
	e.put("/products/draft", map[string]any{"displayName": "Draft", "state": "notPublished"})
	e.put("/products/draft/apis/hidden", map[string]any{})
	for _, u := range []struct{ name, upn, display string }{{"alice", "alice@example.com", "Alice Doe"}, {"bob", "bob@example.com", "Bob Roe"}} {
		e.put("/directory/users/"+u.name, map[string]any{"userPrincipalName": u.upn, "displayName": u.display, "mail": u.upn})
		e.act("/directory/users/"+u.name, "setPassword", map[string]string{"password": password})
	}
	e.put("/users/alice", map[string]any{"email": "alice@example.com", "firstName": "Alice", "lastName": "Doe"})
	app := e.put("/clientApplications/alice-partner", map[string]any{"displayName": "Alice's partner app", "ownerId": "/users/alice"})
	e.put("/clientApplications/alice-partner/productLinks/partner", map[string]any{"productId": "/products/partner"})
	var a struct {
		ApplicationID string `json:"applicationId"`
	}
	_ = json.Unmarshal(app, &a)
	e.partnerClientID = a.ApplicationID
	var prod struct {
		Application struct {
			ApplicationID string `json:"applicationId"`
		} `json:"application"`
	}
	_ = json.Unmarshal(e.get("/products/partner"), &prod)
	e.partnerScope = "api://" + prod.Application.ApplicationID + "/.default"
	e.aliceApp = "alice-partner"
}

// browser is a cookie-keeping HTTP client: a developer without
// JavaScript.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar}}
}

type page struct {
	status int
	url    string
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL.String(), body: string(body), header: resp.Header}
}

func (b *browser) get(u string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var inputRe = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)

// hidden returns the value of a named input of a page.
func (p page) hidden(name string) string {
	for _, m := range inputRe.FindAllStringSubmatch(p.body, -1) {
		if m[1] == name {
			return html.UnescapeString(m[2])
		}
	}
	return ""
}

// signIn signs in through the identity provider's sign-in page.
func (b *browser) signIn(user string) {
	b.e.t.Helper()
	pg := b.get(b.e.url + "/signin")
	if !strings.Contains(pg.body, `name="password"`) {
		b.e.t.Fatalf("sign-in did not reach the identity provider's form: %d %s", pg.status, pg.body)
	}
	action := b.e.idpURL + "/" + b.e.idp.Tenant().ID + "/oauth2/v2.0/signin"
	pg = b.post(action, url.Values{"req": {pg.hidden("req")}, "csrf": {pg.hidden("csrf")}, "username": {user}, "password": {password}})
	if pg.status != http.StatusOK || !strings.HasPrefix(pg.url, b.e.url+"/") || !strings.Contains(pg.body, "Sign out") {
		b.e.t.Fatalf("sign-in as %s ended at %s (%d): %s", user, pg.url, pg.status, pg.body)
	}
}

// csrf returns the CSRF token of the portal's forms for this browser.
func (b *browser) csrf() string {
	b.e.t.Helper()
	tok := b.get(b.e.url + "/products").hidden("csrf")
	if tok == "" {
		tok = b.get(b.e.url + "/signup").hidden("csrf") // anonymous: the sign-up form
	}
	if tok == "" {
		b.e.t.Fatal("no CSRF token in the page")
	}
	return tok
}

func mustContain(t testing.TB, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s (%d) does not contain %q:\n%s", p.url, p.status, s, p.body)
		}
	}
}

func mustNotContain(t testing.TB, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			t.Fatalf("%s (%d) contains %q", p.url, p.status, s)
		}
	}
}

// callGateway calls the gateway with one header.
func (e *env) callGateway(path, header, value string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.gwURL+path, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

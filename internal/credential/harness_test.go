package credential_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

const adminKey = "test-admin-key-0123456789"

// clock is the credential manager's settable clock: advancing it makes
// stored tokens due for refresh without waiting.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// grants counts the token requests the built-in provider received, by
// grant type.
type grants struct {
	mu sync.Mutex
	n  map[string]int
}

func (g *grants) count(gt string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[gt]
}

// node is one Tollgate node: a management API, a gateway and the
// credential manager on a store, with the consent pages on a portal
// listener.
type node struct {
	t      testing.TB
	st     store.Store
	m      *credential.Manager
	mgmt   *httptest.Server
	gw     *httptest.Server
	gwh    http.Handler // the gateway itself, for benchmarks
	portal *httptest.Server
}

// env is the built-in identity provider (the upstream OAuth server) and
// the first node, on one store.
type env struct {
	*node
	kek    *keyring.LocalKEK
	kr     *keyring.Keyring
	idp    *identity.Provider
	idpSrv *httptest.Server
	clock  *clock
	grants *grants
	tenant string
}

var gatewayOID = "7d6c1f0e-0000-4000-8000-00000000aaaa"

func newKEK(t testing.TB) *keyring.LocalKEK {
	key := make([]byte, 32)
	rand.Read(key)
	kek, err := keyring.NewLocalKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func newEnv(t testing.TB, st store.Store, opts ...func(*credential.Options)) *env {
	kek := newKEK(t)
	kr := keyring.New(kek)
	idl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := identity.New(identity.Options{Store: st, Keyring: kr, Issuer: "http://" + idl.Addr().String(),
		Passwords: identity.PasswordHasher{Time: 1, MemoryKiB: 64, Threads: 1}, KeyPublishDelay: time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := &grants{n: map[string]int{}}
	idpSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			r.ParseForm()
			g.mu.Lock()
			g.n[r.PostForm.Get("grant_type")]++
			g.mu.Unlock()
		}
		p.ServeHTTP(w, r)
	}))
	idpSrv.Listener.Close()
	idpSrv.Listener = idl
	idpSrv.Start()
	t.Cleanup(idpSrv.Close)
	e := &env{kek: kek, kr: kr, idp: p, idpSrv: idpSrv, clock: &clock{}, grants: g, tenant: p.Tenant().ID}
	e.node = e.newNode(t, st, opts...)
	return e
}

// newNode starts another node on st (sharing the keyring and clock).
func (e *env) newNode(t testing.TB, st store.Store, opts ...func(*credential.Options)) *node {
	ctx := context.Background()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := credential.Options{Store: st, Keyring: e.kr, Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now,
		PortalURL: "http://" + pl.Addr().String(), BuiltinURL: e.idpSrv.URL + "/" + e.tenant,
		Gateway: credential.Identity{TenantID: e.tenant, ObjectID: gatewayOID}}
	for _, f := range opts {
		f(&o)
	}
	m, err := credential.New(o)
	if err != nil {
		t.Fatal(err)
	}
	reg := resource.NewRegistry()
	for _, k := range identity.Kinds() {
		reg.Register(k)
	}
	for _, k := range credential.Kinds() {
		reg.Register(k)
	}
	callers, err := credential.NewLocalCallers(st, jwtvalidate.Deps{LocalKeys: func(ctx context.Context) (jose.JSONWebKeySet, string, error) {
		keys, err := e.idp.PublicKeys(ctx)
		return keys, e.idp.Issuer(), err
	}})
	if err != nil {
		t.Fatal(err)
	}
	compiler := policy.NewCompiler(policy.Options{Extensions: m.Extensions(callers), Logger: slog.New(slog.DiscardHandler), Open: e.kr.Open})
	gw := gateway.New(gateway.Options{Source: st, Hasher: keyring.NewHasher([]byte("lookup")), Policies: compiler, Logger: slog.New(slog.DiscardHandler)})
	v, err := st.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Sync(ctx, v); err != nil {
		t.Fatal(err)
	}
	ms := management.New(management.Options{Store: st, Registry: reg, Keyring: e.kr, Hasher: keyring.NewHasher([]byte("lookup")),
		AdminKey: adminKey, Synced: gw.Sync, Logger: slog.New(slog.DiscardHandler)})
	d := e.idp.Directory()
	ms.Handle(identity.KindApplications, management.Hooks{Prepare: d.PrepareApplication, Delete: d.DeleteApplication,
		Actions: map[string]management.Action{"addPassword": d.AddPassword, "grantAdminConsent": d.GrantAdminConsent}})
	ms.Handle(identity.KindUsers, management.Hooks{Prepare: d.PrepareUser, Actions: map[string]management.Action{"setPassword": d.SetPassword}})
	m.Install(ms)
	// Policy documents are compiled when saved, as serve does.
	for _, k := range resource.PolicyKinds() {
		ms.Handle(k, management.Hooks{Check: compiler.SaveCheck})
	}
	n := &node{t: t, st: st, m: m, mgmt: httptest.NewServer(ms), gw: httptest.NewServer(gw), gwh: gw}
	n.portal = httptest.NewUnstartedServer(m.Handler())
	n.portal.Listener.Close()
	n.portal.Listener = pl
	n.portal.Start()
	t.Cleanup(n.mgmt.Close)
	t.Cleanup(n.gw.Close)
	t.Cleanup(n.portal.Close)
	return n
}

// call sends a management request and decodes the answer into out.
func (n *node) call(method, path string, body any, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.mgmt.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			n.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func (n *node) must(want int, method, path string, body any, out any) {
	n.t.Helper()
	var raw json.RawMessage
	if got := n.call(method, path, body, &raw); got != want {
		n.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatal(err)
		}
	}
}

// api serves /echo with the given inbound policy fragment.
func (n *node) api(inbound string) {
	n.t.Helper()
	n.must(http.StatusCreated, "PUT", "/apis/echo", map[string]any{"displayName": "echo", "path": "echo", "serviceUrl": resource.EchoServiceURL, "subscriptionRequired": false, "protocols": []string{"http"}}, nil)
	n.must(http.StatusCreated, "PUT", "/apis/echo/operations/any", map[string]any{"displayName": "any", "method": "*", "urlTemplate": "/*"}, nil)
	n.must(http.StatusCreated, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml",
		"value": "<policies><inbound><base />" + inbound + "</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"}, nil)
}

// attachPolicy is get-authorization-context followed by set-header, as
// the seed shows.
func attachPolicy(pid, aid, extra string) string {
	return `<get-authorization-context provider-id="` + pid + `" authorization-id="` + aid + `" context-variable-name="auth-context" identity-type="managed" ` + extra + ` />
<set-header name="Authorization" exists-action="override"><value>@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("auth-context"))?.AccessToken)</value></set-header>`
}

type echoed struct {
	status  int
	body    string
	headers map[string][]string
}

// callAPI calls /echo/x and returns what the backend received.
func (n *node) callAPI() echoed {
	n.t.Helper()
	resp, err := http.Get(n.gw.URL + "/echo/x")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := echoed{status: resp.StatusCode, body: string(b)}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if json.Unmarshal(b, &echo) == nil {
		out.headers = echo.Headers
	}
	return out
}

func (e echoed) authorization() string {
	for k, v := range e.headers {
		if strings.EqualFold(k, "Authorization") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

type appView struct {
	AppID    string `json:"appId"`
	AppRoles []struct {
		ID string `json:"id"`
	} `json:"appRoles"`
}

// seedClientCredentials makes a resource app with an app role and a
// consented client app with a secret, in the built-in directory.
func (e *env) seedClientCredentials() (resourceApp, clientID, secret string) {
	e.t.Helper()
	var res, client appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/backend-api", map[string]any{
		"displayName": "BackendAPI", "identifierUris": []string{"api://backend-api"},
		"appRoles": []map[string]any{{"value": "Data.Read", "displayName": "Read", "allowedMemberTypes": []string{"Application"}}},
	}, &res)
	e.must(http.StatusCreated, "PUT", "/directory/applications/gateway-client", map[string]any{
		"displayName": "GatewayClient",
		"requiredResourceAccess": []map[string]any{{"resourceAppId": res.AppID,
			"resourceAccess": []map[string]any{{"id": res.AppRoles[0].ID, "type": "Role"}}}},
	}, &client)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/gateway-client/addPassword", map[string]any{"displayName": "test"}, &added)
	e.must(http.StatusOK, "POST", "/directory/applications/gateway-client/grantAdminConsent", nil, nil)
	return "api://backend-api", client.AppID, added.SecretText
}

// seedAuthCode makes a backend app with a delegated scope, a client app
// whose redirect URI is the consent callback, and a user.
func (e *env) seedAuthCode() (clientID, secret, scope string) {
	e.t.Helper()
	var backend, client appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/saas-api", map[string]any{
		"displayName": "SaaS API", "identifierUris": []string{"api://saas"},
		"api": map[string]any{"oauth2PermissionScopes": []map[string]any{{"value": "Files.Read", "adminConsentDisplayName": "Read files", "type": "User"}}},
	}, &backend)
	e.must(http.StatusCreated, "PUT", "/directory/applications/connector", map[string]any{
		"displayName": "Connector", "web": map[string]any{"redirectUris": []string{e.m.RedirectURL()}},
	}, &client)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/connector/addPassword", map[string]any{"displayName": "c"}, &added)
	e.must(http.StatusCreated, "PUT", "/directory/users/alice", map[string]any{"userPrincipalName": "alice@example.com", "displayName": "Alice"}, nil)
	e.must(http.StatusNoContent, "POST", "/directory/users/alice/setPassword", map[string]any{"password": "correct horse battery"}, nil)
	return client.AppID, added.SecretText, "api://saas/Files.Read offline_access"
}

// browser follows redirects by hand, with a cookie jar.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	body     string
	location string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(data), location: resp.Header.Get("Location")}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	reAction = regexp.MustCompile(`action="([^"]+)"`)
	reInput  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	reReq    = regexp.MustCompile(`name="req" value="([^"]+)"`)
	reCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// confirm opens a login link and clicks Continue; it returns the
// redirect to the provider.
func (b *browser) confirm(link string) page {
	b.t.Helper()
	p := b.get(link)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Continue to") {
		b.t.Fatalf("confirmation page: %d %s", p.status, p.body)
	}
	u, _ := url.Parse(link)
	a := reAction.FindStringSubmatch(p.body)
	form := url.Values{}
	for _, m := range reInput.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	return b.post(u.Scheme+"://"+u.Host+a[1], form)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&lt;", "<", "&gt;", ">").Replace(s)
}

// signInAtIdP goes through the built-in provider's sign-in and consent
// pages, starting at its authorize URL, and returns the redirect back.
func (e *env) signInAtIdP(b *browser, authorize string) page {
	e.t.Helper()
	p := b.get(authorize)
	for i := 0; i < 4 && p.status == http.StatusOK; i++ {
		a, r, c := reAction.FindStringSubmatch(p.body), reReq.FindStringSubmatch(p.body), reCSRF.FindStringSubmatch(p.body)
		if a == nil || r == nil || c == nil {
			e.t.Fatalf("no form at the provider: %s", p.body)
		}
		form := url.Values{"req": {r[1]}, "csrf": {c[1]}}
		if strings.Contains(p.body, `name="password"`) {
			form.Set("username", "alice@example.com")
			form.Set("password", "correct horse battery")
		} else {
			form.Set("decision", "accept")
		}
		p = b.post(e.idpSrv.URL+a[1], form)
	}
	if p.location == "" {
		e.t.Fatalf("provider: no redirect (status %d): %s", p.status, p.body)
	}
	return p
}

// consent runs the whole login-link flow for a connection and returns
// where the browser ends.
func (e *env) consent(t *testing.T, conn string) string {
	t.Helper()
	var link struct {
		LoginLink string `json:"loginLink"`
	}
	e.must(http.StatusOK, "POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": "https://app.example.com/done"}, &link)
	b := newBrowser(t)
	p := b.confirm(link.LoginLink)
	if p.status != http.StatusSeeOther {
		t.Fatalf("continue: %d %s", p.status, p.body)
	}
	back := e.signInAtIdP(b, p.location)
	end := b.get(back.location)
	if end.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", end.status, end.body)
	}
	return end.location
}

type connView struct {
	Status        string                       `json:"status"`
	Error         *resource.AuthorizationIssue `json:"error"`
	ExpiresAt     string                       `json:"expiresAt"`
	LastRefreshed string                       `json:"lastRefreshed"`
	ClientSecret  string                       `json:"clientSecret"`
	UID           string                       `json:"uid"`
}

var _ = teststores.SQLite
var _ atomic.Int64

// sqliteStore opens a store in a fresh file, for benchmarks and fuzz
// targets (teststores takes a *testing.T).
func sqliteStore(tb testing.TB) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

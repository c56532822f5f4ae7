package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// clock is a settable test clock.
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

const adminKey = "test-admin-key-0123456789"

// env is a provider and a management API on one SQLite store, both served
// over HTTP.
type env struct {
	t        testing.TB
	store    store.Store
	kr       *keyring.Keyring
	p        *identity.Provider
	idp      *httptest.Server
	mgmt     *httptest.Server
	clock    *clock
	tenantID string
	issuer   string
}

func fastPasswords() identity.PasswordHasher {
	return identity.PasswordHasher{Time: 1, MemoryKiB: 64, Threads: 1}
}

func newEnv(t testing.TB, tweak ...func(*identity.Options)) *env {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	kek, err := keyring.NewLocalKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New(kek)
	return newEnvOn(t, st, kr, tweak...)
}

func newEnvOn(t testing.TB, st store.Store, kr *keyring.Keyring, tweak ...func(*identity.Options)) *env {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	opts := identity.Options{
		Store: st, Keyring: kr, Issuer: "http://" + l.Addr().String(), Now: clk.Now,
		Passwords: fastPasswords(), KeyPublishDelay: time.Minute,
	}
	for _, f := range tweak {
		f(&opts)
	}
	p, err := identity.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewUnstartedServer(p)
	idp.Listener.Close()
	idp.Listener = l
	idp.Start()
	t.Cleanup(idp.Close)

	reg := resource.NewRegistry()
	for _, k := range identity.Kinds() {
		reg.Register(k)
	}
	newMgmt := func() *management.Server {
		m := management.New(management.Options{Store: st, Registry: reg, Keyring: kr, Hasher: keyring.NewHasher([]byte("lookup")),
			AdminKey: adminKey, Tokens: p, Now: clk.Now})
		d := p.Directory()
		m.Handle(identity.KindApplications, management.Hooks{Prepare: d.PrepareApplication, Delete: d.DeleteApplication,
			Actions: map[string]management.Action{"addPassword": d.AddPassword, "removePassword": d.RemovePassword, "grantAdminConsent": d.GrantAdminConsent}})
		m.Handle(identity.KindUsers, management.Hooks{Prepare: d.PrepareUser, Actions: map[string]management.Action{"setPassword": d.SetPassword}})
		return m
	}
	resources := newMgmt()
	resources.Mount("/directory/signingKeys", p.DirectoryHandler())
	// management.Mount matches a prefix and everything under it, so GET
	// /directory is mounted on a second server to keep /directory/* for
	// the resource kinds.
	info := newMgmt()
	info.Mount("/directory", p.DirectoryHandler())
	mgmt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/directory" {
			info.ServeHTTP(w, r)
			return
		}
		resources.ServeHTTP(w, r)
	}))
	t.Cleanup(mgmt.Close)
	return &env{t: t, store: st, kr: kr, p: p, idp: idp, mgmt: mgmt, clock: clk, tenantID: p.Tenant().ID, issuer: p.Issuer()}
}

// call sends a management API request with the admin key and decodes the
// answer into out (if non-nil); it returns the status.
func (e *env) call(method, path string, body any, out any) int {
	e.t.Helper()
	return e.callWith(adminKey, method, path, body, out)
}

func (e *env) callWith(cred, method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.mgmt.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+cred)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// must is call that fails the test on an unexpected status.
func (e *env) must(want int, method, path string, body any, out any) {
	e.t.Helper()
	var raw json.RawMessage
	got := e.call(method, path, body, &raw)
	if got != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

type appView struct {
	ID                  string `json:"id"`
	AppID               string `json:"appId"`
	IdentifierURIs      []string
	AppRoles            []identity.AppRole `json:"appRoles"`
	PasswordCredentials []identity.PasswordCredential
}

// tokenURL is the v2 token endpoint with the tenant id.
func (e *env) tokenURL() string { return e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/token" }

// postForm posts to the identity listener.
func (e *env) postForm(path string, form url.Values, basicID, basicSecret string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.idp.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			e.t.Fatalf("POST %s: not JSON (%d): %s", path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func (e *env) token(form url.Values) (int, map[string]any) {
	e.t.Helper()
	st, out, _ := e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", form, "", "")
	return st, out
}

// seedClientCredentials sets up the first seed: ResourceApp with the app
// role APIAccess, ClientApp with a secret, consented.
func (e *env) seedClientCredentials() (resource appView, client appView, secret string) {
	e.t.Helper()
	e.must(http.StatusCreated, "PUT", "/directory/applications/resource-app", map[string]any{
		"displayName": "ResourceApp",
		"appRoles":    []map[string]any{{"value": "APIAccess", "displayName": "API access", "allowedMemberTypes": []string{"Application"}}},
	}, &resource)
	e.must(http.StatusCreated, "PUT", "/directory/applications/client-app", map[string]any{
		"displayName": "ClientApp",
		"requiredResourceAccess": []map[string]any{{"resourceAppId": resource.AppID,
			"resourceAccess": []map[string]any{{"id": resource.AppRoles[0].ID, "type": "Role"}}}},
	}, &client)
	var added struct {
		SecretText string `json:"secretText"`
		KeyID      string `json:"keyId"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/client-app/addPassword", map[string]any{"displayName": "test"}, &added)
	e.must(http.StatusOK, "POST", "/directory/applications/client-app/grantAdminConsent", nil, nil)
	return resource, client, added.SecretText
}

// seedAuthCode sets up the second seed: backend-app exposing Colors.Read,
// client-app with a secret and a redirect URI, and a user with a password.
type authSeed struct {
	backend, client appView
	secret          string
	redirect        string
	user, password  string
	userOID         string
}

func (e *env) seedAuthCode() authSeed {
	e.t.Helper()
	s := authSeed{redirect: "http://localhost:9999/callback", user: "alice@example.com", password: "correct horse battery"}
	e.must(http.StatusCreated, "PUT", "/directory/applications/backend-app", map[string]any{
		"displayName": "oauth-backend-app",
		"api": map[string]any{"oauth2PermissionScopes": []map[string]any{
			{"value": "Colors.Read", "adminConsentDisplayName": "Read colors", "type": "User"},
			{"value": "Colors.Admin", "adminConsentDisplayName": "Administer colors", "type": "Admin"},
		}},
		"appRoles": []map[string]any{{"value": "Colors.Reader", "allowedMemberTypes": []string{"User"}}},
	}, &s.backend)
	e.must(http.StatusCreated, "PUT", "/directory/applications/console-app", map[string]any{
		"displayName":  "oauth-client-app",
		"web":          map[string]any{"redirectUris": []string{s.redirect}},
		"publicClient": map[string]any{"redirectUris": []string{"http://127.0.0.1/native"}},
	}, &s.client)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/console-app/addPassword", map[string]any{"displayName": "console"}, &added)
	s.secret = added.SecretText
	var u struct {
		ObjectID string `json:"objectId"`
	}
	e.must(http.StatusCreated, "PUT", "/directory/users/alice", map[string]any{
		"userPrincipalName": s.user, "displayName": "Alice", "mail": "alice@example.com",
		"appRoleAssignments": []map[string]any{{"resourceAppId": s.backend.AppID, "appRoleId": "Colors.Reader"}},
	}, &u)
	s.userOID = u.ObjectID
	e.must(http.StatusNoContent, "POST", "/directory/users/alice/setPassword", map[string]any{"password": s.password}, nil)
	return s
}

// browser follows the sign-in flow like a person with a cookie jar, and
// stops at the client's redirect URI.
type browser struct {
	t      *testing.T
	c      *http.Client
	stopAt string
}

func newBrowser(t *testing.T, stopAt string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, stopAt: stopAt}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return b
}

type page struct {
	status   int
	body     string
	header   http.Header
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
	return page{status: resp.StatusCode, body: string(data), header: resp.Header, location: resp.Header.Get("Location")}
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
	reReq    = regexp.MustCompile(`name="req" value="([^"]+)"`)
	reCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func formFields(t *testing.T, body string) (action string, form url.Values) {
	t.Helper()
	a, r, c := reAction.FindStringSubmatch(body), reReq.FindStringSubmatch(body), reCSRF.FindStringSubmatch(body)
	if a == nil || r == nil || c == nil {
		t.Fatalf("no form in page: %s", body)
	}
	return a[1], url.Values{"req": {r[1]}, "csrf": {c[1]}}
}

// signIn submits the sign-in form of p and returns the next page.
func (b *browser) signIn(base string, p page, user, password string) page {
	b.t.Helper()
	action, form := formFields(b.t, p.body)
	form.Set("username", user)
	form.Set("password", password)
	return b.post(base+action, form)
}

// consent accepts (or declines) the consent page p.
func (b *browser) consent(base string, p page, accept bool) page {
	b.t.Helper()
	action, form := formFields(b.t, p.body)
	if accept {
		form.Set("decision", "accept")
	} else {
		form.Set("decision", "deny")
	}
	return b.post(base+action, form)
}

// authorize runs authorize → sign-in → consent (when asked) and returns the
// redirect's query.
func (e *env) authorize(b *browser, params url.Values, user, password string) url.Values {
	e.t.Helper()
	p := b.get(e.idp.URL + "/" + e.tenantID + "/oauth2/v2.0/authorize?" + params.Encode())
	for i := 0; i < 4 && p.status == http.StatusOK; i++ {
		switch {
		case strings.Contains(p.body, `name="password"`):
			p = b.signIn(e.idp.URL, p, user, password)
		case strings.Contains(p.body, `name="decision"`):
			p = b.consent(e.idp.URL, p, true)
		}
	}
	if p.location == "" {
		e.t.Fatalf("authorize: no redirect (status %d): %s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query()
}

func pkcePair() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authParams(clientID, redirect, scope, challenge string) url.Values {
	v := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {scope}, "state": {"st-123"}, "nonce": {"n-456"}}
	if challenge != "" {
		v.Set("code_challenge", challenge)
		v.Set("code_challenge_method", "S256")
	}
	return v
}

// claims decodes a JWT's payload without verifying it (verification is
// done separately with an independent library).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func header(t *testing.T, jwt string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func str(v any) string { return fmt.Sprint(v) }

package credential_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

const cp = "/authorizationProviders/idp/authorizations/gw"

func (e *env) clientCredentialsProvider(t *testing.T) {
	resourceURI, clientID, secret := e.seedClientCredentials()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/idp", map[string]any{
		"identityProvider": "tollgate",
		"oauth2": map[string]any{"grantTypes": map[string]any{"clientCredentials": map[string]any{
			"clientId": clientID, "clientSecret": secret, "resourceUri": resourceURI}}},
	}, nil)
}

func TestClientCredentials(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st)
		e.clientCredentialsProvider(t)
		var prov map[string]any
		e.must(http.StatusOK, "GET", "/authorizationProviders/idp", nil, &prov)
		raw, _ := json.Marshal(prov)
		if strings.Contains(string(raw), "clientSecret") {
			t.Fatalf("GET shows the client secret: %s", raw)
		}
		if ru := prov["oauth2"].(map[string]any)["redirectUrl"]; ru != e.m.RedirectURL() {
			t.Fatalf("redirectUrl = %v", ru)
		}
		var secrets map[string]string
		e.must(http.StatusOK, "POST", "/authorizationProviders/idp/listSecrets", nil, &secrets)
		if secrets["clientSecret"] == "" {
			t.Fatal("listSecrets: no clientSecret")
		}

		var c connView
		e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, &c)
		if c.Status != "Connected" || c.Error != nil {
			t.Fatalf("new client-credentials connection: %+v", c)
		}
		if c.UID != "" {
			t.Fatal("uid shown")
		}
		// The gateway's identity got an access policy by default.
		var ap map[string]any
		e.must(http.StatusOK, "GET", cp+"/accessPolicies/gateway", nil, &ap)
		if ap["objectId"] != gatewayOID || ap["tenantId"] != e.tenant {
			t.Fatalf("default access policy: %v", ap)
		}

		e.api(attachPolicy("idp", "gw", ""))
		r := e.callAPI()
		if r.status != 200 || !strings.HasPrefix(r.authorization(), "Bearer ey") {
			t.Fatalf("call: %d %q %s", r.status, r.authorization(), r.body)
		}
		before := e.grants.count("client_credentials")
		for i := 0; i < 20; i++ {
			if got := e.callAPI(); got.authorization() != r.authorization() {
				t.Fatal("cached token not reused")
			}
		}
		if n := e.grants.count("client_credentials"); n != before {
			t.Fatalf("%d token requests for cached calls", n-before)
		}
		// Near expiry (3 minutes before), a new token is fetched.
		e.clock.Advance(58 * time.Minute)
		if got := e.callAPI(); got.status != 200 || got.authorization() == r.authorization() {
			t.Fatalf("after 58 minutes: %d, same token %v", got.status, got.authorization() == r.authorization())
		}
		if n := e.grants.count("client_credentials"); n != before+1 {
			t.Fatalf("%d token requests for one renewal", n-before)
		}

		// Wrong credentials on a connection: Error with the provider's code.
		e.must(http.StatusCreated, "PUT", "/authorizationProviders/idp/authorizations/bad", map[string]any{
			"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials", "parameters": map[string]any{"clientSecret": "wrong-secret"}}, &c)
		if c.Status != "Error" || c.Error == nil || c.Error.Code != "invalid_client" {
			t.Fatalf("bad secret: %+v %+v", c, c.Error)
		}
		if strings.Contains(c.Error.Message, "wrong-secret") {
			t.Fatal("error shows the secret")
		}
	})
}

// TestAuthorizationCode consents through a login link against the
// built-in provider, then refreshes with its rotating refresh tokens.
func TestAuthorizationCode(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st)
		clientID, secret, scope := e.seedAuthCode()
		e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas", map[string]any{
			"identityProvider": "tollgate", "displayName": "SaaS",
			"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{
				"clientId": clientID, "clientSecret": secret, "scopes": scope}}},
		}, nil)
		conn := "/authorizationProviders/saas/authorizations/alice"
		var c connView
		e.must(http.StatusCreated, "PUT", conn, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}, &c)
		if c.Status != "NotConnected" {
			t.Fatalf("status %q", c.Status)
		}
		e.api(attachPolicy("saas", "alice", ""))
		if r := e.callAPI(); r.status != 500 || !strings.Contains(r.body, "") {
			t.Fatalf("before consent: %d %s", r.status, r.body)
		}
		if end := e.consent(t, conn); end != "https://app.example.com/done" {
			t.Fatalf("ended at %q", end)
		}
		e.must(http.StatusOK, "GET", conn, nil, &c)
		if c.Status != "Connected" || c.ExpiresAt == "" {
			t.Fatalf("after consent: %+v", c)
		}
		r := e.callAPI()
		if r.status != 200 || !strings.HasPrefix(r.authorization(), "Bearer ey") {
			t.Fatalf("call: %d %s", r.status, r.body)
		}
		// Three refreshes in a row: each uses the refresh token the last
		// one returned (the provider revokes the family on reuse).
		last := r.authorization()
		for i := 0; i < 3; i++ {
			e.clock.Advance(58 * time.Minute)
			got := e.callAPI()
			if got.status != 200 || got.authorization() == last {
				t.Fatalf("refresh %d: %d %s", i, got.status, got.body)
			}
			last = got.authorization()
		}
		if n := e.grants.count("refresh_token"); n != 3 {
			t.Fatalf("%d refreshes, want 3", n)
		}
		// Stored tokens are sealed.
		recs, err := st.State().List(context.Background(), "credential/token")
		if err != nil || len(recs) != 1 {
			t.Fatalf("token state: %v %d", err, len(recs))
		}
		if strings.Contains(string(recs[0].Value), strings.TrimPrefix(last, "Bearer ")) || strings.Contains(string(recs[0].Value), "refresh") && !strings.Contains(string(recs[0].Value), "refreshedAt") {
			t.Fatalf("token stored in clear: %s", recs[0].Value)
		}
	})
}

func TestLoginLinks(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	clientID, secret, scope := e.seedAuthCode()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas", map[string]any{"identityProvider": "tollgate",
		"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": clientID, "clientSecret": secret, "scopes": scope}}}}, nil)
	conn := "/authorizationProviders/saas/authorizations/alice"
	e.must(http.StatusCreated, "PUT", conn, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}, nil)

	for _, bad := range []string{"javascript:alert(1)", "/relative", "ftp://x.example.com/", ""} {
		if got := e.call("POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": bad}, nil); got != 400 {
			t.Errorf("postLoginRedirectUrl %q: %d", bad, got)
		}
	}
	var link struct {
		LoginLink string `json:"loginLink"`
	}
	e.must(http.StatusOK, "POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": "https://app.example.com/done"}, &link)
	b := newBrowser(t)
	p := b.confirm(link.LoginLink)
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "code_challenge=") {
		t.Fatalf("continue: %d %q", p.status, p.location)
	}
	// Used once: the page and the click now refuse it.
	if again := b.get(link.LoginLink); again.status != 400 || !strings.Contains(again.body, "already used") {
		t.Fatalf("reused link: %d %s", again.status, again.body)
	}
	// A forged state.
	if f := b.get(e.portal.URL + credential.Prefix + "callback?code=abc&state=forged"); f.status != 400 || !strings.Contains(f.body, "state") {
		t.Fatalf("forged state: %d %s", f.status, f.body)
	}
	// A tampered link.
	if f := b.get(e.portal.URL + credential.Prefix + "login?link=" + url.QueryEscape(link.LoginLink[len(link.LoginLink)-40:])); f.status != 400 {
		t.Fatalf("tampered link: %d", f.status)
	}
	// An expired link.
	e.must(http.StatusOK, "POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": "https://app.example.com/done"}, &link)
	e.clock.Advance(11 * time.Minute)
	if f := b.get(link.LoginLink); f.status != 400 || !strings.Contains(f.body, "expired") {
		t.Fatalf("expired link: %d %s", f.status, f.body)
	}
	// Denied consent at the provider is shown and recorded.
	back := e.signInAtIdP(b, p.location)
	u, _ := url.Parse(back.location)
	q := u.Query()
	deny := b.get(e.portal.URL + credential.Prefix + "callback?state=" + url.QueryEscape(q.Get("state")) + "&error=access_denied&error_description=the+user+said+no")
	if deny.status != 400 || !strings.Contains(deny.body, "access_denied") {
		t.Fatalf("denied: %d %s", deny.status, deny.body)
	}
	var c connView
	e.must(http.StatusOK, "GET", conn, nil, &c)
	if c.Status != "Error" || c.Error == nil || c.Error.Code != "access_denied" {
		t.Fatalf("after denial: %+v", c)
	}
	// The state is spent: the real code cannot be used afterwards.
	if late := b.get(back.location); late.status != 400 {
		t.Fatalf("spent state: %d", late.status)
	}
	// Client-credentials connections have no login links.
	e.clientCredentialsProvider(t)
	e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil)
	if got := e.call("POST", cp+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": "https://app.example.com/"}, nil); got != 400 {
		t.Fatalf("login link for client credentials: %d", got)
	}
}

// TestBadInput: clear 400s, nothing stored.
func TestBadInput(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	v0, _ := e.st.Version(context.Background())
	cases := []struct {
		name string
		body map[string]any
		want string
	}{
		{"unknown type", map[string]any{"identityProvider": "myspace", "oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a", "clientSecret": "b"}}}}, "unknown provider type"},
		{"two grant types", map[string]any{"identityProvider": "oauth2", "oauth2": map[string]any{"grantTypes": map[string]any{
			"authorizationCode": map[string]any{"clientId": "a"}, "clientCredentials": map[string]any{"clientId": "a"}}}}, "exactly one grant type"},
		{"missing secret", map[string]any{"identityProvider": "github", "oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a"}}}}, "clientSecret"},
		{"grant not offered", map[string]any{"identityProvider": "github", "oauth2": map[string]any{"grantTypes": map[string]any{"clientCredentials": map[string]any{"clientId": "a", "clientSecret": "b"}}}}, "offers authorizationCode"},
		{"unknown parameter", map[string]any{"identityProvider": "github", "oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a", "clientSecret": "b", "colour": "red"}}}}, "unknown parameter"},
		{"bad URL", map[string]any{"identityProvider": "oauth2", "oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a", "clientSecret": "b", "authorizationUrl": "javascript:x", "tokenUrl": "https://t.example.com/"}}}}, "absolute http"},
		{"secret at top level", map[string]any{"identityProvider": "github", "clientSecret": "x", "oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a", "clientSecret": "b"}}}}, "unknown field"},
	}
	for _, c := range cases {
		var body map[string]any
		if got := e.call("PUT", "/authorizationProviders/p1", c.body, &body); got != 400 {
			t.Errorf("%s: status %d: %v", c.name, got, body)
			continue
		}
		if raw, _ := json.Marshal(body); !strings.Contains(string(raw), c.want) {
			t.Errorf("%s: %s does not say %q", c.name, raw, c.want)
		}
	}
	if v, _ := e.st.Version(context.Background()); v != v0 {
		t.Fatal("a refused write changed the configuration")
	}
	// Connection: the grant type must match the provider's.
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/gh", map[string]any{"identityProvider": "github",
		"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "a", "clientSecret": "b"}}}}, nil)
	if got := e.call("PUT", "/authorizationProviders/gh/authorizations/x", map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil); got != 400 {
		t.Fatalf("mismatched grant: %d", got)
	}
	if got := e.call("PUT", "/authorizationProviders/gh/authorizations/x", map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode", "status": "Connected"}, nil); got != 201 {
		t.Fatalf("create: %d", got)
	}
	var c connView
	e.must(http.StatusOK, "GET", "/authorizationProviders/gh/authorizations/x", nil, &c)
	if c.Status != "NotConnected" {
		t.Fatalf("status is read-only, got %q", c.Status)
	}
	// Deleting the provider deletes its connections and access policies.
	e.must(http.StatusNoContent, "DELETE", "/authorizationProviders/gh", nil, nil)
	if got := e.call("GET", "/authorizationProviders/gh/authorizations/x/accessPolicies/gateway", nil, nil); got != 404 {
		t.Fatalf("access policy after provider delete: %d", got)
	}
	// The catalogue.
	var types struct {
		Value []struct {
			Name       string `json:"name"`
			GrantTypes map[string]struct {
				Parameters []credential.Parameter `json:"parameters"`
			} `json:"grantTypes"`
		} `json:"value"`
	}
	e.must(http.StatusOK, "GET", "/authorizationProviderTypes", nil, &types)
	names := map[string]bool{}
	for _, ty := range types.Value {
		names[ty.Name] = true
	}
	for _, n := range []string{"oauth2", "oauth2pkce", "aad", "tollgate", "github", "google", "slack", "dropbox", "box", "salesforce", "atlassian", "zoom", "linkedin", "spotify", "hubspot", "servicenow", "docusign"} {
		if !names[n] {
			t.Errorf("catalogue lacks %s", n)
		}
	}
}

// githubServer speaks GitHub's dialect: form-encoded answers, no
// expires_in, no rotation, errors with status 200.
type githubServer struct {
	srv      *httptest.Server
	down     atomic.Bool
	tokens   atomic.Int64
	codes    sync.Map
	lastAuth atomic.Value
}

func newGitHub(t *testing.T) *githubServer {
	g := &githubServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		g.lastAuth.Store(q)
		code := "code-" + q.Get("state")[:8]
		g.codes.Store(code, true)
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+q.Get("state"), http.StatusFound)
	})
	mux.HandleFunc("/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.ParseForm()
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		if r.PostForm.Get("client_secret") != "gh-secret" {
			w.Write([]byte("error=incorrect_client_credentials&error_description=The+client_id+and%2For+client_secret+passed+are+incorrect."))
			return
		}
		if _, ok := g.codes.LoadAndDelete(r.PostForm.Get("code")); !ok {
			w.Write([]byte("error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."))
			return
		}
		n := g.tokens.Add(1)
		w.Write([]byte("access_token=gho_" + strings.Repeat("x", 10) + string(rune('a'+n)) + "&scope=repo&token_type=bearer"))
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func TestGitHubDialect(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	g := newGitHub(t)
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/gh", map[string]any{"identityProvider": "oauth2", "displayName": "GitHub",
		"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": "gh-client", "clientSecret": "gh-secret", "scopes": "repo",
			"authorizationUrl": g.srv.URL + "/login/oauth/authorize", "tokenUrl": g.srv.URL + "/login/oauth/access_token"}}}}, nil)
	conn := "/authorizationProviders/gh/authorizations/me"
	e.must(http.StatusCreated, "PUT", conn, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}, nil)
	var link struct {
		LoginLink string `json:"loginLink"`
	}
	e.must(http.StatusOK, "POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": "http://localhost:3000/ok"}, &link)
	b := newBrowser(t)
	p := b.confirm(link.LoginLink)
	back := b.get(p.location)
	if end := b.get(back.location); end.status != 303 || end.location != "http://localhost:3000/ok" {
		t.Fatalf("callback: %d %s %s", end.status, end.location, end.body)
	}
	e.api(attachPolicy("gh", "me", "") + `<set-header name="X-Scope" exists-action="override"><value>@(((Authorization)context.Variables["auth-context"]).Claims.GetValueOrDefault("scope", ""))</value></set-header>`)
	r := e.callAPI()
	if r.status != 200 || r.authorization() != "Bearer gho_xxxxxxxxxxb" || r.headers["X-Scope"][0] != "repo" {
		t.Fatalf("call: %d %q %v %s", r.status, r.authorization(), r.headers["X-Scope"], r.body)
	}
	// No expires_in: the token is used for days without a refresh, even
	// with the provider down.
	g.down.Store(true)
	e.clock.Advance(72 * time.Hour)
	if r2 := e.callAPI(); r2.status != 200 || r2.authorization() != r.authorization() {
		t.Fatalf("later: %d %s", r2.status, r2.body)
	}
	if g.tokens.Load() != 1 {
		t.Fatalf("%d token requests", g.tokens.Load())
	}
}

// TestProviderDown: a cached token keeps working until it expires; then
// clear 500s, or null with ignore-error; on-error sees context.LastError.
// refreshCounts counts the manager's token requests by provider and result.
type refreshCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *refreshCounts) ObserveRefresh(provider string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if err != nil {
		provider += " failed"
	}
	c.n[provider]++
}

func (c *refreshCounts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func TestProviderDown(t *testing.T) {
	counts := &refreshCounts{}
	e := newEnv(t, teststores.SQLite(t), func(o *credential.Options) { o.Observer = counts })
	e.clientCredentialsProvider(t)
	e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil)
	e.api(attachPolicy("idp", "gw", ""))
	first := e.callAPI()
	if first.status != 200 {
		t.Fatal(first.body)
	}
	if counts.get("idp") != 1 || counts.get("idp failed") != 0 {
		t.Fatalf("token requests observed: %v", counts.n)
	}
	e.idpSrv.Close() // the provider is gone
	e.clock.Advance(58 * time.Minute)
	// Due for refresh, the refresh fails, the token still has 2 minutes.
	if r := e.callAPI(); r.status != 200 || r.authorization() != first.authorization() {
		t.Fatalf("inside the margin: %d %s", r.status, r.body)
	}
	if counts.get("idp failed") != 1 {
		t.Fatalf("token requests observed: %v", counts.n)
	}
	e.clock.Advance(3 * time.Minute) // expired
	r := e.callAPI()
	if r.status != 500 {
		t.Fatalf("expired with the provider down: %d %s", r.status, r.body)
	}
	var c connView
	e.must(http.StatusOK, "GET", cp, nil, &c)
	if c.Status != "Error" || c.Error == nil {
		t.Fatalf("status: %+v", c)
	}
	// ignore-error: the variable is null, the call goes on without a token.
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<get-authorization-context provider-id="idp" authorization-id="gw" context-variable-name="auth-context" ignore-error="true" />
<set-header name="X-Has-Token" exists-action="override"><value>@(context.Variables["auth-context"] == null ? "no" : "yes")</value></set-header>
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 200 || r.headers["X-Has-Token"][0] != "no" {
		t.Fatalf("ignore-error: %d %v %s", r.status, r.headers, r.body)
	}
	// on-error sees the reason.
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<get-authorization-context provider-id="idp" authorization-id="gw" context-variable-name="auth-context" />
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base />
<return-response><set-status code="503" reason="Upstream auth" /><set-body>@(context.LastError.Reason)</set-body></return-response></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 503 || r.body != "AuthorizationError" {
		t.Fatalf("on-error: %d %s", r.status, r.body)
	}
}

func TestAccessPolicyDenial(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	e.clientCredentialsProvider(t)
	e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil)
	e.api(attachPolicy("idp", "gw", ""))
	if r := e.callAPI(); r.status != 200 {
		t.Fatal(r.body)
	}
	e.must(http.StatusNoContent, "DELETE", cp+"/accessPolicies/gateway", nil, nil)
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<get-authorization-context provider-id="idp" authorization-id="gw" context-variable-name="auth-context" />
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base />
<return-response><set-status code="500" reason="x" /><set-body>@(context.LastError.Reason)</set-body></return-response></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 500 || r.body != "AuthorizationAccessDenied" {
		t.Fatalf("denied: %d %s", r.status, r.body)
	}
	// A policy for someone else does not help; one for the gateway does.
	e.must(http.StatusCreated, "PUT", cp+"/accessPolicies/other", map[string]any{"tenantId": e.tenant, "objectId": "someone-else"}, nil)
	if r := e.callAPI(); r.body != "AuthorizationAccessDenied" {
		t.Fatalf("other identity: %d %s", r.status, r.body)
	}
	e.must(http.StatusCreated, "PUT", cp+"/accessPolicies/gw2", map[string]any{"tenantId": e.tenant, "objectId": gatewayOID}, nil)
	if r := e.callAPI(); r.status != 200 {
		t.Fatalf("allowed again: %d %s", r.status, r.body)
	}
	if got := e.call("PUT", cp+"/accessPolicies/bad", map[string]any{"tenantId": ""}, nil); got != 400 {
		t.Fatalf("empty access policy: %d", got)
	}
}

// TestCallerIdentity: identity-type="jwt" takes the caller's token from the
// built-in provider (audience: the credential manager's application) and
// lets it through only when an access policy names the caller.
func TestCallerIdentity(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	e.clientCredentialsProvider(t)
	e.must(http.StatusCreated, "PUT", cp, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil)
	// The credential manager's application, and a caller app allowed to
	// get tokens for it.
	var cm, caller appView
	e.must(http.StatusCreated, "PUT", "/directory/applications/credential-manager", map[string]any{
		"displayName": "Credential manager", "identifierUris": []string{credential.CallerAudience},
		"appRoles": []map[string]any{{"value": "Authorizations.Use", "displayName": "Use", "allowedMemberTypes": []string{"Application"}}},
	}, &cm)
	e.must(http.StatusCreated, "PUT", "/directory/applications/caller", map[string]any{"displayName": "Caller",
		"requiredResourceAccess": []map[string]any{{"resourceAppId": cm.AppID, "resourceAccess": []map[string]any{{"id": cm.AppRoles[0].ID, "type": "Role"}}}}}, &caller)
	var added struct {
		SecretText string `json:"secretText"`
	}
	e.must(http.StatusOK, "POST", "/directory/applications/caller/addPassword", map[string]any{"displayName": "c"}, &added)
	e.must(http.StatusOK, "POST", "/directory/applications/caller/grantAdminConsent", nil, nil)
	callerToken := e.appToken(t, caller.AppID, added.SecretText, credential.CallerAudience+"/.default")
	e.api("")
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<get-authorization-context provider-id="idp" authorization-id="gw" context-variable-name="auth" identity-type="jwt"
  identity="@(context.Request.Headers.GetValueOrDefault(&quot;X-Caller&quot;, &quot;&quot;))" />
<set-header name="Authorization" exists-action="override"><value>@("Bearer " + ((Authorization)context.Variables["auth"]).AccessToken)</value></set-header>
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base />
<return-response><set-status code="500" reason="x" /><set-body>@(context.LastError.Reason)</set-body></return-response></on-error></policies>`}, nil)
	call := func(caller string) (int, string) {
		req, _ := http.NewRequest("GET", e.gw.URL+"/echo/x", nil)
		req.Header.Set("X-Caller", caller)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Only the gateway's default policy: the caller is not in it.
	if st, body := call(callerToken); st != 500 || body != "AuthorizationAccessDenied" {
		t.Fatalf("caller without a policy: %d %s", st, body)
	}
	e.must(http.StatusCreated, "PUT", cp+"/accessPolicies/caller", map[string]any{"tenantId": e.tenant, "appIds": []string{caller.AppID}}, nil)
	if st, body := call(callerToken); st != 200 || !strings.Contains(body, "Bearer ey") {
		t.Fatalf("allowed caller: %d %s", st, body)
	}
	if st, body := call("not-a-token"); st != 500 || body != "IdentityInvalid" {
		t.Fatalf("bad token: %d %s", st, body)
	}
	if st, body := call(""); st != 500 || body != "IdentityMissing" {
		t.Fatalf("no token: %d %s", st, body)
	}
	// A valid token of the provider for another audience (the backend's,
	// as the gateway's own client gets) is refused.
	var prov struct {
		OAuth2 struct {
			GrantTypes struct {
				ClientCredentials map[string]string `json:"clientCredentials"`
			} `json:"grantTypes"`
		} `json:"oauth2"`
	}
	e.must(http.StatusOK, "GET", "/authorizationProviders/idp", nil, &prov)
	var secrets map[string]string
	e.must(http.StatusOK, "POST", "/authorizationProviders/idp/listSecrets", nil, &secrets)
	other := e.appToken(t, prov.OAuth2.GrantTypes.ClientCredentials["clientId"], secrets["clientSecret"], "api://backend-api/.default")
	e.must(http.StatusCreated, "PUT", cp+"/accessPolicies/gwclient", map[string]any{"tenantId": e.tenant, "appIds": []string{prov.OAuth2.GrantTypes.ClientCredentials["clientId"]}}, nil)
	if st, body := call(other); st != 500 || body != "IdentityInvalid" {
		t.Fatalf("other audience: %d %s", st, body)
	}
}

// appToken gets a client-credentials token from the built-in provider.
func (e *env) appToken(t *testing.T, clientID, secret, scope string) string {
	t.Helper()
	resp, err := http.PostForm(e.idpSrv.URL+"/"+e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok.AccessToken == "" {
		t.Fatalf("no token for %s (status %d)", scope, resp.StatusCode)
	}
	return tok.AccessToken
}

// TestManagedIdentity: authentication-managed-identity gets tokens of the
// gateway's own identity (the managed-identity provider) for a resource,
// into the Authorization header or a variable; without that provider it
// fails clearly, or is ignored with ignore-error.
func TestManagedIdentity(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t))
	e.api(`<authentication-managed-identity resource="api://backend-api" />`)
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<authentication-managed-identity resource="api://backend-api" />
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base />
<return-response><set-status code="500" reason="x" /><set-body>@(context.LastError.Reason)</set-body></return-response></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 500 || r.body != "ManagedIdentityNotConfigured" {
		t.Fatalf("without an identity: %d %s", r.status, r.body)
	}
	resourceURI, clientID, secret := e.seedClientCredentials()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/"+credential.ManagedIdentityProvider, map[string]any{
		"identityProvider": "tollgate",
		"oauth2":           map[string]any{"grantTypes": map[string]any{"clientCredentials": map[string]any{"clientId": clientID, "clientSecret": secret, "resourceUri": resourceURI}}},
	}, nil)
	r := e.callAPI()
	if r.status != 200 || !strings.HasPrefix(r.authorization(), "Bearer ey") {
		t.Fatalf("with the identity: %d %s", r.status, r.body)
	}
	before := e.grants.count("client_credentials")
	for i := 0; i < 5; i++ {
		if again := e.callAPI(); again.authorization() != r.authorization() {
			t.Fatal("token not cached")
		}
	}
	if e.grants.count("client_credentials") != before {
		t.Fatal("cached token fetched again")
	}
	// Into a variable, with client-id naming the identity.
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<authentication-managed-identity resource="api://backend-api/" client-id="` + clientID + `" output-token-variable-name="msi" />
<set-header name="X-Token" exists-action="override"><value>@((string)context.Variables["msi"])</value></set-header>
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 200 || !strings.HasPrefix(r.headers["X-Token"][0], "ey") {
		t.Fatalf("output variable: %d %s", r.status, r.body)
	}
	// An unknown client-id, ignored.
	e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<authentication-managed-identity resource="api://backend-api" client-id="nobody" ignore-error="true" />
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`}, nil)
	if r := e.callAPI(); r.status != 200 || r.authorization() != "" {
		t.Fatalf("ignored error: %d %q", r.status, r.authorization())
	}
	if got := e.call("PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml", "value": `<policies><inbound><base />
<authentication-managed-identity />
</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`}, nil); got != 400 {
		t.Fatalf("no resource: %d", got)
	}
	if tok, err := e.m.ManagedToken(context.Background(), "", "api://backend-api"); err != nil || tok != strings.TrimPrefix(r.authorization(), "Bearer ") {
		t.Fatalf("ManagedToken: %v", err)
	}
}

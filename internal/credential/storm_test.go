package credential_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/storetest"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// consented sets up an authorization-code connection to the built-in
// provider (rotating refresh tokens) and consents to it.
func (e *env) consented(t *testing.T) {
	t.Helper()
	clientID, secret, scope := e.seedAuthCode()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas", map[string]any{"identityProvider": "tollgate",
		"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": clientID, "clientSecret": secret, "scopes": scope}}}}, nil)
	conn := "/authorizationProviders/saas/authorizations/alice"
	e.must(http.StatusCreated, "PUT", conn, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}, nil)
	e.consent(t, conn)
}

// storm makes n concurrent requests for the connection's token, spread
// over the managers, and returns the distinct tokens they got.
func storm(t *testing.T, n int, managers ...*credential.Manager) map[string]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(m *credential.Manager) {
			defer wg.Done()
			<-start
			a, err := m.Token(context.Background(), "saas", "alice")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("token: %v", err)
				return
			}
			got[a.AccessToken]++
		}(managers[i%len(managers)])
	}
	close(start)
	wg.Wait()
	return got
}

func TestRefreshStormOneNode(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st)
		e.consented(t)
		if got := storm(t, 50, e.m); len(got) != 1 {
			t.Fatalf("%d distinct tokens before expiry", len(got))
		}
		e.clock.Advance(58 * time.Minute)
		got := storm(t, 1000, e.m)
		if n := e.grants.count("refresh_token"); n != 1 {
			t.Fatalf("%d upstream refreshes for 1,000 concurrent requests, want 1", n)
		}
		if len(got) != 1 {
			t.Fatalf("%d distinct tokens after the refresh: %v", len(got), got)
		}
	})
}

// TestRefreshStormThreeNodes: three nodes on one PostgreSQL database, each
// with its own cache; at expiry exactly one of them refreshes and the
// others read its sealed tokens.
func TestRefreshStormThreeNodes(t *testing.T) {
	dsn, _ := storetest.PostgresDSN(t)
	open := func() store.Store {
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	e := newEnv(t, open())
	n2, n3 := e.newNode(t, open()), e.newNode(t, open())
	e.consented(t)
	if got := storm(t, 30, e.m, n2.m, n3.m); len(got) != 1 {
		t.Fatalf("%d distinct tokens before expiry", len(got))
	}
	for round := 1; round <= 2; round++ {
		e.clock.Advance(58 * time.Minute)
		got := storm(t, 1000, e.m, n2.m, n3.m)
		if n := e.grants.count("refresh_token"); n != round {
			t.Fatalf("round %d: %d upstream refreshes in all, want %d", round, n, round)
		}
		// Nodes that found the refresh under way used the old token, which
		// is still good for minutes; soon after, every node has the new one.
		if len(got) > 2 {
			t.Fatalf("round %d: %d distinct tokens", round, len(got))
		}
		time.Sleep(200 * time.Millisecond)
		if after := storm(t, 30, e.m, n2.m, n3.m); len(after) != 1 {
			t.Fatalf("round %d: nodes disagree after the refresh: %d tokens", round, len(after))
		}
		if n := e.grants.count("refresh_token"); n != round {
			t.Fatalf("round %d: %d upstream refreshes in all, want %d", round, n, round)
		}
	}
}

// BenchmarkTokenCacheHit is get-authorization-context's lookup when the
// token is cached.
func BenchmarkTokenCacheHit(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	if _, err := e.m.Token(ctx, "saas", "alice"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.m.Token(ctx, "saas", "alice"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDeadNodeLease: a node that took the refresh lease and died (kill -9)
// holds up the others only until the lease expires; then one of them
// refreshes with the stored refresh token, which was not lost.
func TestDeadNodeLease(t *testing.T) {
	e := newEnv(t, teststores.SQLite(t), func(o *credential.Options) { o.LeaseTTL = time.Second })
	e.consented(t)
	ctx := context.Background()
	recs, err := e.st.State().List(ctx, "credential/token")
	if err != nil || len(recs) != 1 {
		t.Fatalf("token state: %v %d", err, len(recs))
	}
	lease := "credential/lease" + strings.TrimPrefix(recs[0].Key, "credential/token")
	if err := e.st.State().Create(ctx, store.StateRecord{Key: lease, Value: []byte("dead node"), Expires: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(61 * time.Minute) // expired: nothing to serve meanwhile
	start := time.Now()
	a, err := e.m.Token(ctx, "saas", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("refreshed after %v, while the dead node's lease was live", waited)
	}
	if a.AccessToken == "" || e.grants.count("refresh_token") != 1 {
		t.Fatalf("after the lease expired: %d refreshes", e.grants.count("refresh_token"))
	}
}

// TestRenewIdle: a connection nobody used for RefreshIdle is refreshed by
// the sweep, once across nodes, and not again while it is recent.
func TestRenewIdle(t *testing.T) {
	st := teststores.SQLite(t)
	idle := func(o *credential.Options) { o.RefreshIdle = 24 * time.Hour }
	e := newEnv(t, st, idle)
	n2 := e.newNode(t, st, idle)
	e.consented(t)
	ctx := context.Background()
	if err := e.m.RenewIdle(ctx); err != nil || e.grants.count("refresh_token") != 0 {
		t.Fatalf("fresh connection renewed: %v %d", err, e.grants.count("refresh_token"))
	}
	e.clock.Advance(25 * time.Hour)
	var wg sync.WaitGroup
	for _, m := range []*credential.Manager{e.m, n2.m} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.RenewIdle(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.grants.count("refresh_token"); n != 1 {
		t.Fatalf("%d refreshes by the sweep of two nodes, want 1", n)
	}
	if err := n2.m.RenewIdle(ctx); err != nil || e.grants.count("refresh_token") != 1 {
		t.Fatalf("renewed again: %v", err)
	}
	// The renewed tokens serve requests.
	if a, err := n2.m.Token(ctx, "saas", "alice"); err != nil || a.AccessToken == "" {
		t.Fatalf("token after renewal: %v", err)
	}
}

// BenchmarkGatewayCall is a gateway call to the in-process echo backend,
// without and with get-authorization-context + set-header (token cached):
// the difference is what the policy costs on a cache hit.
func BenchmarkGatewayCall(b *testing.B) {
	e := benchEnv(b)
	e.api("")
	run := func(b *testing.B) {
		req := httptest.NewRequest("GET", "/echo/x", nil)
		w := httptest.NewRecorder()
		e.gwh.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			w := httptest.NewRecorder()
			e.gwh.ServeHTTP(w, req)
		}
	}
	b.Run("without", run)
	put := func(inbound string) {
		e.must(http.StatusOK, "PUT", "/apis/echo/policies/policy", map[string]any{"format": "rawxml",
			"value": "<policies><inbound><base />" + inbound + "</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"}, nil)
	}
	// The same set-header with a variable of another source: what the
	// expression and the header cost without get-authorization-context.
	put(`<set-variable name="auth-context" value="@(&quot;x&quot;)" /><set-header name="Authorization" exists-action="override"><value>@("Bearer " + (string)context.Variables.GetValueOrDefault("auth-context"))</value></set-header>`)
	b.Run("set-variable+set-header", run)
	put(attachPolicy("saas", "alice", ""))
	b.Run("get-authorization-context+set-header", run)
}

// benchEnv is an environment with a client-credentials connection
// saas/alice to the built-in provider.
func benchEnv(b *testing.B) *env {
	e := newEnv(b, sqliteStore(b))
	resourceURI, clientID, secret := e.seedClientCredentials()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas", map[string]any{"identityProvider": "tollgate",
		"oauth2": map[string]any{"grantTypes": map[string]any{"clientCredentials": map[string]any{"clientId": clientID, "clientSecret": secret, "resourceUri": resourceURI}}}}, nil)
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas/authorizations/alice", map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "ClientCredentials"}, nil)
	return e
}

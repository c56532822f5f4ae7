package credential_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// TestRefreshTimes: every successful refresh moves a connection's
// lastRefreshed and expiresAt, in GET and in lists, on every node, without
// writing the configuration (its version does not move).
func TestRefreshTimes(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st)
		e.consented(t)
		e.api(attachPolicy("saas", "alice", ""))
		conn := "/authorizationProviders/saas/authorizations/alice"
		var c0 connView
		e.must(http.StatusOK, "GET", conn, nil, &c0)
		if c0.Status != "Connected" || c0.LastRefreshed == "" || c0.ExpiresAt == "" {
			t.Fatalf("after consent: %+v", c0)
		}
		ctx := context.Background()
		v0, err := st.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		prevRefreshed, prevExpires := c0.LastRefreshed, c0.ExpiresAt
		other := e.newNode(t, st)
		for i := 0; i < 3; i++ {
			e.clock.Advance(58 * time.Minute)
			if r := e.callAPI(); r.status != 200 {
				t.Fatalf("refresh %d: %d %s", i, r.status, r.body)
			}
			var c connView
			e.must(http.StatusOK, "GET", conn, nil, &c)
			lr, err1 := time.Parse(time.RFC3339, c.LastRefreshed)
			plr, _ := time.Parse(time.RFC3339, prevRefreshed)
			ex, err2 := time.Parse(time.RFC3339, c.ExpiresAt)
			pex, _ := time.Parse(time.RFC3339, prevExpires)
			if err1 != nil || err2 != nil || !lr.After(plr) || !ex.After(pex) {
				t.Fatalf("refresh %d: lastRefreshed %q (was %q), expiresAt %q (was %q)", i, c.LastRefreshed, prevRefreshed, c.ExpiresAt, prevExpires)
			}
			// Another node shows the same, in a list too.
			var list struct{ Value []connView }
			other.must(http.StatusOK, "GET", "/authorizationProviders/saas/authorizations", nil, &list)
			if len(list.Value) != 1 || list.Value[0].LastRefreshed != c.LastRefreshed || list.Value[0].ExpiresAt != c.ExpiresAt {
				t.Fatalf("refresh %d: list on another node: %+v, want %+v", i, list.Value, c)
			}
			prevRefreshed, prevExpires = c.LastRefreshed, c.ExpiresAt
		}
		if v, err := st.Version(ctx); err != nil || v != v0 {
			t.Fatalf("configuration version moved from %d to %d (%v): refreshes wrote the configuration", v0, v, err)
		}
		if n := e.grants.count("refresh_token"); n != 3 {
			t.Fatalf("%d refreshes, want 3", n)
		}
	})
}

package management_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

// A PostgreSQL that hangs (accepts, never answers) or refuses must not hold
// management requests: they answer 503 with Retry-After and an APIM-style
// error once the store deadline passes (issue 9, item 8).
func TestDatabaseOutageAnswers503(t *testing.T) {
	for _, fault := range []string{"hang", "refuse"} {
		t.Run(fault, func(t *testing.T) {
			dsn, proxy := storetest.ProxiedPostgresDSN(t)
			st, err := postgres.Open(context.Background(), dsn, postgres.WithPollInterval(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			t.Cleanup(proxy.Close) // first: lets the store's hung connections end
			a := newAPIWith(t, st, func(o *management.Options) { o.StoreTimeout = 500 * time.Millisecond })
			a.must(http.StatusCreated, "PUT", "/apis/echo", m{"path": "echo", "serviceUrl": "http://127.0.0.1:1"})

			switch fault {
			case "hang":
				proxy.Freeze()
			case "refuse":
				proxy.Close()
			}
			for _, c := range []struct{ method, path string }{
				{"GET", "/apis/echo"},
				{"GET", "/apis"},
				{"PUT", "/apis/other"},
				{"PATCH", "/apis/echo"},
				{"DELETE", "/apis/echo"},
				{"POST", "/subscriptions/none/listSecrets"},
			} {
				var body any
				if c.method == "PUT" || c.method == "PATCH" {
					body = m{"path": "other", "serviceUrl": "http://127.0.0.1:1"}
				}
				r := a.do(c.method, c.path, body)
				if r.status != http.StatusServiceUnavailable {
					t.Fatalf("%s %s with the database %sing: status %d, want 503: %s", c.method, c.path, fault, r.status, r.body)
				}
				if r.header.Get("Retry-After") == "" {
					t.Errorf("%s %s: 503 without Retry-After", c.method, c.path)
				}
				code, msg, _ := errorOf(t, r)
				if code != "ServiceUnavailable" || !strings.Contains(msg, "database") {
					t.Errorf("%s %s: error %s %q, want ServiceUnavailable naming the database", c.method, c.path, code, msg)
				}
			}
			if r := a.do("GET", "/ready", nil); r.status != http.StatusServiceUnavailable {
				t.Errorf("/ready with the database %sing: %d", fault, r.status)
			}
		})
	}
}

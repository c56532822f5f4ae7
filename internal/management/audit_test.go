package management_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// fakeTokens accepts any three-part token as a read-write caller: the
// identity provider's own tests cover verification; this one covers who the
// audit log says made the change.
type fakeTokens struct{}

func (fakeTokens) VerifyManagementToken(context.Context, string) ([]string, error) {
	return []string{management.RoleReadWrite}, nil
}

func unsignedToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".sig"
}

func TestAuditLog(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		a := newAPIWith(t, st, func(o *management.Options) { o.Tokens = fakeTokens{}; o.Now = clock })

		a.must(201, "PUT", "/namedValues/secret", m{"displayName": "secret", "value": "hunter2-plaintext", "secret": true})
		now = now.Add(time.Hour)
		a.must(200, "PATCH", "/namedValues/secret", m{"value": "rotated-plaintext"})
		now = now.Add(time.Hour)
		tok := unsignedToken(`{"sub":"alice@example.com","azp":"ops-console"}`)
		a.must(201, "PUT", "/apis/echo", m{"displayName": "Echo", "path": "echo", "serviceUrl": "http://127.0.0.1:1"}, "Authorization", "Bearer "+tok)
		// A refused change leaves no entry.
		if r := a.do("PUT", "/apis/bad", m{"path": 42}); r.status != 400 {
			t.Fatalf("bad PUT: %d %s", r.status, r.body)
		}
		now = now.Add(time.Hour)
		a.must(204, "DELETE", "/namedValues/secret", nil)

		got := a.must(200, "GET", "/auditLog", nil)
		entries := got["value"].([]any)
		if len(entries) != 4 {
			t.Fatalf("audit log has %d entries, want 4: %v", len(entries), got)
		}
		raw := a.do("GET", "/auditLog", nil).body
		if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "rotated-plaintext") {
			t.Fatalf("audit log shows a secret: %s", raw)
		}
		want := []struct{ actor, app, action, path string }{
			{"admin", "", "create", "/namedValues/secret"},
			{"admin", "", "update", "/namedValues/secret"},
			{"alice@example.com", "ops-console", "create", "/apis/echo"},
			{"admin", "", "delete", "/namedValues/secret"},
		}
		for i, w := range want {
			e := entries[i].(map[string]any)
			if e["actor"] != w.actor || (e["app"] != w.app && !(w.app == "" && e["app"] == "")) || e["action"] != w.action || e["path"] != w.path || e["remote"] != "127.0.0.1" {
				t.Errorf("entry %d = %v, want %+v", i, e, w)
			}
		}
		first := entries[0].(map[string]any)
		if first["before"] != nil || first["after"].(map[string]any)["displayName"] != "secret" || first["time"] != "2026-12-01T10:00:00.000000Z" {
			t.Errorf("create entry = %v", first)
		}
		if del := entries[3].(map[string]any); del["after"] != nil || del["before"].(map[string]any)["displayName"] != "secret" {
			t.Errorf("delete entry = %v", del)
		}

		filter := func(f string) []any {
			t.Helper()
			return a.must(200, "GET", "/auditLog?$filter="+url.QueryEscape(f), nil)["value"].([]any)
		}
		if n := len(filter("actor eq 'alice@example.com'")); n != 1 {
			t.Errorf("by actor: %d entries, want 1", n)
		}
		if n := len(filter("startswith(path, '/namedValues/')")); n != 3 {
			t.Errorf("by path: %d entries, want 3", n)
		}
		if n := len(filter("time ge '2026-12-01T11:00:00Z' and time lt '2026-12-01T12:00:00.5Z'")); n != 2 {
			t.Errorf("by time: %d entries, want 2", n)
		}
		if r := a.do("GET", "/auditLog?$filter="+url.QueryEscape("time ge 'yesterday'"), nil); r.status != 400 || !strings.Contains(string(r.body), "RFC 3339") {
			t.Errorf("bad time: %d %s", r.status, r.body)
		}

		// Paging follows nextLink.
		page := a.must(200, "GET", "/auditLog?$top=3", nil)
		if len(page["value"].([]any)) != 3 || page["nextLink"] == nil {
			t.Fatalf("first page = %v", page)
		}
		rest := a.must(200, "GET", page["nextLink"].(string), nil)
		if v := rest["value"].([]any); len(v) != 1 || v[0].(map[string]any)["action"] != "delete" || rest["nextLink"] != nil {
			t.Fatalf("second page = %v", rest)
		}

		// Export as JSON lines.
		r := a.do("GET", "/auditLog?format=jsonl&$filter="+url.QueryEscape("action eq 'create'"), nil)
		lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/jsonl") || len(lines) != 2 {
			t.Fatalf("jsonl: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		for _, l := range lines {
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil || e["action"] != "create" {
				t.Errorf("jsonl line %q: %v", l, err)
			}
		}
		if r := a.do("POST", "/auditLog", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST /auditLog: %d", r.status)
		}
	})
}

func TestAuditRetention(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		a := newAPIWith(t, st, func(o *management.Options) { o.Now = clock; o.AuditRetention = 24 * time.Hour })
		a.must(201, "PUT", "/namedValues/old", m{"displayName": "old", "value": "1"})
		now = now.Add(48 * time.Hour)
		a.must(201, "PUT", "/namedValues/new", m{"displayName": "new", "value": "1"})
		m2 := management.New(management.Options{Store: st, Now: clock, AuditRetention: 24 * time.Hour, Registry: resource.NewRegistry()})
		n, err := m2.PruneAudit(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1", n, err)
		}
		v := a.must(200, "GET", "/auditLog", nil)["value"].([]any)
		if len(v) != 1 || v[0].(map[string]any)["path"] != "/namedValues/new" {
			t.Fatalf("after retention: %v", v)
		}
	})
}

// A change made by a mounted route (the directory's signing-key rotation)
// is recorded before it is acknowledged; a refused one is not.
func TestAuditMountedRoute(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		// The options newAPIWith makes (keyring, admin key), for a server
		// of our own that has a mounted route.
		var srv *management.Server
		newAPIWith(t, st, func(o *management.Options) { srv = management.New(*o) })
		srv.Mount("/directory", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/directory/signingKeys/rotate" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`{"kid":"k2"}`))
				return
			}
			http.Error(w, "no", http.StatusBadRequest)
		}))
		hs := httptest.NewServer(srv)
		defer hs.Close()
		b := &api{t: t, srv: hs, st: st}
		r := b.do("POST", "/directory/signingKeys/rotate", "{}")
		if r.status != 201 || string(r.body) != `{"kid":"k2"}` || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("rotate through the audit: %d %q %v", r.status, r.body, r.header)
		}
		if r := b.do("POST", "/directory/other", "{}"); r.status != 400 {
			t.Fatalf("refused route: %d", r.status)
		}
		v := b.must(200, "GET", "/auditLog", nil)["value"].([]any)
		if len(v) != 1 {
			t.Fatalf("audit log = %v, want the rotation only", v)
		}
		e := v[0].(map[string]any)
		if e["path"] != "/directory/signingKeys/rotate" || e["action"] != "rotate" || e["kind"] != "directory" || e["actor"] != "admin" {
			t.Fatalf("entry = %v", e)
		}
	})
}

// PutAll writes everything in one version, or nothing.
func TestPutAll(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var srv *management.Server
		a := newAPIWith(t, st, func(o *management.Options) { srv = management.New(*o) })
		before, err := st.Version(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		err = srv.PutAll(t.Context(), []string{"/apis/one", "/apis/one/operations/get", "/apis/two"},
			[][]byte{[]byte(`{"path": "one"}`), []byte(`{"method": "GET", "urlTemplate": "/"}`), []byte(`{"path": 42}`)})
		if err == nil || !strings.Contains(err.Error(), "/apis/two") {
			t.Fatalf("PutAll with a bad resource: %v", err)
		}
		a.must(404, "GET", "/apis/one", nil)
		if err := srv.PutAll(t.Context(), []string{"/apis/one", "/apis/one/operations/get"},
			[][]byte{[]byte(`{"path": "one"}`), []byte(`{"method": "GET", "urlTemplate": "/"}`)}); err != nil {
			t.Fatal(err)
		}
		after, _ := st.Version(t.Context())
		if after != before+1 {
			t.Fatalf("version %d -> %d, want one version", before, after)
		}
		a.must(200, "GET", "/apis/one/operations/get", nil)
		if v := a.must(200, "GET", "/auditLog", nil)["value"].([]any); len(v) != 2 || v[0].(map[string]any)["actor"] != "system" {
			t.Fatalf("audit of PutAll = %v", v)
		}
	})
}

// TestAuditInProcessActor: a change made in process is recorded as made
// by "system", unless the caller names who it acts for with WithActor.
func TestAuditInProcessActor(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		mg := a.mgmt
		ctx := context.Background()
		if _, _, err := mg.Put(ctx, "/namedValues/plain", []byte(`{"displayName":"plain","value":"1"}`), "", false); err != nil {
			t.Fatal(err)
		}
		dev := management.WithActor(ctx, "/users/alice", "tollgate-portal", "192.0.2.7")
		if _, _, err := mg.Put(dev, "/namedValues/named", []byte(`{"displayName":"named","value":"2"}`), "", false); err != nil {
			t.Fatal(err)
		}
		entries := a.must(200, "GET", "/auditLog", nil)["value"].([]any)
		if len(entries) != 2 {
			t.Fatalf("audit log: %v", entries)
		}
		want := []m{{"actor": "system", "app": "", "remote": "", "path": "/namedValues/plain"},
			{"actor": "/users/alice", "app": "tollgate-portal", "remote": "192.0.2.7", "path": "/namedValues/named"}}
		for i, w := range want {
			got := entries[i].(map[string]any)
			for k, v := range w {
				if got[k] != v {
					t.Fatalf("entry %d %s = %v, want %v: %v", i, k, got[k], v, got)
				}
			}
		}
	})
}

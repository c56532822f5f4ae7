package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tgserver "github.com/tollgate/tollgate/internal/server"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

// server is a test's handle on a running Tollgate.
type server struct {
	*tgserver.Server
	cfg      serveConfig
	urls     map[string]string
	adminKey string
}

// startServer starts Tollgate as `tollgate serve` does.
func startServer(ctx context.Context, cfg serveConfig, out io.Writer) (*server, error) {
	s, err := tgserver.Start(ctx, cfg, out)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, name := range []string{"gateway", "management", "identity", "portal"} {
		if u, ok := s.URL(name); ok {
			urls[name] = u
		}
	}
	return &server{Server: s, cfg: cfg, urls: urls, adminKey: s.AdminKey()}, nil
}

func (s *server) shutdown() error { return s.Shutdown() }

// testServer starts Tollgate in process on free ports with its data in dir.
func testServer(t *testing.T, dir string, extra ...string) (*server, *syncBuffer) {
	t.Helper()
	args := append([]string{"--data-dir", dir, "--gateway-addr", "127.0.0.1:0", "--management-addr", "127.0.0.1:0",
		"--portal-addr", "", "--identity-addr", "127.0.0.1:0", "--shutdown-timeout", "5s", "--log-level", "warn"}, extra...)
	cfg, err := loadServeConfig(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	srv, err := startServer(context.Background(), cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.shutdown() })
	return srv, out
}

// syncBuffer collects the server's output, which its goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func call(t *testing.T, method, url string, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func (s *server) admin() []string { return []string{"Authorization", "Bearer " + s.adminKey} }

func starterKey(t *testing.T, s *server) string {
	t.Helper()
	st, _, b := call(t, "POST", s.urls["management"]+"/subscriptions/admin-starter/listSecrets", "", s.admin()...)
	if st != 200 {
		t.Fatalf("listSecrets: %d %s", st, b)
	}
	var sec map[string]string
	json.Unmarshal(b, &sec)
	return sec["primaryKey"]
}

// TestQuickStart follows the README: the Echo API answers with the Starter
// key printed on first start; a new API, product and subscription made
// through the management API are served at once, and survive a restart.
func TestQuickStart(t *testing.T) {
	dir := t.TempDir()
	srv, out := testServer(t, dir)
	key := starterKey(t, srv)
	if !strings.Contains(out.String(), key) {
		t.Errorf("first start did not print the Starter key:\n%s", out.String())
	}
	for _, want := range []string{srv.urls["gateway"], srv.urls["management"], filepath.Join(dir, "admin.key")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	gw := srv.urls["gateway"]
	st, _, body := call(t, "GET", gw+"/echo/resource?x=1", "", "Ocp-Apim-Subscription-Key", key)
	if st != 200 {
		t.Fatalf("echo: %d %s", st, body)
	}
	if !strings.Contains(string(body), `"method"`) || strings.Contains(string(body), key) {
		t.Errorf("echo body (must describe the request, without the key): %s", body)
	}
	if st, _, _ := call(t, "GET", gw+"/echo/resource", ""); st != 401 {
		t.Errorf("echo without key: %d", st)
	}

	// A new API through the management API is served by the gateway as soon
	// as the write is acknowledged.
	mg := srv.urls["management"]
	backend := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	})}
	ln := listenLocal(t)
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })
	for _, req := range []struct{ path, body string }{
		{"/apis/hello", `{"path": "hello", "serviceUrl": "http://` + ln.Addr().String() + `/base"}`},
		{"/apis/hello/operations/all", `{"method": "*", "urlTemplate": "/*"}`},
		{"/products/mine", `{"displayName": "Mine"}`},
		{"/products/mine/apis/hello", `{}`},
		{"/users/dev", `{"email": "dev@example.com", "firstName": "D", "lastName": "V"}`},
		{"/subscriptions/dev-mine", `{"scope": "/products/mine", "ownerId": "/users/dev", "primaryKey": "dev-key-0123456789abcdef"}`},
	} {
		if st, _, b := call(t, "PUT", mg+req.path, req.body, srv.admin()...); st != 201 {
			t.Fatalf("PUT %s: %d %s", req.path, st, b)
		}
	}
	st, _, body = call(t, "GET", gw+"/hello/world", "", "Ocp-Apim-Subscription-Key", "dev-key-0123456789abcdef")
	if st != 200 || string(body) != "hello from /base/world" {
		t.Fatalf("new API: %d %s", st, body)
	}

	// Restart: everything is still there, and the defaults are not made twice.
	srv.shutdown()
	srv2, out2 := testServer(t, dir)
	if strings.Contains(out2.String(), "First start") {
		t.Errorf("second start announced a first start:\n%s", out2.String())
	}
	if starterKey(t, srv2) != key {
		t.Error("the Starter key changed across a restart")
	}
	if st, _, body := call(t, "GET", srv2.urls["gateway"]+"/hello/again", "", "Ocp-Apim-Subscription-Key", "dev-key-0123456789abcdef"); st != 200 || string(body) != "hello from /base/again" {
		t.Fatalf("after restart: %d %s", st, body)
	}
}

func TestSecondServeOnLockedDatabase(t *testing.T) {
	dir := t.TempDir()
	testServer(t, dir)
	cfg, err := loadServeConfig([]string{"--data-dir", dir, "--gateway-addr", "127.0.0.1:0", "--management-addr", "127.0.0.1:0", "--identity-addr", "", "--portal-addr", ""}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = startServer(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second serve: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second serve took %v to fail", time.Since(start))
	}
}

func TestUnwritableDataDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere: use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		cfg, _ := loadServeConfig([]string{"--data-dir", filepath.Join(f, "data")}, func(string) string { return "" })
		_, err := startServer(context.Background(), cfg, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "data dir") {
			t.Fatalf("data dir under a file: %v", err)
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	cfg, _ := loadServeConfig([]string{"--data-dir", filepath.Join(dir, "data")}, func(string) string { return "" })
	_, err := startServer(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("unwritable data dir: %v", err)
	}
}

// TestGracefulShutdown: a request in flight when shutdown begins finishes.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	srv, _ := testServer(t, dir)
	release := make(chan struct{})
	started := make(chan struct{})
	backend := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})}
	ln := listenLocal(t)
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })
	mg := srv.urls["management"]
	for _, req := range []struct{ path, body string }{
		{"/apis/slow", `{"path": "slow", "serviceUrl": "http://` + ln.Addr().String() + `", "subscriptionRequired": false}`},
		{"/apis/slow/operations/all", `{"method": "*", "urlTemplate": "/*"}`},
	} {
		if st, _, b := call(t, "PUT", mg+req.path, req.body, srv.admin()...); st != 201 {
			t.Fatalf("PUT %s: %d %s", req.path, st, b)
		}
	}
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Get(srv.urls["gateway"] + "/slow/x")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.shutdown() }()
	// Release the backend only once shutdown has begun: the gateway then
	// refuses new connections while the request is still in flight.
	gwAddr := strings.TrimPrefix(srv.urls["gateway"], "http://")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", gwAddr)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the gateway still accepts connections 5s after shutdown began")
		}
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestServeOnPostgres runs the same binary on PostgreSQL: defaults made
// once, the Echo API served, and the data kept across a restart.
func TestServeOnPostgres(t *testing.T) {
	dsn, _ := storetest.PostgresDSN(t)
	dir := t.TempDir()
	srv, out := testServer(t, dir, "--database", dsn)
	if !strings.Contains(out.String(), "postgres://") || strings.Contains(out.String(), "sqlite://") {
		t.Errorf("banner does not name the PostgreSQL database:\n%s", out.String())
	}
	key := starterKey(t, srv)
	if st, _, b := call(t, "GET", srv.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key); st != 200 {
		t.Fatalf("echo on PostgreSQL: %d %s", st, b)
	}
	srv.shutdown()
	srv2, _ := testServer(t, dir, "--database", dsn)
	if starterKey(t, srv2) != key {
		t.Error("the Starter key changed across a restart on PostgreSQL")
	}
	if _, err := os.Stat(filepath.Join(dir, "tollgate.db")); err == nil {
		t.Error("a SQLite file was made although the database is PostgreSQL")
	}
}

// TestMissingMasterKey: a data dir whose master key is gone is refused at
// start with what to do, and no new key is left behind that would make the
// database's secrets unreadable for good.
func TestMissingMasterKey(t *testing.T) {
	dir := t.TempDir()
	srv, _ := testServer(t, dir)
	srv.shutdown()
	keyFile := filepath.Join(dir, "master.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig([]string{"--data-dir", dir, "--gateway-addr", "127.0.0.1:0", "--management-addr", "127.0.0.1:0", "--identity-addr", "127.0.0.1:0", "--portal-addr", ""}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = startServer(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "master key file") || !strings.Contains(err.Error(), "TOLLGATE_MASTER_KEY") {
		t.Fatalf("start without the master key: %v", err)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a new master key file was left behind")
	}
}

// TestGatewayOnlyNode: with the management and identity listeners off, a
// node serves the gateway from the shared database, answers the status
// check, and makes no admin key.
func TestGatewayOnlyNode(t *testing.T) {
	dsn, _ := storetest.PostgresDSN(t)
	control, _ := testServer(t, t.TempDir(), "--database", dsn)
	key := starterKey(t, control)

	dir := t.TempDir()
	// The same master key on every node: copy the control node's.
	mk, _ := os.ReadFile(filepath.Join(control.cfg.DataDir, "master.key"))
	os.WriteFile(filepath.Join(dir, "master.key"), mk, 0o600)
	gw, _ := testServer(t, dir, "--database", dsn, "--management-addr", "", "--identity-addr", "")
	if _, err := os.Stat(filepath.Join(dir, "admin.key")); err == nil {
		t.Error("a gateway-only node made an admin key")
	}
	if st, _, b := call(t, "GET", gw.urls["gateway"]+"/status-0123456789abcdef", ""); st != 200 {
		t.Fatalf("status: %d %s", st, b)
	}
	if st, _, b := call(t, "GET", gw.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key); st != 200 {
		t.Fatalf("echo on the gateway-only node: %d %s", st, b)
	}
	// A change on the control node reaches the gateway-only node.
	if st, _, b := call(t, "PATCH", control.urls["management"]+"/subscriptions/admin-starter", `{"state": "suspended"}`, control.admin()...); st != 200 {
		t.Fatalf("suspend: %d %s", st, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, _ := call(t, "GET", gw.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key)
		if st == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the suspension did not reach the gateway-only node: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

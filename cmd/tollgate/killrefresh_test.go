package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store/storetest"
)

// rotatingProvider is an OAuth 2.0 server with rotating refresh tokens
// that, like most providers, still accepts the previous refresh token
// until the new one has been used. Its tokens live 185 s: 5 s after being
// issued they are inside the credential manager's 3-minute refresh
// margin. With stall set, it rotates on the next refresh (the new tokens
// exist at the provider) and then never answers.
type rotatingProvider struct {
	mu        sync.Mutex
	n         int
	cur, prev string
	stall     bool
	stalled   chan string // the refresh token of the stalled request
	refreshes []string    // refresh tokens presented, in order
	refused   []string
}

func (p *rotatingProvider) issue(presented string) map[string]any {
	p.n++
	at, rt := fmt.Sprintf("access-%d", p.n), fmt.Sprintf("refresh-%d", p.n)
	p.prev, p.cur = presented, rt
	return map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 185, "refresh_token": rt}
}

func (p *rotatingProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/authorize": // consent: straight back with a code
		q := r.URL.Query()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=the-code&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	case "/done":
		w.Write([]byte("done"))
	case "/token":
		r.ParseForm()
		p.mu.Lock()
		var out map[string]any
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			out = p.issue("")
		case "refresh_token":
			rt := r.PostForm.Get("refresh_token")
			p.refreshes = append(p.refreshes, rt)
			if rt == "" || (rt != p.cur && rt != p.prev) {
				p.refused = append(p.refused, rt)
				p.mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error": "invalid_grant", "error_description": "refresh token revoked"}`))
				return
			}
			out = p.issue(rt)
			if p.stall {
				p.stall = false
				p.mu.Unlock()
				p.stalled <- rt
				<-r.Context().Done() // the node never gets the new tokens
				return
			}
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKillNodeMidRefresh: two nodes on one PostgreSQL database, one of
// them a separate process. It takes the refresh lease, the provider
// rotates the refresh token and stalls, and the process is killed with
// SIGKILL before it stores anything. The other node keeps serving the
// still-valid token while the dead node's lease lives, refreshes once it
// has expired with the stored refresh token (the provider still accepts
// it, since the rotated one was never used), and keeps refreshing after:
// the refresh token is not lost, and the provider never refused one.
func TestKillNodeMidRefresh(t *testing.T) {
	dsn, _ := storetest.PostgresDSN(t)
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "tollgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := &rotatingProvider{stalled: make(chan string, 1)}
	upSrv := newHTTPServer(t, up)

	// Node B, in this process, with the portal listener for consent.
	b, _ := testServer(t, dir, "--database", dsn, "--portal-addr", "127.0.0.1:0")
	// Node A, a process of its own on the same database and key files.
	gwA, mgA := freeAddr(t), freeAddr(t)
	a := exec.Command(bin, "serve", "--data-dir", dir, "--database", dsn, "--gateway-addr", gwA, "--management-addr", mgA,
		"--portal-addr", "", "--identity-addr", "", "--log-level", "warn")
	a.Stdout, a.Stderr = os.Stderr, os.Stderr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			a.Process.Kill()
			a.Wait()
		}
	})

	do := func(method, path, body string, want int) map[string]any {
		t.Helper()
		return mgmtDo(t, b, method, path, body, want)
	}
	do("PUT", "/authorizationProviders/saas", `{"identityProvider": "oauth2", "oauth2": {"grantTypes": {"authorizationCode": {
		"clientId": "c", "clientSecret": "s", "authorizationUrl": "`+upSrv+`/authorize", "tokenUrl": "`+upSrv+`/token", "scopes": "files"}}}}`, 201)
	conn := "/authorizationProviders/saas/authorizations/alice"
	do("PUT", conn, `{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}`, 201)
	link := do("POST", conn+"/getLoginLinks", `{"postLoginRedirectUrl": "`+upSrv+`/done"}`, 200)["loginLink"].(string)
	consentWithoutBrowser(t, link)
	consented := time.Now()
	if st, pb := putPolicy(t, b, "/apis/echo-api/policies/policy", `<policies><inbound><base />
<get-authorization-context provider-id="saas" authorization-id="alice" context-variable-name="auth" />
<return-response><set-status code="200" /><set-body>@(((Authorization)context.Variables["auth"]).AccessToken)</set-body></return-response>
</inbound></policies>`); st != 200 && st != 201 {
		t.Fatalf("policy: %d %s", st, pb)
	}
	key := starterKeyUnlimited(t, b)
	token := func(gw string) (int, string) {
		req, _ := http.NewRequest("GET", gw+"/echo/resource", nil)
		req.Header.Set("Ocp-Apim-Subscription-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		sb.Write(buf[:n])
		return resp.StatusCode, sb.String()
	}
	// Node A is up and serves the consented token.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, tok := token("http://" + gwA); st == 200 && tok == "access-1" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node A never served the token: %d %s", st, tok)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The token is due 5 s after consent: node A refreshes, the provider
	// rotates and stalls, node A dies.
	up.mu.Lock()
	up.stall = true
	up.mu.Unlock()
	time.Sleep(time.Until(consented.Add(6 * time.Second)))
	go token("http://" + gwA)
	var stalledWith string
	select {
	case stalledWith = <-up.stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("node A never refreshed")
	}
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	killed = true
	killedAt := time.Now()

	// Node B: the old token while the lease lives, then a refresh.
	gwB := b.urls["gateway"]
	var got string
	for {
		st, tok := token(gwB)
		if st != 200 {
			t.Fatalf("node B after the kill: %d %s", st, tok)
		}
		if tok != "access-1" {
			got = tok
			break
		}
		if time.Since(killedAt) > 60*time.Second {
			t.Fatal("node B never refreshed after the dead node's lease expired")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if time.Since(killedAt) < 20*time.Second {
		t.Fatalf("node B refreshed %v after the kill, while the dead node's lease (30 s) was live", time.Since(killedAt))
	}
	// And again 5 s later, with the refresh token it stored.
	time.Sleep(6 * time.Second)
	st, again := token(gwB)
	if st != 200 || again == got {
		t.Fatalf("second refresh on node B: %d %s (was %s)", st, again, got)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	want := []string{stalledWith, stalledWith, "refresh-" + strings.TrimPrefix(got, "access-")}
	if stalledWith != "refresh-1" || len(up.refused) != 0 || strings.Join(up.refreshes, ",") != strings.Join(want, ",") {
		t.Fatalf("refresh tokens presented %v (refused %v), want %v", up.refreshes, up.refused, want)
	}
	if c := do("GET", conn, "", 200); c["status"] != "Connected" {
		t.Fatalf("connection after the kill: %v", c)
	}
}

// consentWithoutBrowser follows a login link: the confirmation page, the
// provider, the callback.
func consentWithoutBrowser(t *testing.T, link string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	page := sb.String()
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatalf("confirmation page: %d %s", resp.StatusCode, page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`).Replace(m[2]))
	}
	u, _ := url.Parse(link)
	end, err := c.PostForm(u.Scheme+"://"+u.Host+strings.ReplaceAll(action[1], "&amp;", "&"), form)
	if err != nil {
		t.Fatal(err)
	}
	end.Body.Close()
	if end.StatusCode != 200 || !strings.HasSuffix(end.Request.URL.Path, "/done") {
		t.Fatalf("consent ended at %s with %d", end.Request.URL, end.StatusCode)
	}
}

func starterKeyUnlimited(t *testing.T, s *server) string {
	t.Helper()
	_, _, sb := call(t, "POST", s.urls["management"]+"/subscriptions/admin-unlimited/listSecrets", "", s.admin()...)
	var sec map[string]string
	json.Unmarshal(sb, &sec)
	return sec["primaryKey"]
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	return "http://" + ln.Addr().String()
}

package identity_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/identity"
)

// freezingProxy forwards TCP connections to a backend until frozen; then
// it stops forwarding (connections stay open, nothing comes back), like a
// database that hangs.
type freezingProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func startFreezingProxy(t *testing.T, target string) *freezingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fp := &freezingProxy{l: l, target: target}
	fp.cond = sync.NewCond(&fp.mu)
	go fp.serve()
	t.Cleanup(fp.close)
	return fp
}

func (fp *freezingProxy) addr() string { return fp.l.Addr().String() }

func (fp *freezingProxy) serve() {
	for {
		c, err := fp.l.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", fp.target)
		if err != nil {
			c.Close()
			continue
		}
		fp.mu.Lock()
		fp.conns = append(fp.conns, c, b)
		fp.mu.Unlock()
		go fp.pipe(b, c)
		go fp.pipe(c, b)
	}
}

func (fp *freezingProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !fp.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while frozen; false once closed.
func (fp *freezingProxy) pass() bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for fp.frozen && !fp.closed {
		fp.cond.Wait()
	}
	return !fp.closed
}

func (fp *freezingProxy) freeze(on bool) {
	fp.mu.Lock()
	fp.frozen = on
	fp.mu.Unlock()
	fp.cond.Broadcast()
}

func (fp *freezingProxy) close() {
	fp.mu.Lock()
	fp.closed = true
	for _, c := range fp.conns {
		c.Close()
	}
	fp.mu.Unlock()
	fp.cond.Broadcast()
	fp.l.Close()
}

// A PostgreSQL that accepts connections and never answers: endpoints that
// need the database answer 503 with Retry-After within the store deadline
// (OAuth endpoints with temporarily_unavailable); discovery, JWKS and
// client-credentials tokens go on from memory; all recover when the
// database answers again.
func TestDatabaseHangAnswers503(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_POSTGRES")
	if base == "" {
		t.Skip("TOLLGATE_TEST_POSTGRES is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	fp := startFreezingProxy(t, u.Host)
	e := newPostgresEnvVia(t, fp.addr(), func(o *identity.Options) { o.StoreTimeout = 300 * time.Millisecond })
	s := e.seedAuthCode()
	res, client, secret := e.seedClientCredentials()
	rt := e.signInTokens(t, s, "openid offline_access api://"+s.backend.AppID+"/Colors.Read")["refresh_token"].(string)
	keysBefore := len(e.jwks())

	fp.freeze(true)
	// The key cache is past its time: the store is asked, and does not
	// answer.
	e.clock.Advance(time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (int, http.Header, string) {
		resp, err := hc.Get(e.idp.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	for _, path := range []string{"/discovery/v2.0/keys", "/v2.0/.well-known/openid-configuration", "/discovery/v2.0/keys"} {
		st, _, body := get("/" + e.tenantID + path)
		if st != http.StatusOK {
			t.Fatalf("%s while the database hangs: %d %s", path, st, body)
		}
		if strings.HasSuffix(path, "keys") {
			var set struct{ Keys []any }
			if json.Unmarshal([]byte(body), &set); len(set.Keys) != keysBefore {
				t.Fatalf("JWKS while the database hangs: %s", body)
			}
		}
	}
	if st, out := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {res.AppID + "/.default"}}); st != http.StatusOK {
		t.Fatalf("client credentials from memory: %d %v", st, out)
	}

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.client.AppID}, "client_secret": {s.secret}}
	st, out, h := e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", form, "", "")
	if st != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" || h.Get("Retry-After") == "" {
		t.Fatalf("refresh while the database hangs: %d %v %v", st, out, h)
	}
	st, h, body := get("/" + e.tenantID + "/oauth2/v2.0/authorize?" + authParams(s.client.AppID, s.redirect, "openid", "").Encode())
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("authorize while the database hangs: %d %v %s", st, h, body)
	}

	fp.freeze(false)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, out, _ = e.postForm("/"+e.tenantID+"/oauth2/v2.0/token", form, "", "")
		if st == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st != http.StatusOK {
		t.Fatalf("refresh after the database answers again: %d %v", st, out)
	}
}

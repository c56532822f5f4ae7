package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/resource"
)

// rawBackend is a backend speaking HTTP/1.1 by hand, so tests can send
// what a well-behaved net/http server never would. answer is called for
// every request read from a connection, with the request and the
// connection's ordinal; it writes the raw response and reports whether
// the connection stays open.
type rawBackend struct {
	l     net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newRawBackend(t *testing.T, answer func(w io.Writer, r *http.Request, conn int) (keep bool)) *rawBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{l: l}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(b.conns.Add(1))
			b.mu.Lock()
			b.open = append(b.open, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					c.SetReadDeadline(time.Now().Add(hangGuard))
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(body))
					if !answer(c, r, n) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		b.mu.Lock()
		for _, c := range b.open {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *rawBackend) url() string { return "http://" + b.l.Addr().String() }

func TestDirectRetriesIdleConnectionTheBackendClosed(t *testing.T) {
	// The backend answers as if keeping the connection, then closes it:
	// the next request finds a dead pooled connection and must be sent
	// again on a new one, unseen by the client.
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
	for i := range 4 {
		if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if n := be.conns.Load(); n != 4 {
		t.Errorf("%d backend connections, want 4 (one per request)", n)
	}
}

func TestDirectChecksIdleConnectionBeforeNonIdempotentRequest(t *testing.T) {
	// A POST may not be sent twice, so it is never written to a pooled
	// connection the backend has already closed.
	var posts atomic.Int32
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		if r.Method == "POST" {
			posts.Add(1)
		}
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
	if resp, _ := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	time.Sleep(20 * time.Millisecond) // let the close arrive
	if resp, body := fx.do(t, "POST", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("POST after the backend closed the pooled connection: %d %s", resp.StatusCode, body)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the backend saw %d POSTs, want 1", n)
	}
}

func TestDirectDoesNotReplayNonIdempotentRequest(t *testing.T) {
	// The backend drops a POST that arrives on a reused connection without
	// answering: it may have acted on it, so the gateway answers 500
	// rather than send it again, unless the request carries an
	// idempotency key.
	var posts atomic.Int32
	var mu sync.Mutex
	served := map[int]int{} // requests per connection
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		mu.Lock()
		served[conn]++
		n := served[conn]
		mu.Unlock()
		if r.Method == "POST" {
			posts.Add(1)
			if n > 1 {
				return false
			}
		}
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
	if resp, _ := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	resp, body := fx.do(t, "POST", "/svc/x", nil, nil)
	if resp.StatusCode != 500 || !strings.Contains(string(body), "could not be reached") {
		t.Fatalf("dropped POST: %d %s, want 500", resp.StatusCode, body)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the backend saw %d POSTs, want 1 (not replayed)", n)
	}
	if resp, _ := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	if resp, body := fx.do(t, "POST", "/svc/x", http.Header{"Idempotency-Key": {"k1"}}, nil); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("POST with Idempotency-Key: %d %s, want it sent again and answered", resp.StatusCode, body)
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("the backend saw %d POSTs, want 3", n)
	}
}

func TestDirectConnectionCloseAndLeftoversAreNotReused(t *testing.T) {
	cases := map[string]string{
		"Connection: close":      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"bytes after the answer": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
		"HTTP/1.0":               "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
				io.WriteString(w, raw)
				// Keep the connection open: the gateway must not reuse it
				// all the same (a reused one would read "evil" or hang).
				return true
			})
			fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
			for i := range 3 {
				if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
					t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
				}
			}
			if n := be.conns.Load(); n != 3 {
				t.Errorf("%d backend connections for 3 requests, want 3", n)
			}
		})
	}
}

func TestDirectSkipsInformationalResponses(t *testing.T) {
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
	for range 2 {
		if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d backend connections, want 1", n)
	}
}

func TestDirectRefusesBadBackendAnswers(t *testing.T) {
	cases := map[string]string{
		"unasked 101":        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"headers over 1 MiB": "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\nContent-Length: 2\r\n\r\nok",
		"not HTTP":           "SSH-2.0-OpenSSH\r\n\r\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
				io.WriteString(w, raw)
				return false
			})
			fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
			resp, body := fx.do(t, "GET", "/svc/x", nil, nil)
			if resp.StatusCode != 500 || !strings.Contains(string(body), "could not be reached") {
				t.Fatalf("%d %s, want 500", resp.StatusCode, body)
			}
		})
	}
}

func TestDirectBodyCutByTimeoutClosesConnection(t *testing.T) {
	// The backend promises 10 bytes, sends 5, and stalls: the backend
	// timeout cuts the response, and the half-read connection is not
	// pooled (the next request gets a new one and a whole answer).
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		if conn == 1 {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
			time.Sleep(1500 * time.Millisecond)
			return false
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	rs := openAPI("svc", "svc", be.url())
	rs[0].(*resource.API).BackendTimeout = 1
	fx := newFixture(t, nil, rs...)
	// The client sees the response cut short (or no response at all when
	// the cut came before anything was flushed to it), never a whole one.
	req, _ := http.NewRequest("GET", fx.srv.URL+"/svc/x", nil)
	if resp, err := fx.srv.Client().Do(req); err == nil {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("cut response read whole: %q", body)
		}
	}
	if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}
	if n := be.conns.Load(); n != 2 {
		t.Errorf("%d backend connections, want 2", n)
	}
}

func TestDirectClientGoneReleasesBackend(t *testing.T) {
	// A client that leaves while the backend thinks: the backend call is
	// abandoned at once (its connection closed), not at the timeout.
	closed := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(closed)
		case <-time.After(hangGuard):
		}
	}))
	defer backend.Close()
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)
	c, err := net.Dial("tcp", fx.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /svc/x HTTP/1.1\r\nHost: gw\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend call outlived its client")
	}
}

func TestDirectChunkedResponseWithTrailers(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Checksum", "abc")
	}))
	defer backend.Close()
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)
	for range 2 {
		resp, body := fx.do(t, "GET", "/svc/x", nil, nil)
		if resp.StatusCode != 200 || string(body) != "part0;part1;part2;" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
			t.Errorf("trailer X-Checksum %q, want abc", got)
		}
	}
	resp, body := fx.do(t, "HEAD", "/svc/x", nil, nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
}

func TestDirectBodiesAreSentWholeAndReplayedWhole(t *testing.T) {
	// Small bodies are read whole and sent on the direct path; a request
	// with an idempotency key whose reused connection was dropped is sent
	// again with its whole body. Expect: 100-continue and large bodies
	// stream through net/http's Transport, with the same result.
	var mu sync.Mutex
	served := map[int]int{}
	var bodies []string
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		mu.Lock()
		served[conn]++
		n := served[conn]
		mu.Unlock()
		if r.Header.Get("X-Drop") != "" && n > 1 {
			return false // dropped on a reused connection, unanswered
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d", len(fmt.Sprint(len(b))), len(b))
		return true
	})
	fx := newFixture(t, nil, openAPI("svc", "svc", be.url())...)
	small := strings.Repeat("s", 1000)
	if resp, body := fx.do(t, "POST", "/svc/x", nil, strings.NewReader(small)); resp.StatusCode != 200 || string(body) != "1000" {
		t.Fatalf("small body: %d %s", resp.StatusCode, body)
	}
	h := http.Header{"Idempotency-Key": {"k"}, "X-Drop": {"1"}}
	if resp, body := fx.do(t, "POST", "/svc/x", h, strings.NewReader(small+"!")); resp.StatusCode != 200 || string(body) != "1001" {
		t.Fatalf("replayed body: %d %s", resp.StatusCode, body)
	}
	h = http.Header{"Expect": {"100-continue"}}
	if resp, body := fx.do(t, "PUT", "/svc/x", h, strings.NewReader(small)); resp.StatusCode != 200 || string(body) != "1000" {
		t.Fatalf("Expect: 100-continue: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 || bodies[1] != small+"!" {
		t.Errorf("backend got %d bodies (second %d bytes), want 3 with the second whole", len(bodies), len(bodies[min(1, len(bodies)-1)]))
	}
}

func TestDirectPooledConnectionOutlivesItsLastDeadline(t *testing.T) {
	// Each call sets its own deadline on the connection it takes: a
	// connection pooled past the previous call's backend timeout serves
	// the next call.
	be := newRawBackend(t, func(w io.Writer, r *http.Request, conn int) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	rs := openAPI("svc", "svc", be.url())
	rs[0].(*resource.API).BackendTimeout = 1
	fx := newFixture(t, nil, rs...)
	for i := range 2 {
		if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(1200 * time.Millisecond)
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d backend connections, want 1", n)
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// faultFixture serves an open API "svc" in front of backend, with a
// one-second backend timeout, either without policies or with a policy
// chain (the response then goes through the policy engine).
func faultFixture(t *testing.T, backend string, withPolicies bool) *fixture {
	t.Helper()
	outbound := ""
	if withPolicies {
		outbound = `<set-header name="X-Out" exists-action="override"><value>1</value></set-header>`
	}
	return faultFixtureOutbound(t, backend, withPolicies, outbound)
}

// faultFixtureOutbound is faultFixture with the given outbound policies.
func faultFixtureOutbound(t *testing.T, backend string, withPolicies bool, outbound string) *fixture {
	t.Helper()
	rs := openAPI("svc", "svc", backend)
	rs[0].(*resource.API).BackendTimeout = 1
	recs := Records(t, rs...)
	var compiler gateway.PolicyCompiler
	if withPolicies {
		compiler = policy.NewCompiler(policy.Options{})
		recs = append(recs, apiPolicy(t, "svc", `<policies><inbound><base/><set-header name="X-In" exists-action="override"><value>1</value></set-header></inbound>`+
			`<backend><forward-request/></backend><outbound><base/>`+outbound+`</outbound><on-error><base/></on-error></policies>`))
	}
	return newFixtureRecords(t, compiler, recs)
}

// apiPolicy is the record of API api's policy document.
func apiPolicy(t *testing.T, api, xml string) store.Record {
	t.Helper()
	p := &resource.Policy{Format: "rawxml", Value: xml}
	resource.SetMeta(p, "/apis/"+api+"/policies/policy")
	p.Normalize()
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{ID: p.ID, Kind: "apis/policies", Parent: "/apis/" + api, Body: body, ETag: "1"}
}

// fetch reads a response to the end (or its failure), bounded by hangGuard.
func fetch(t *testing.T, fx *fixture, path string) (status int, body string, readErr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fx.srv.URL+path, nil)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		// Cut off before the buffered headers went out: the caller sees the
		// connection fail.
		if ctx.Err() != nil {
			t.Fatalf("%s: no response after %v", path, hangGuard)
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if ctx.Err() != nil {
		t.Fatalf("%s: response still running after %v: the backend timeout did not cut it off", path, hangGuard)
	}
	return resp.StatusCode, string(b), err
}

// accessEntry returns the access-log entry of the (only) request.
func accessEntry(t *testing.T, fx *fixture) map[string]any {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		for _, l := range strings.Split(fx.log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log entry:\n%s", fx.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bothPipelines(t *testing.T, f func(t *testing.T, withPolicies bool)) {
	t.Run("no policies", func(t *testing.T) { f(t, false) })
	t.Run("policies", func(t *testing.T) { f(t, true) })
}

// A backend that trickles its body is cut off at the backend timeout, with
// a declared length and as an unbounded stream alike; the access log says
// Timeout.
func TestBackendTimeoutCoversBody(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "content-length"
		if stream {
			name = "event stream"
		}
		t.Run(name, func(t *testing.T) {
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
				} else {
					w.Header().Set("Content-Length", "1000")
				}
				w.WriteHeader(200)
				for i := 0; i < 1000; i++ {
					if _, err := io.WriteString(w, "x"); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}))
			defer backend.Close()
			bothPipelines(t, func(t *testing.T, withPolicies bool) {
				fx := faultFixture(t, backend.URL, withPolicies)
				status, body, err := fetch(t, fx, "/svc/slow")
				if (status != 200 && err == nil) || len(body) >= 1000 {
					t.Fatalf("status %d, %d bytes: the body was not cut off", status, len(body))
				}
				if !stream && err == nil {
					t.Errorf("a body cut short of its Content-Length read without error")
				}
				e := accessEntry(t, fx)
				if e["reason"] != "Timeout" {
					t.Errorf("access log: status %v reason %v, want reason Timeout", e["status"], e["reason"])
				}
			})
		})
	}
}

// A backend that closes the connection mid-response is logged as a backend
// failure, not as a plain 200.
func TestBackendClosesMidResponse(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n0123456789")
		buf.Flush()
		conn.Close()
	}))
	defer backend.Close()
	bothPipelines(t, func(t *testing.T, withPolicies bool) {
		fx := faultFixture(t, backend.URL, withPolicies)
		_, body, err := fetch(t, fx, "/svc/x")
		if err == nil || len(body) >= 100 {
			t.Errorf("caller got a complete-looking response (%d bytes, err %v)", len(body), err)
		}
		e := accessEntry(t, fx)
		if e["reason"] != "BackendConnectionFailure" {
			t.Errorf("access log: status %v reason %v, want reason BackendConnectionFailure", e["status"], e["reason"])
		}
	})
}

// When an outbound policy reads the body of a backend that fails
// mid-response or trickles past the timeout, nothing was sent yet: the
// caller gets the gateway's backend error, and the log its reason.
func TestBackendFailsWhilePolicyReadsBody(t *testing.T) {
	closing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		buf.Flush()
		conn.Close()
	}))
	defer closing.Close()
	trickling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		for i := 0; i < 1000; i++ {
			io.WriteString(w, "x")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	defer trickling.Close()
	const readBody = `<set-header name="X-Len" exists-action="override"><value>@(context.Response.Body.As<string>().Length.ToString())</value></set-header>`
	for _, tc := range []struct {
		name, backend, body, reason string
		status                      int
	}{
		{"closes", closing.URL, `{"statusCode": 500, "message": "Backend service could not be reached."}`, "BackendConnectionFailure", 500},
		{"trickles", trickling.URL, `{"statusCode": 504, "message": "Backend service did not respond in time."}`, "Timeout", 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := faultFixtureOutbound(t, tc.backend, true, readBody)
			status, body, err := fetch(t, fx, "/svc/x")
			if err != nil || status != tc.status || body != tc.body {
				t.Errorf("got %d %s (%v), want %d %s", status, body, err, tc.status, tc.body)
			}
			if e := accessEntry(t, fx); e["reason"] != tc.reason || e["status"] != float64(tc.status) {
				t.Errorf("access log: status %v reason %v", e["status"], e["reason"])
			}
		})
	}
}

// failingBody gives n bytes, then err: a client whose body stops arriving.
type failingBody struct {
	n   int
	err error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, b.err
	}
	k := min(len(p), b.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	b.n -= k
	return k, nil
}

// A request body that fails to arrive while it is forwarded is the
// caller's failure: 408 when it timed out (the listener's body deadline),
// 400 otherwise, the connection closed, never a backend error; on both
// forwarding paths (a small body read first, a large one streamed).
func TestClientBodyFails(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer backend.Close()
	for _, c := range []struct {
		name   string
		size   int64
		err    error
		status int
		msg    string
	}{
		{"small body times out", 1000, os.ErrDeadlineExceeded, 408, apicall.MsgClientBodyTimeout},
		{"large body times out", 200 << 10, os.ErrDeadlineExceeded, 408, apicall.MsgClientBodyTimeout},
		{"small body cut", 1000, io.ErrUnexpectedEOF, 400, apicall.MsgClientBodyFailed},
		{"large body cut", 200 << 10, io.ErrUnexpectedEOF, 400, apicall.MsgClientBodyFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			bothPipelines(t, func(t *testing.T, withPolicies bool) {
				fx := faultFixture(t, backend.URL, withPolicies)
				req := httptest.NewRequest("POST", "/svc/x", &failingBody{n: int(c.size / 2), err: c.err})
				req.ContentLength = c.size
				rec := httptest.NewRecorder()
				fx.gw.ServeHTTP(rec, req)
				if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.msg) {
					t.Fatalf("status %d %s, want %d %q", rec.Code, rec.Body, c.status, c.msg)
				}
				if rec.Header().Get("Connection") != "close" {
					t.Errorf("Connection %q, want close", rec.Header().Get("Connection"))
				}
				if e := accessEntry(t, fx); e["reason"] != apicall.ReasonClientConnectionFailure {
					t.Errorf("access log: status %v reason %v, want %s", e["status"], e["reason"], apicall.ReasonClientConnectionFailure)
				}
				if strings.Contains(fx.log.String(), "backend call failed") {
					t.Errorf("logged as a backend failure:\n%s", fx.log.String())
				}
			})
		})
	}
}

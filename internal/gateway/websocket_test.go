package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
)

// wsEcho is a WebSocket backend that echoes every message and remembers
// the X-In header of the last handshake (set by an inbound policy).
func wsEcho(t *testing.T) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var xin atomic.Value
	xin.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xin.Store(r.Header.Get("X-In"))
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &xin
}

// wsFixture serves API "svc" in front of backend with the given protocols
// and a one-second backend timeout; withPolicies adds an inbound chain that
// refuses a handshake without X-Team: blue and sets X-In.
func wsFixture(t *testing.T, backend string, protocols []string, withPolicies bool) *fixture {
	t.Helper()
	rs := openAPI("svc", "svc", backend)
	rs[0].(*resource.API).BackendTimeout = 1
	rs[0].(*resource.API).Protocols = protocols
	recs := Records(t, rs...)
	if withPolicies {
		recs = append(recs, apiPolicy(t, "svc", `<policies><inbound><base/>`+
			`<check-header name="X-Team" failed-check-httpcode="401" failed-check-error-message="no team" ignore-case="false"><value>blue</value></check-header>`+
			`<set-header name="X-In" exists-action="override"><value>1</value></set-header></inbound>`+
			`<backend><forward-request/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`))
		return newFixtureRecords(t, policy.NewCompiler(policy.Options{}), recs)
	}
	return newFixtureRecords(t, nil, recs)
}

// A WebSocket API passes the handshake to the backend after the inbound
// policies ran on it, then carries messages both ways for longer than the
// backend timeout (which bounds the handshake only).
func TestWebSocketAPI(t *testing.T) {
	backend, xin := wsEcho(t)
	bothPipelines(t, func(t *testing.T, withPolicies bool) {
		fx := wsFixture(t, backend.URL, []string{"wss", "ws"}, withPolicies)
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		url := "ws" + strings.TrimPrefix(fx.srv.URL, "http") + "/svc/chat"
		h := http.Header{"X-Team": {"blue"}}
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatalf("dial through the gateway: %v", err)
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("handshake answer %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
		if withPolicies && xin.Load() != "1" {
			t.Fatalf("the backend's handshake had X-In %q: inbound policies did not run on it", xin.Load())
		}
		for i, msg := range []string{"hello", strings.Repeat("x", 100<<10), "after the backend timeout"} {
			if i == 2 {
				time.Sleep(1500 * time.Millisecond)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageText || string(got) != msg {
				t.Fatalf("message %d: echoed %d bytes (%v), want %d", i, len(got), err, len(msg))
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("close: %v", err)
		}
		if e := accessEntry(t, fx); e["status"] != float64(http.StatusSwitchingProtocols) {
			t.Fatalf("access log status %v, want 101", e["status"])
		}

		if withPolicies {
			// The inbound policies can refuse the handshake.
			_, resp, err := websocket.Dial(ctx, url, nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("handshake without X-Team: %v, %v; want 401", resp, err)
			}
		}
	})
}

// An API without the ws/wss protocols does not pass an Upgrade on: the
// handshake reaches the backend as a plain GET, which refuses it.
func TestWebSocketNeedsWSProtocol(t *testing.T) {
	backend, _ := wsEcho(t)
	fx := wsFixture(t, backend.URL, []string{"https", "http"}, false)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(fx.srv.URL, "http")+"/svc/chat", nil)
	if err == nil {
		t.Fatal("a WebSocket handshake went through an http-only API")
	}
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("answer %v", resp)
	}
}

// The ws and wss protocols are accepted on an API; others are refused.
func TestAPIProtocols(t *testing.T) {
	a := &resource.API{Path: "x", Protocols: []string{"http", "https", "ws", "wss"}}
	a.Normalize()
	if errs := a.Validate(); len(errs) != 0 {
		t.Fatalf("ws/wss refused: %v", errs)
	}
	a.Protocols = []string{"ftp"}
	if errs := a.Validate(); len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "http, https, ws or wss") {
		t.Fatalf("ftp: %v", errs)
	}
}

package policy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// TestBackendFailuresAnswerAsWithoutPolicies: a backend that times out or
// cannot be reached gets the same status, body and content type whether
// the gateway runs policies (the default forward-request) or none.
func TestBackendFailuresAnswerAsWithoutPolicies(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	e := newEnv(t, nil)
	no := false
	records := func(backend string, withPolicies bool) []store.Record {
		out := append([]store.Record(nil), e.base...)
		out[0] = rec(t, "/apis/echo", "apis", &resource.API{Path: "echo", ServiceURL: backend, SubscriptionRequired: &no, BackendTimeout: 1})
		if withPolicies {
			// A document, so the call runs the pipeline (its default
			// forward-request) rather than the gateway's plain proxy.
			out = append(out, policyRecords(t, map[string]string{"/apis/echo/policies/policy": doc(`<base/><set-header name="X-P" exists-action="override"><value>1</value></set-header>`, "", "", "")})...)
		}
		return out
	}
	serve := func(withPolicies bool, backend string) (int, string, string) {
		src := &source{records: records(backend, withPolicies), version: 1}
		opts := gateway.Options{Source: src, Hasher: keyring.NewHasher([]byte("policy test")), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if withPolicies {
			opts.Policies = e.compiler
		}
		gw := gateway.New(opts)
		if err := gw.Sync(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/echo/x", nil))
		return w.Code, w.Body.String(), w.Header().Get("Content-Type")
	}
	for _, tc := range []struct {
		name, backend, message string
		status                 int
	}{
		{"timeout", slow.URL, apicall.MsgBackendTimeout, 504},
		{"unreachable", closedURL, apicall.MsgBackendFailure, 500},
	} {
		bareStatus, bareBody, bareType := serve(false, tc.backend)
		status, body, ctype := serve(true, tc.backend)
		if bareStatus != tc.status || status != tc.status || body != bareBody || ctype != bareType {
			t.Errorf("%s: without policies %d %q %q; with %d %q %q", tc.name, bareStatus, bareType, bareBody, status, ctype, body)
		}
		if _, msg := errorBody(t, body); msg != tc.message {
			t.Errorf("%s: message %q", tc.name, msg)
		}
	}
}

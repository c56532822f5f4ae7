package policy_test

import (
	"net/http"
	"testing"
)

// A header value computed from the request cannot smuggle a header (or a
// second request) to the backend: a value with CR or LF is never written,
// with or without a request body (the two ways the gateway writes a
// request).
func TestSetHeaderCannotInjectIntoBackendRequest(t *testing.T) {
	e := newEnv(t, apiDocs(doc(`<set-header name="X-Evil" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-In", "") + "\r\nX-Injected: 1")</value></set-header>`, "", "", "")))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := e.do(method, "/echo/x", http.Header{"X-In": {"a"}}, map[string]string{"GET": "", "POST": "body"}[method])
		if _, ok := r.echo.Header["X-Injected"]; ok {
			t.Fatalf("%s: the backend got an injected header: %v", method, r.echo.Header)
		}
		if r.status != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500 (the request could not be sent): %s", method, r.status, r.body)
		}
	}
	if n := e.calls.Load(); n != 0 {
		t.Errorf("the backend got %d requests, want 0", n)
	}
}

package credential_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/credential"
)

// FuzzConsentPages sends the consent pages links, states and codes that
// were never issued: each is refused with 400, never a 500 or a redirect.
func FuzzConsentPages(f *testing.F) {
	e := newEnv(f, sqliteStore(f))
	h := e.m.Handler()
	f.Add("tg1.a.b.c", "state", "code")
	f.Add("", "", "")
	f.Add(strings.Repeat("x", 5000), strings.Repeat("s", 200), "c")
	f.Fuzz(func(t *testing.T, link, state, code string) {
		for _, req := range []*http.Request{
			httptest.NewRequest("GET", credential.Prefix+"login?link="+url.QueryEscape(link), nil),
			httptest.NewRequest("POST", credential.Prefix+"login", strings.NewReader(url.Values{"link": {link}}.Encode())),
			httptest.NewRequest("GET", credential.Prefix+"callback?"+url.Values{"state": {state}, "code": {code}}.Encode(), nil),
		} {
			if req.Method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("%s %s: %d", req.Method, req.URL.Path, w.Code)
			}
		}
	})
}

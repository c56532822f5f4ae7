package gateway

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestURL: the access log's URL never holds the value of the API's
// subscription-key parameter nor of a parameter naming a credential.
func FuzzRequestURL(f *testing.F) {
	f.Add("subscription-key=abc123&color=red", "sekret-value")
	f.Add("a=1&access_token=xyz&sig=q", "sekret-value")
	f.Add("subscription-key=&subscription-key=zz%20z", "s3cr3t")
	f.Fuzz(func(t *testing.T, rawQuery, secret string) {
		if len(secret) < 6 || strings.ContainsAny(secret, "&=%+?#") || strings.ContainsAny(rawQuery, "#") || len(rawQuery) > 4096 {
			return
		}
		for _, name := range []string{"subscription-key", "access_token", "client_secret", "password"} {
			q := rawQuery + "&" + name + "=" + url.QueryEscape(secret)
			r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/x", RawQuery: q}}
			rec := Request{r: r, keyQuery: "subscription-key"}
			if strings.Contains(rec.URL(), url.QueryEscape(secret)) && !strings.Contains(rawQuery, url.QueryEscape(secret)) && !strings.Contains("/api/x", secret) {
				t.Fatalf("URL() = %q holds the %s value %q", rec.URL(), name, secret)
			}
		}
	})
}

// Sampling drops successful requests only: failures are always logged.
func TestAccessLogSampling(t *testing.T) {
	var buf strings.Builder
	a := &AccessLog{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Sample: 1e-12}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/x"}}
	for range 200 {
		a.ObserveRequest(Request{r: r, Status: 200})
	}
	a.ObserveRequest(Request{r: r, Status: 500})
	a.ObserveRequest(Request{r: r, Status: 429, Reason: "RateLimitExceeded"})
	a.ObserveRequest(Request{r: r, Status: 200, Reason: "ClientClosedRequest"})
	if n := strings.Count(buf.String(), `"msg":"request"`); n != 3 {
		t.Errorf("%d lines logged, want the 3 failures:\n%s", n, buf.String())
	}
	buf.Reset()
	a.Sample = 0 // every request
	for range 10 {
		a.ObserveRequest(Request{r: r, Status: 200})
	}
	if n := strings.Count(buf.String(), `"msg":"request"`); n != 10 {
		t.Errorf("%d lines logged without sampling, want 10", n)
	}
}

package policy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// The gateway benchmarks send real HTTP through a real gateway to a real
// backend, to compare a 5-policy chain with no policies and with a bare
// httputil.ReverseProxy in the same run.

const fivePolicyChain = `
	<check-header name="X-Api-Key" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false"><value>k1</value></check-header>
	<rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Request.IpAddress)"/>
	<set-header name="X-Caller" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Api-Key", "none"))</value></set-header>
	<set-query-parameter name="v" exists-action="override"><value>1</value></set-query-parameter>
	<set-variable name="start" value="@(context.Timestamp.ToString())"/>`

func benchHTTP(b *testing.B, target string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("X-Api-Key", "k1")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkGatewayFivePolicies(b *testing.B) {
	e := newEnv(b, map[string]string{"/apis/echo/policies/policy": doc("<base/>"+fivePolicyChain, "", "", "")})
	benchHTTP(b, e.srv.URL+"/echo/x")
}

func BenchmarkGatewayNoPolicies(b *testing.B) {
	e := newEnv(b, nil)
	benchHTTP(b, e.srv.URL+"/echo/x")
}

func BenchmarkBareReverseProxy(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(backendHandler))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	defer proxy.Close()
	benchHTTP(b, proxy.URL+"/echo/x")
}

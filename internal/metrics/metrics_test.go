package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

// Grant types are bounded: whatever a client sends beyond the supported
// ones counts as "other".
func TestGrantTypesBounded(t *testing.T) {
	m := New()
	m.ObserveGrant("client_credentials", nil)
	m.ObserveGrant("client_credentials", errors.New("bad secret"))
	for i := range 5 {
		m.ObserveGrant("urn:made-up:"+strings.Repeat("x", i), nil)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`tollgate_identity_token_requests_total{grant_type="client_credentials",result="issued"} 1`,
		`tollgate_identity_token_requests_total{grant_type="client_credentials",result="refused"} 1`,
		`tollgate_identity_token_requests_total{grant_type="other",result="issued"} 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if strings.Contains(text, "urn:made-up") {
		t.Error("a client-chosen grant type became a label value")
	}
}

// The credential manager's token requests are counted by provider and
// result.
func TestCredentialRefreshes(t *testing.T) {
	m := New()
	m.ObserveRefresh("github", nil)
	m.ObserveRefresh("github", nil)
	m.ObserveRefresh("github", errors.New("invalid_grant"))
	text := scrape(t, m)
	for _, want := range []string{
		`tollgate_credential_refreshes_total{provider="github",result="refreshed"} 2`,
		`tollgate_credential_refreshes_total{provider="github",result="failed"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q", want)
		}
	}
}

func TestJWTValidations(t *testing.T) {
	m := New()
	m.ObserveValidation(false, nil)
	m.ObserveValidation(true, nil)
	m.ObserveValidation(true, nil)
	m.ObserveValidation(false, errors.New("expired"))
	text := scrape(t, m)
	for _, want := range []string{
		`tollgate_jwt_validations_total{result="cached"} 2`,
		`tollgate_jwt_validations_total{result="valid"} 1`,
		`tollgate_jwt_validations_total{result="invalid"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q", want)
		}
	}
}

// BenchmarkObserveRequest is what metrics add to one gateway request.
func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	q := &gateway.Request{
		API: "/apis/echo-api", Operation: "/apis/echo-api/operations/retrieve-resource", Product: "/products/starter",
		Status: 200, Duration: 900 * time.Microsecond, BackendTime: 400 * time.Microsecond,
	}
	b.ReportAllocs()
	start := cpuTime()
	n := 0
	for b.Loop() {
		m.ObserveRequest(*q)
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time: on a shared machine, CPU
// per operation is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

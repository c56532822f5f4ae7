package policy_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// testClock is a settable clock for the limiter.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func clockedEnv(t *testing.T, at time.Time) (*env, *testClock) {
	clk := &testClock{t: at}
	lim := ratelimit.NewLocal(ratelimit.LocalOptions{Clock: clk.now})
	t.Cleanup(func() { _ = lim.Close() })
	return newEnvWith(t, lim, nil), clk
}

// TestQuotaExceededHeaders: the quota 403 says when the quota renews in
// Retry-After (or the policy's retry-after-header-name), like the 429.
func TestQuotaExceededHeaders(t *testing.T) {
	e, _ := clockedEnv(t, time.Date(2026, 1, 1, 0, 59, 0, 0, time.UTC))
	for _, tc := range []struct{ policy, header string }{
		{`<quota-by-key calls="1" renewal-period="3600" counter-key="a"/>`, "Retry-After"},
		{`<quota-by-key calls="1" renewal-period="3600" counter-key="b" retry-after-header-name="X-Retry" remaining-calls-header-name="X-Left" total-calls-header-name="X-Total"/>`, "X-Retry"},
		{`<quota calls="1" renewal-period="3600"/>`, "Retry-After"},
	} {
		mustReload(t, apiDoc(e, tc.policy, "", "", ""))
		e.get("/echo/x")
		r := e.get("/echo/x")
		_, msg := errorBody(t, r.body)
		if r.status != 403 || r.header.Get(tc.header) != "60" || msg != "Out of call volume quota. Quota will be replenished in 00:01:00." {
			t.Errorf("%s: %d %v %s", tc.policy, r.status, r.header, r.body)
		}
		if tc.header == "X-Retry" && (r.header.Get("X-Left") != "0" || r.header.Get("X-Total") != "1" || r.header.Get("Retry-After") != "") {
			t.Errorf("named headers: %v", r.header)
		}
	}
}

// TestQuotaPeriodsStartAtSubscriptionCreation: a per-subscription quota's
// periods run from the subscription's createdDate; quota-by-key's from the
// epoch (or first-period-start).
func TestQuotaPeriodsStartAtSubscriptionCreation(t *testing.T) {
	e, _ := clockedEnv(t, time.Date(2026, 1, 1, 1, 10, 0, 0, time.UTC))
	mustReload(t, e.reload(map[string]string{
		"/apis/echo/policies/policy":                     doc(`<quota calls="1" renewal-period="3600"/>`, "", "", ""),
		"/apis/echo/operations/post/policies/policy":     doc(`<quota-by-key calls="1" renewal-period="3600" counter-key="k"/>`, "", "", ""),
		"/apis/echo/operations/get-item/policies/policy": doc(`<quota-by-key calls="1" renewal-period="3600" counter-key="k2" first-period-start="2026-01-01T00:45:00Z"/>`, "", "", ""),
	}))
	set, err := e.compiler.CompileSet(t.Context(), e.src.records)
	if err != nil {
		t.Fatal(err)
	}
	call := func(op string) *httptest.ResponseRecorder {
		c := newCall(t, e)
		c.Subscription = &gateway.SubscriptionInfo{ID: "/subscriptions/s1", CreatedDate: "2026-01-01T00:30:00.000Z"}
		w := httptest.NewRecorder()
		set.Pipeline("/apis/echo", "/apis/echo/operations/"+op, "").Serve(w, httptest.NewRequest(http.MethodGet, "/echo/x", nil), c, forwarderTo(e))
		return w
	}
	for _, tc := range []struct {
		op   string
		want int // seconds to the end of the period at 01:10
	}{
		{"any", 20 * 60},      // created 00:30: the period ends 01:30
		{"post", 50 * 60},     // epoch: 02:00
		{"get-item", 35 * 60}, // first-period-start 00:45: 01:45
	} {
		if w := call(tc.op); w.Code != 200 {
			t.Fatalf("%s: first call %d %s", tc.op, w.Code, w.Body)
		}
		w := call(tc.op)
		if w.Code != 403 || w.Header().Get("Retry-After") != strconv.Itoa(tc.want) {
			t.Errorf("%s: %d Retry-After %q, want %d", tc.op, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
}

// TestRetryAfterWithinWindow: after a burst at the start of a window the
// sliding estimate refuses for longer than the window; Retry-After says at
// most the window.
func TestRetryAfterWithinWindow(t *testing.T) {
	e, _ := clockedEnv(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mustReload(t, apiDoc(e, `<rate-limit-by-key calls="5" renewal-period="60" counter-key="k"/>`, "", "", ""))
	for range 5 {
		if r := e.get("/echo/x"); r.status != 200 {
			t.Fatalf("%d", r.status)
		}
	}
	r := e.get("/echo/x")
	if r.status != 429 || r.header.Get("Retry-After") != "60" {
		t.Errorf("%d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}

// TestNestedLimitsReportTightest: with api and operation limits inside
// rate-limit, the headers report the limit with the fewest calls left, and
// a refused call is not counted by the others.
func TestNestedLimitsReportTightest(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<rate-limit calls="100" renewal-period="60" remaining-calls-header-name="X-Left" total-calls-header-name="X-Total"><api name="echo" calls="50" renewal-period="60"><operation name="get-item" calls="2" renewal-period="60"/></api></rate-limit>`, "", "", ""))
	for i, want := range []string{"1", "0"} {
		r := e.get("/echo/items/1")
		if r.status != 200 || r.header.Get("X-Left") != want || r.header.Get("X-Total") != "2" {
			t.Fatalf("call %d: %d %v", i, r.status, r.header)
		}
	}
	if r := e.get("/echo/items/1"); r.status != 429 || r.header.Get("X-Left") != "0" || r.header.Get("X-Total") != "2" {
		t.Errorf("refused: %d %v", r.status, r.header)
	}
	// Another operation: the api limit (50) is tighter than the global
	// (100); the refused call was refunded, so 2 calls were counted.
	if r := e.get("/echo/other"); r.status != 200 || r.header.Get("X-Left") != "47" || r.header.Get("X-Total") != "50" {
		t.Errorf("api limit: %d %v", r.status, r.header)
	}
}

package management_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

// Backends through the management API: credential values are sealed in the
// store, hidden from GET, kept by a PUT without them; bad fields are 400.
func TestBackendsResource(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		a := newAPI(t, st)
		got := a.must(201, "PUT", "/backends/b1", m{"url": "https://api.example.test/v1", "credentials": m{
			"header": m{"x-api-key": []string{"s3cret-header"}}, "authorization": m{"scheme": "Bearer", "parameter": "s3cret-token"}},
			"circuitBreaker": m{"rules": []m{{"failureCondition": m{"count": 3, "interval": "PT1M", "statusCodeRanges": []m{{"min": 500, "max": 599}}}, "tripDuration": "PT30S"}}}})
		body := string(a.do("GET", "/backends/b1", nil).body)
		if strings.Contains(body, "s3cret") || strings.Contains(body, "credentialValues") || got["protocol"] != "http" {
			t.Fatalf("GET shows credential values or misses defaults: %s", body)
		}
		rec, err := st.Get(context.Background(), "/backends/b1")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(rec.Body, []byte("s3cret")) {
			t.Fatalf("credentials stored in the clear: %s", rec.Body)
		}
		// A PUT without values keeps the sealed ones.
		a.must(200, "PUT", "/backends/b1", m{"url": "https://api.example.test/v2", "credentials": m{"header": m{"x-api-key": []string{}}}})
		rec2, _ := st.Get(context.Background(), "/backends/b1")
		if !bytes.Contains(rec2.Body, []byte(`"credentialValues":"`)) {
			t.Fatalf("replace lost the credential values: %s", rec2.Body)
		}
		for _, bad := range []m{
			{"url": "not a url"},
			{"type": "Pool"},
			{"url": "http://x", "circuitBreaker": m{"rules": []m{{"failureCondition": m{"count": 1, "interval": "forever", "statusCodeRanges": []m{{"min": 500, "max": 599}}}, "tripDuration": "PT1M"}}}},
		} {
			if r := a.do("PUT", "/backends/bad", bad); r.status != 400 {
				t.Errorf("%v: %d %s", bad, r.status, r.body)
			}
		}
		a.must(201, "PUT", "/backends/pool", m{"type": "Pool", "pool": m{"services": []m{{"id": "b1", "priority": 1, "weight": 2}}}})
	})
}

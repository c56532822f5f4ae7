package management

import (
	"testing"

	"github.com/tollgate/tollgate/internal/resource"
)

// FuzzFilter: any $filter either parses or is refused; matching never
// panics.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"name eq 'x'", "contains(displayName,'a') and not (state ne 'published')",
		"properties/subscriptionsLimit ge 3 or x/y eq null", "((((", "name eq 'it''s'", "startswith(a,'b'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			return
		}
		e.match(map[string]any{"name": "x", "displayName": "A", "state": "published", "subscriptionsLimit": 3.0, "x": map[string]any{"y": nil}})
	})
}

// FuzzDecode: any request body decodes into a resource or is refused with
// field errors; it never panics, and never both succeeds and errs silently.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"path":"x","displayName":"y","subscriptionRequired":true}`, `{"protocols":["http",1]}`,
		`{"subscriptionKeyParameterNames":{"header":3}}`, `[]`, `{"a":`, `null`, `{"id":"/apis/x","name":"x"}`,
		`{"path":"a","path":"b"}`, `{"a":{"b":[{"c":1,"c":2}]}}`, "{\"displayName\":\"\\u0000\"}", "{\"path\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, k := range resource.CoreKinds() {
			r := k.New()
			_, errs := decodeInto(r, body, k.Hidden)
			if len(errs) == 0 {
				r.Normalize()
				r.Validate()
			}
		}
	})
}

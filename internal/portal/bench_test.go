package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// The scale of issue 12's pages: 1,000 products, 10,000 APIs (two
// operations each, ten APIs per product), 100,000 subscriptions (100 for
// each of 1,000 developers, alice among them).
const (
	benchProducts = 1_000
	benchAPIs     = 10_000
	benchSubs     = 100_000
)

func benchStore(b *testing.B) (*env, *browser) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := newEnv(b, st, nil)
	e.seed()
	rec := func(id, kind, parent string, v any) store.Record {
		body, _ := json.Marshal(v)
		return store.Record{ID: id, Kind: kind, Parent: parent, Body: body}
	}
	var recs []store.Record
	for i := range benchProducts {
		recs = append(recs, rec(fmt.Sprintf("/products/p%04d", i), "products", "", map[string]any{
			"displayName": fmt.Sprintf("Product %04d", i), "description": "A product of the benchmark.", "state": "published",
			"subscriptionRequired": true, "approvalRequired": false}))
	}
	for i := range benchAPIs {
		api := fmt.Sprintf("/apis/a%05d", i)
		recs = append(recs, rec(api, "apis", "", map[string]any{"displayName": fmt.Sprintf("API %05d", i), "path": fmt.Sprintf("a%05d", i),
			"serviceUrl": "tollgate:echo", "subscriptionRequired": true}))
		recs = append(recs, rec(api+"/operations/list", "apis/operations", api, map[string]any{"displayName": "List", "method": "GET", "urlTemplate": "/items"}))
		recs = append(recs, rec(api+"/operations/get", "apis/operations", api, map[string]any{"displayName": "Get", "method": "GET", "urlTemplate": "/items/{id}"}))
		prod := fmt.Sprintf("/products/p%04d", i%benchProducts)
		recs = append(recs, rec(prod+fmt.Sprintf("/apis/a%05d", i), "products/apis", prod, map[string]any{}))
	}
	for i := range benchSubs {
		owner := fmt.Sprintf("/users/u%04d", i%1000)
		if i%1000 == 0 {
			owner = "/users/alice"
		}
		recs = append(recs, rec(fmt.Sprintf("/subscriptions/s%06d", i), "subscriptions", "", map[string]any{
			"displayName": fmt.Sprintf("Subscription %d", i), "scope": fmt.Sprintf("/products/p%04d", i%benchProducts), "ownerId": owner,
			"state": "active", "createdDate": fmt.Sprintf("2026-01-01T00:00:%02d.000Z", i%60)}))
	}
	for lo := 0; lo < len(recs); lo += 20_000 {
		batch := recs[lo:min(lo+20_000, len(recs))]
		if _, err := e.store.Update(ctx, func(tx store.Tx) error {
			for _, r := range batch {
				if _, err := tx.Put(ctx, r, ""); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	br := e.browser()
	br.signIn("alice@example.com")
	return e, br
}

// BenchmarkPages measures each page's server time (the handler, without
// the network) at the scale above.
func BenchmarkPages(b *testing.B) {
	e, br := benchStore(b)
	u, _ := url.Parse(e.url)
	cookies := br.c.Jar.Cookies(u)
	pages := []struct{ name, path string }{
		{"home", "/"},
		{"products", "/products?page=25"},
		{"products-search", "/products?q=0999"},
		{"product", "/products/p0500"},
		{"apis", "/apis?page=250"},
		{"apis-search", "/apis?q=09999"},
		{"api", "/apis/a05000"},
		{"operation", "/apis/a05000/operations/get"},
		{"subscriptions", "/subscriptions?page=3"},
		{"applications", "/applications"},
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) {
			do := func() int {
				req := httptest.NewRequest(http.MethodGet, e.url+pg.path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				w := httptest.NewRecorder()
				e.portal.ServeHTTP(w, req)
				return w.Code
			}
			if code := do(); code != http.StatusOK {
				b.Fatalf("%s: %d", pg.path, code)
			}
			b.ResetTimer()
			for b.Loop() {
				do()
			}
		})
	}
}

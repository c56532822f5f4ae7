package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// The application scale: 10,000 client applications with 10 product links
// each (100,000 links) over 100 OAuth products, 1,000 owners.
const (
	benchApps         = 10000
	benchLinksPerApp  = 10
	benchAppProducts  = 100
	benchAppOwners    = 1000
	benchAppTokensMax = 1000
)

func appBenchRecords(tb testing.TB) []store.Record {
	rs := []resource.Resource{API("orders", "orders", resource.EchoServiceURL), Op("orders", "get", "GET", "/*")}
	for p := range benchAppProducts {
		name := fmt.Sprintf("product%d", p)
		rs = append(rs, oauthProduct(name, false), Link(name, "orders"))
	}
	for u := range benchAppOwners {
		rs = append(rs, User(fmt.Sprintf("user%d", u), "active"))
	}
	recs := Records(tb, rs...)
	for a := range benchApps {
		name := fmt.Sprintf("app%d", a)
		recs = append(recs, clientAppRecord(tb, name, fmt.Sprintf("/users/user%d", a%benchAppOwners), "active"))
		for l := range benchLinksPerApp {
			p := fmt.Sprintf("product%d", (a+l*7)%benchAppProducts)
			recs = append(recs, productLinkRecord(name, p, p))
		}
	}
	return recs
}

// appChanges is a ChangeSource at the application scale.
type appChanges struct {
	tb      testing.TB
	mu      sync.Mutex
	version int64
	changes []store.Record
	deleted []string
}

func (c *appChanges) All(context.Context) ([]store.Record, int64, error) {
	return appBenchRecords(c.tb), 1, nil
}

func (c *appChanges) Since(_ context.Context, v int64) ([]store.Record, []string, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, del := c.changes, c.deleted
	c.changes, c.deleted = nil, nil
	return ch, del, c.version, nil
}

// BenchmarkApplicationAuthorization: the application check of a request
// with a cached, valid token at 10,000 applications and 100,000 links.
// "validate" is the verified-token cache lookup alone (what validate-jwt
// costs on a cached token); "authorize" is that plus the application
// check: the difference is what the check costs.
func BenchmarkApplicationAuthorization(b *testing.B) {
	k := newAppKeys(b)
	gw := gateway.New(gateway.Options{Source: &appChanges{tb: b, version: 1}, Hasher: testHasher, AppTokens: k.v, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, benchAppTokensMax)
	for i := range tokens {
		a := i * (benchApps / benchAppTokensMax)
		p := fmt.Sprintf("product%d", a%benchAppProducts)
		tokens[i] = k.appToken(b, p+"-aud", fmt.Sprintf("app%d-client", a), resource.ProductRole(p))
	}
	r := httptest.NewRequest("GET", "/orders/x", nil)
	for _, tok := range tokens {
		if reason := gw.AuthorizeApp(r, "/apis/orders", tok); reason != "" {
			b.Fatalf("token refused: %s", reason)
		}
	}
	runtime.GC()
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := k.v.Validate(r.Context(), tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("authorize", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if reason := gw.AuthorizeApp(r, "/apis/orders", tokens[i%len(tokens)]); reason != "" {
				b.Fatal(reason)
			}
		}
	})
}

// BenchmarkApplicationLinkChange: one product link added or removed, then
// a Sync, at 10,000 applications and 100,000 links.
func BenchmarkApplicationLinkChange(b *testing.B) {
	src := &appChanges{tb: b, version: 1}
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		src.mu.Lock()
		src.version++
		rec := productLinkRecord("app5", "extra", "product99")
		if i%2 == 0 {
			rec.Version = src.version
			src.changes = []store.Record{rec}
		} else {
			src.deleted = []string{rec.ID}
		}
		v := src.version
		src.mu.Unlock()
		if err := gw.Sync(context.Background(), v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/sync")
}

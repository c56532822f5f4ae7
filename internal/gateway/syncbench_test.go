package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// changeLog is a ChangeSource at the large scale: All makes the whole
// configuration anew (as a database read does, holding nothing between
// reads), Since answers the changes written after the initial version.
type changeLog struct {
	tb      testing.TB
	mu      sync.Mutex
	version int64
	changes []store.Record // written after version 1, oldest first
	alls    int
}

func (c *changeLog) All(ctx context.Context) ([]store.Record, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alls++
	if c.version > 1 {
		return nil, 0, fmt.Errorf("changeLog can only read everything at version 1")
	}
	return benchRecords(c.tb), 1, nil
}

func (c *changeLog) Since(ctx context.Context, v int64) ([]store.Record, []string, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []store.Record
	keep := c.changes[:0]
	for _, r := range c.changes {
		if r.Version > v {
			out = append(out, r)
			keep = append(keep, r) // the gateway never asks for older ones again
		}
	}
	c.changes = keep
	return out, nil, c.version, nil
}

func (c *changeLog) write(r store.Record) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	r.Version = c.version
	r.ETag = fmt.Sprint(c.version)
	c.changes = append(c.changes, r)
	return c.version
}

// BenchmarkSyncOneChange: at the large scale (10,000 APIs of 10
// operations, 100 products, 1,000 users, 100,000 subscriptions), one
// record replaced, then a Sync: what a management write costs the
// gateway. cpu-ns/op is the rebuild's CPU time, B/op what it allocates;
// rebuild-peak-rss-MB is the process's peak RSS over the rebuilds of one
// kind (the snapshot and the garbage the collector has not yet returned
// included: run it with GOMEMLIMIT to see a limit hold), live-heap-MB the
// heap in use after them (the snapshot and the decoded configuration).
func BenchmarkSyncOneChange(b *testing.B) {
	src := &changeLog{tb: b, version: 1}
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name   string
		record func(i int) resource.Resource
	}{
		{"subscription", func(i int) resource.Resource {
			s := i * 7 % benchSubs
			return Sub(fmt.Sprintf("sub%d", s), fmt.Sprintf("/products/product%d", s%benchProducts), "active",
				fmt.Sprintf("/users/user%d", s%benchUsers), fmt.Sprintf("new-key-%08d-%08d", s, i), "")
		}},
		{"operation", func(i int) resource.Resource {
			return Op(fmt.Sprintf("api%d", i*13%benchAPIs), "op2", "GET", fmt.Sprintf("/items/{id}/v%d", i))
		}},
		{"api", func(i int) resource.Resource {
			a := i * 13 % benchAPIs
			api := API(fmt.Sprintf("api%d", a), benchAPIPath(a), resource.EchoServiceURL)
			api.DisplayName = fmt.Sprint("API ", i)
			return api
		}},
		{"user", func(i int) resource.Resource {
			u := User(fmt.Sprintf("user%d", i%benchUsers), "active")
			u.FirstName = fmt.Sprint(i)
			return u
		}},
		{"product", func(i int) resource.Resource {
			p := Product(fmt.Sprintf("product%d", i%benchProducts), true)
			p.DisplayName = fmt.Sprint("Product ", i)
			return p
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			debug.FreeOSMemory()
			resetPeakRSS()
			b.ReportAllocs()
			cpu := startCPU()
			i := 0
			for b.Loop() {
				b.StopTimer()
				rec := Record(b, k.record(i))
				b.StartTimer()
				v := src.write(rec)
				if err := gw.Sync(context.Background(), v); err != nil {
					b.Fatal(err)
				}
				i++
			}
			cpu.report(b, i)
			if rss := procStatus("VmHWM"); rss > 0 {
				b.ReportMetric(float64(rss)/1024, "rebuild-peak-rss-MB")
			}
			b.ReportMetric(float64(liveHeap())/(1<<20), "live-heap-MB")
		})
	}
	if src.alls != 1 {
		b.Fatalf("the gateway read everything %d times, want once", src.alls)
	}
	runtime.KeepAlive(gw)
}

package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// changeList is a ChangeSource over a list of versioned changes.
type changeList struct {
	version int64
	changed []store.Record
	deleted map[string]int64
}

func (c *changeList) All(ctx context.Context) ([]store.Record, int64, error) {
	var out []store.Record
	for _, r := range c.changed {
		if _, gone := c.deleted[r.ID]; !gone {
			out = append(out, r)
		}
	}
	return out, c.version, nil
}

func (c *changeList) Since(ctx context.Context, v int64) ([]store.Record, []string, int64, error) {
	var ch []store.Record
	var del []string
	for _, r := range c.changed {
		if _, gone := c.deleted[r.ID]; !gone && r.Version > v {
			ch = append(ch, r)
		}
	}
	for id, dv := range c.deleted {
		if dv > v {
			del = append(del, id)
		}
	}
	return ch, del, c.version, nil
}

func (c *changeList) put(t *testing.T, kind, id string, r any) int64 {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c.version++
	delete(c.deleted, id)
	for i := range c.changed {
		if c.changed[i].ID == id {
			c.changed = append(c.changed[:i], c.changed[i+1:]...)
			break
		}
	}
	c.changed = append(c.changed, store.Record{ID: id, Kind: kind, Body: b, Version: c.version})
	return c.version
}

// TestRebuildReusesUnaffectedStructures: a change rebuilds what depends on
// it and shares the rest with the previous snapshot.
func TestRebuildReusesUnaffectedStructures(t *testing.T) {
	h := keyring.NewHasher([]byte("k"))
	keyHex := func(k string) string { s := h.Sum(k); return hex.EncodeToString(s[:]) }
	src := &changeList{deleted: map[string]int64{}}
	src.put(t, "apis", "/apis/a", &resource.API{Path: "a"})
	src.put(t, "apis", "/apis/b", &resource.API{Path: "b"})
	src.put(t, "apis/operations", "/apis/a/operations/x", &resource.Operation{Method: "GET", URLTemplate: "/x"})
	src.put(t, "apis/operations", "/apis/b/operations/x", &resource.Operation{Method: "GET", URLTemplate: "/x"})
	src.put(t, "users", "/users/u", &resource.User{State: "active"})
	v := src.put(t, "subscriptions", "/subscriptions/s", &resource.Subscription{Scope: "/apis", State: "active", OwnerID: "/users/u", PrimaryKeyHash: keyHex("key-0000000000000001")})
	g := New(Options{Source: src, Hasher: h, Logger: slog.New(slog.DiscardHandler)})
	sync := func(v int64) *snapshot {
		t.Helper()
		if err := g.Sync(t.Context(), v); err != nil {
			t.Fatal(err)
		}
		return g.snap.Load()
	}
	s1 := sync(v)

	// A subscription change: the APIs are untouched.
	s2 := sync(src.put(t, "subscriptions", "/subscriptions/t", &resource.Subscription{Scope: "/apis", State: "active", PrimaryKeyHash: keyHex("key-0000000000000002")}))
	if s2.apiRoot != s1.apiRoot || s2.apis["/apis/a"] != s1.apis["/apis/a"] {
		t.Error("a subscription change rebuilt the API trie or entries")
	}
	if s2.subs == s1.subs {
		t.Error("a subscription change kept the old key index")
	}
	// An operation of API b changes: API a's entry and the key index stay.
	s3 := sync(src.put(t, "apis/operations", "/apis/b/operations/x", &resource.Operation{Method: "GET", URLTemplate: "/y"}))
	if s3.apis["/apis/a"] != s2.apis["/apis/a"] {
		t.Error("an operation change of API b rebuilt API a's entry")
	}
	if s3.apis["/apis/b"] == s2.apis["/apis/b"] {
		t.Error("an operation change of API b kept b's entry")
	}
	if s3.subs != s2.subs {
		t.Error("an operation change rebuilt the key index")
	}
	// The old snapshot is unchanged: b still has its old operation there.
	var m match
	if op, _ := s2.apis["/apis/b"].ops.matchOperation("/x", "GET", &m.caps); op == nil {
		t.Error("the snapshot served before the change lost GET /x")
	}
	if op, _ := s3.apis["/apis/b"].ops.matchOperation("/y", "GET", &m.caps); op == nil {
		t.Error("the new snapshot lacks GET /y")
	}
	if src.version != g.Version() {
		t.Fatalf("served version %d, want %d", g.Version(), src.version)
	}
}

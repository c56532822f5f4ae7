// Package storetest is the conformance suite every store.Store backend
// passes. A backend's test calls Run with a function that opens a fresh,
// empty database.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// Open returns a fresh, empty store a and, when the backend allows it, b: a
// second handle on the same database, as another node would have (nil
// otherwise; the tests that need it are skipped). It registers their Close
// with t.Cleanup.
type Open func(t *testing.T) (a, b store.Store)

// Run runs every conformance test against the backend.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"Empty", testEmpty},
		{"PutGet", testPutGet},
		{"UpdateBumpsVersionOnce", testUpdateBumpsOnce},
		{"UpdateWithoutWritesKeepsVersion", testUpdateWithoutWrites},
		{"UpdateErrorRollsBack", testUpdateErrorRollsBack},
		{"UpdateCanceledContext", testUpdateCanceled},
		{"TxSeesOwnWritesOthersDoNot", testTxIsolation},
		{"ETagPreconditions", testETagPreconditions},
		{"List", testList},
		{"Delete", testDelete},
		{"DeleteTree", testDeleteTree},
		{"All", testAll},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentReadModifyWrite", testConcurrentReadModifyWrite},
		{"Changes", testChanges},
		{"ChangesFromOtherNode", testChangesFromOtherNode},
		{"OtherNodeSharesData", testOtherNodeSharesData},
		{"StateGetPutDelete", testStateGetPutDelete},
		{"StateExpiry", testStateExpiry},
		{"StateCreate", testStateCreate},
		{"StateCompareAndSwap", testStateCompareAndSwap},
		{"StateTake", testStateTake},
		{"StateTakeConcurrent", testStateTakeConcurrent},
		{"StateList", testStateList},
		{"StateSweep", testStateSweep},
		{"Ping", testPing},
		{"DeadlineMeansUnavailable", testDeadlineUnavailable},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

// waitLimit bounds every wait for something asynchronous; reaching it is a
// failure, not a measurement.
const waitLimit = 15 * time.Second

func rec(id, kind, parent, body string) store.Record {
	return store.Record{ID: id, Kind: kind, Parent: parent, Body: []byte(body)}
}

// put writes one record in its own Update and returns it and the version.
func put(t *testing.T, s store.Store, r store.Record) (store.Record, int64) {
	t.Helper()
	var out store.Record
	v, err := s.Update(t.Context(), func(tx store.Tx) error {
		var err error
		out, err = tx.Put(t.Context(), r, "")
		return err
	})
	if err != nil {
		t.Fatalf("put %s: %v", r.ID, err)
	}
	return out, v
}

func update(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) int64 {
	t.Helper()
	v, err := s.Update(t.Context(), func(tx store.Tx) error { return fn(t.Context(), tx) })
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return v
}

func version(t *testing.T, s store.Store) int64 {
	t.Helper()
	v, err := s.Version(t.Context())
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	return v
}

func get(t *testing.T, s store.Store, id string) store.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func sameRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if got.ID != want.ID || got.Kind != want.Kind || got.Parent != want.Parent ||
		!bytes.Equal(got.Body, want.Body) || got.ETag != want.ETag || got.Version != want.Version ||
		!got.Updated.Equal(want.Updated) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, show(got), show(want))
	}
}

func show(r store.Record) string {
	return fmt.Sprintf("{ID:%s Kind:%s Parent:%s Body:%s ETag:%s Version:%d Updated:%s}",
		r.ID, r.Kind, r.Parent, r.Body, r.ETag, r.Version, r.Updated.Format(time.RFC3339Nano))
}

func ids(recs []store.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, " ")
}

func keys(recs []store.StateRecord) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Key)
	}
	return strings.Join(s, " ")
}

func testEmpty(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	if v := version(t, a); v != 0 {
		t.Errorf("fresh store version %d, want 0", v)
	}
	recs, v, err := a.All(ctx)
	if err != nil || len(recs) != 0 || v != 0 {
		t.Errorf("All on fresh store: %d records, version %d, err %v", len(recs), v, err)
	}
	_, err = a.Get(ctx, "/apis/none")
	wantErr(t, "Get absent", err, store.ErrNotFound)
	if recs, err := a.List(ctx, "apis", ""); err != nil || len(recs) != 0 {
		t.Errorf("List on fresh store: %v, %v", ids(recs), err)
	}
	_, err = a.State().Get(ctx, "none")
	wantErr(t, "State Get absent", err, store.ErrNotFound)
}

func testPutGet(t *testing.T, a, _ store.Store) {
	before := time.Now().Add(-time.Second)
	got, v := put(t, a, rec("/apis/echo", "apis", "", `{"path":"echo"}`))
	after := time.Now().Add(time.Second)
	if v != 1 || got.Version != 1 {
		t.Fatalf("first write: Update returned %d, record version %d; want 1, 1", v, got.Version)
	}
	if got.ETag == "" || strings.ContainsAny(got.ETag, "\"\\") {
		t.Fatalf("ETag %q: want non-empty, without quotes or backslashes", got.ETag)
	}
	if got.Updated.Before(before) || got.Updated.After(after) {
		t.Fatalf("Updated %v is not the time of the write", got.Updated)
	}
	sameRecord(t, "Get after Put", get(t, a, "/apis/echo"), got)
	if v := version(t, a); v != 1 {
		t.Fatalf("Version after one write = %d, want 1", v)
	}

	// Replacing (unconditional Put) gives a new ETag and version.
	got2, v2 := put(t, a, rec("/apis/echo", "apis", "", `{"path":"echo2"}`))
	if v2 != 2 || got2.Version != 2 || got2.ETag == got.ETag {
		t.Fatalf("replace: version %d/%d, etag %q (old %q)", v2, got2.Version, got2.ETag, got.ETag)
	}
	sameRecord(t, "Get after replace", get(t, a, "/apis/echo"), got2)

	// A child record keeps its parent; an empty body survives.
	child, _ := put(t, a, rec("/apis/echo/operations/get", "apis/operations", "/apis/echo", ""))
	sameRecord(t, "child", get(t, a, "/apis/echo/operations/get"), child)

	// Put refuses a record without ID or kind.
	_, err := a.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.Put(t.Context(), rec("", "apis", "", "{}"), "")
		return err
	})
	if err == nil {
		t.Fatal("Put without ID succeeded")
	}
}

func testUpdateBumpsOnce(t *testing.T, a, _ store.Store) {
	put(t, a, rec("/apis/old", "apis", "", "{}"))
	var written []store.Record
	v := update(t, a, func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"/apis/x", "/apis/y", "/apis/z"} {
			r, err := tx.Put(ctx, rec(id, "apis", "", "{}"), "")
			if err != nil {
				return err
			}
			written = append(written, r)
		}
		return tx.Delete(ctx, "/apis/old")
	})
	if v != 2 {
		t.Fatalf("Update with four writes returned version %d, want 2", v)
	}
	if got := version(t, a); got != 2 {
		t.Fatalf("Version = %d, want 2", got)
	}
	for _, w := range written {
		if w.Version != 2 {
			t.Errorf("%s: Put returned version %d, want 2", w.ID, w.Version)
		}
		sameRecord(t, w.ID, get(t, a, w.ID), w)
	}
	// Two Puts of one record in one Update give distinct ETags.
	var e1, e2 string
	update(t, a, func(ctx context.Context, tx store.Tx) error {
		r1, err := tx.Put(ctx, rec("/apis/x", "apis", "", "1"), "")
		if err != nil {
			return err
		}
		r2, err := tx.Put(ctx, rec("/apis/x", "apis", "", "2"), r1.ETag)
		e1, e2 = r1.ETag, r2.ETag
		return err
	})
	if e1 == e2 {
		t.Fatalf("two writes in one Update share ETag %q", e1)
	}
}

func testUpdateWithoutWrites(t *testing.T, a, _ store.Store) {
	orig, _ := put(t, a, rec("/apis/a", "apis", "", "{}"))
	cases := map[string]func(ctx context.Context, tx store.Tx) error{
		"nothing": func(context.Context, store.Tx) error { return nil },
		"reads only": func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.Get(ctx, "/apis/a"); err != nil {
				return err
			}
			_, err := tx.List(ctx, "apis", "")
			return err
		},
		"DeleteTree removing nothing": func(ctx context.Context, tx store.Tx) error {
			n, err := tx.DeleteTree(ctx, "/apis/a")
			if err == nil && n != 0 {
				return fmt.Errorf("DeleteTree removed %d", n)
			}
			return err
		},
		"failed writes, errors ignored": func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.Put(ctx, rec("/apis/a", "apis", "", "x"), "-"); !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("Put -: %v", err)
			}
			if err := tx.Delete(ctx, "/apis/none"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("Delete absent: %v", err)
			}
			return nil
		},
	}
	for name, fn := range cases {
		if v := update(t, a, fn); v != 1 {
			t.Errorf("%s: Update returned %d, want the current version 1", name, v)
		}
		if v := version(t, a); v != 1 {
			t.Errorf("%s: version became %d, want 1", name, v)
		}
	}
	sameRecord(t, "record after non-writing Updates", get(t, a, "/apis/a"), orig)
}

var errBoom = errors.New("boom")

func testUpdateErrorRollsBack(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	put(t, a, rec("/apis/a", "apis", "", `{"n":1}`))
	put(t, a, rec("/apis/a/operations/o", "apis/operations", "/apis/a", `{}`))
	before, vBefore, err := a.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, rec("/apis/a", "apis", "", `{"n":2}`), ""); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, rec("/apis/b", "apis", "", `{}`), ""); err != nil {
			return err
		}
		if _, err := tx.DeleteTree(ctx, "/apis/a"); err != nil {
			return err
		}
		return fmt.Errorf("validate: %w", errBoom)
	})
	wantErr(t, "Update whose fn fails", err, errBoom)
	after, vAfter, err := a.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vAfter != vBefore {
		t.Fatalf("version %d after failed Update, want %d", vAfter, vBefore)
	}
	if len(after) != len(before) {
		t.Fatalf("records after failed Update: %s, want %s", ids(after), ids(before))
	}
	for i := range before {
		sameRecord(t, "record after failed Update", after[i], before[i])
	}
	// A store error passed through fn is returned so errors.Is works.
	_, err = a.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(ctx, "/apis/none")
		return err
	})
	wantErr(t, "Update returning Get's error", err, store.ErrNotFound)
}

func testUpdateCanceled(t *testing.T, a, _ store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := a.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, rec("/apis/a", "apis", "", "{}"), "")
		return err
	})
	if err == nil {
		t.Fatal("Update with a canceled context succeeded")
	}
	if v := version(t, a); v != 0 {
		t.Fatalf("version %d after canceled Update, want 0", v)
	}
	_, err = a.Get(t.Context(), "/apis/a")
	wantErr(t, "Get after canceled Update", err, store.ErrNotFound)
}

func testTxIsolation(t *testing.T, a, _ store.Store) {
	put(t, a, rec("/apis/gone", "apis", "", "{}"))
	update(t, a, func(ctx context.Context, tx store.Tx) error {
		w, err := tx.Put(ctx, rec("/apis/new", "apis", "", `{"x":1}`), "")
		if err != nil {
			return err
		}
		r, err := tx.Get(ctx, "/apis/new")
		if err != nil {
			return fmt.Errorf("tx.Get of own write: %w", err)
		}
		sameRecord(t, "tx.Get of own write", r, w)
		if err := tx.Delete(ctx, "/apis/gone"); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "/apis/gone"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tx.Get of own delete: %v", err)
		}
		list, err := tx.List(ctx, "apis", "")
		if err != nil {
			return err
		}
		if got := ids(list); got != "/apis/new" {
			return fmt.Errorf("tx.List = %q, want /apis/new", got)
		}
		// Readers outside the transaction see the committed state.
		if _, err := a.Get(ctx, "/apis/new"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("uncommitted write visible outside: %v", err)
		}
		if _, err := a.Get(ctx, "/apis/gone"); err != nil {
			return fmt.Errorf("uncommitted delete visible outside: %v", err)
		}
		return nil
	})
	get(t, a, "/apis/new")
}

func testETagPreconditions(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	try := func(id, ifMatch string) (store.Record, error) {
		var out store.Record
		_, err := a.Update(ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.Put(ctx, rec(id, "apis", "", `{"m":"`+ifMatch+`"}`), ifMatch)
			return err
		})
		return out, err
	}
	r1, err := try("/apis/a", "-")
	if err != nil {
		t.Fatalf(`create with "-": %v`, err)
	}
	_, err = try("/apis/a", "-")
	wantErr(t, `"-" on existing record`, err, store.ErrConflict)
	_, err = try("/apis/none", "*")
	wantErr(t, `"*" on absent record`, err, store.ErrConflict)
	_, err = try("/apis/none", r1.ETag)
	wantErr(t, "ETag on absent record", err, store.ErrConflict)
	if _, err := a.Get(ctx, "/apis/none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused Put created the record: %v", err)
	}
	r2, err := try("/apis/a", "*")
	if err != nil {
		t.Fatalf(`"*" on existing record: %v`, err)
	}
	_, err = try("/apis/a", r1.ETag)
	wantErr(t, "stale ETag", err, store.ErrConflict)
	_, err = try("/apis/a", r1.ETag+"x")
	wantErr(t, "unknown ETag", err, store.ErrConflict)
	r3, err := try("/apis/a", r2.ETag)
	if err != nil {
		t.Fatalf("current ETag: %v", err)
	}
	sameRecord(t, "after conditional writes", get(t, a, "/apis/a"), r3)
	if v := version(t, a); v != 3 {
		t.Fatalf("version %d after 3 successful and 5 refused writes, want 3", v)
	}
	if r1.ETag == r2.ETag || r2.ETag == r3.ETag {
		t.Fatalf("ETags repeat: %q %q %q", r1.ETag, r2.ETag, r3.ETag)
	}
}

func testList(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	update(t, a, func(ctx context.Context, tx store.Tx) error {
		for _, r := range []store.Record{
			rec("/apis/b", "apis", "", "{}"),
			rec("/apis/c", "apis", "", "{}"),
			rec("/apis/a", "apis", "", "{}"),
			rec("/apis/a/operations/x", "apis/operations", "/apis/a", "{}"),
			rec("/apis/b/operations/y", "apis/operations", "/apis/b", "{}"),
			rec("/apis/a/operations/get", "apis/operations", "/apis/a", "{}"),
			rec("/products/p", "products", "", "{}"),
		} {
			if _, err := tx.Put(ctx, r, ""); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []struct{ kind, parent, want string }{
		{"apis", "", "/apis/a /apis/b /apis/c"},
		{"apis/operations", "", "/apis/a/operations/get /apis/a/operations/x /apis/b/operations/y"},
		{"apis/operations", "/apis/a", "/apis/a/operations/get /apis/a/operations/x"},
		{"apis/operations", "/apis/zzz", ""},
		{"products", "", "/products/p"},
		{"users", "", ""},
	} {
		got, err := a.List(ctx, c.kind, c.parent)
		if err != nil {
			t.Fatalf("List(%q, %q): %v", c.kind, c.parent, err)
		}
		if ids(got) != c.want {
			t.Errorf("List(%q, %q) = %q, want %q", c.kind, c.parent, ids(got), c.want)
		}
		for _, r := range got {
			if r.Kind != c.kind || r.Version == 0 || r.ETag == "" {
				t.Errorf("List(%q, %q): incomplete record %s", c.kind, c.parent, show(r))
			}
		}
		update(t, a, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.List(ctx, c.kind, c.parent)
			if err == nil && ids(got) != c.want {
				t.Errorf("tx.List(%q, %q) = %q, want %q", c.kind, c.parent, ids(got), c.want)
			}
			return err
		})
	}
}

func testDelete(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	_, err := a.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "/apis/none") })
	wantErr(t, "Delete absent", err, store.ErrNotFound)
	put(t, a, rec("/apis/a", "apis", "", "{}"))
	put(t, a, rec("/apis/b", "apis", "", "{}"))
	v := update(t, a, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/a") })
	if v != 3 {
		t.Fatalf("Delete: version %d, want 3", v)
	}
	_, err = a.Get(ctx, "/apis/a")
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	get(t, a, "/apis/b")
}

func testDeleteTree(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	all := []string{
		"/apis/a", "/apis/a/operations/x", "/apis/a/operations/x/policies/p",
		"/apis/a-b", "/apis/a.b", "/apis/a0", "/apis/ab", "/apis/ab/operations/z",
	}
	update(t, a, func(ctx context.Context, tx store.Tx) error {
		for _, id := range all {
			if _, err := tx.Put(ctx, rec(id, "k", "", "{}"), ""); err != nil {
				return err
			}
		}
		return nil
	})
	var n int
	v := update(t, a, func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.DeleteTree(ctx, "/apis/a")
		return err
	})
	if n != 2 {
		t.Fatalf("DeleteTree removed %d records, want 2", n)
	}
	if v != 2 {
		t.Fatalf("DeleteTree: version %d, want 2", v)
	}
	recs, _, err := a.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(recs), "/apis/a /apis/a-b /apis/a.b /apis/a0 /apis/ab /apis/ab/operations/z"; got != want {
		t.Fatalf("after DeleteTree(/apis/a): %q, want %q", got, want)
	}
}

func testAll(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	var written []store.Record
	for i := range 5 {
		r, _ := put(t, a, rec("/apis/"+strconv.Itoa(i), "apis", "", strconv.Itoa(i)))
		written = append(written, r)
	}
	update(t, a, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/2") })
	recs, v, err := a.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != 6 || v != version(t, a) {
		t.Fatalf("All version %d, want 6", v)
	}
	want := append(written[:2:2], written[3:]...)
	if ids(recs) != ids(want) {
		t.Fatalf("All = %q, want %q", ids(recs), ids(want))
	}
	for i := range want {
		sameRecord(t, "All", recs[i], want[i])
	}
}

func testConcurrentUpdates(t *testing.T, a, _ store.Store) {
	concurrentUpdates(t, []store.Store{a})
}

// concurrentUpdates runs 8 goroutines of 5 Updates each, spread over the
// given handles, and checks that every Update got its own version.
func concurrentUpdates(t *testing.T, handles []store.Store) {
	const workers, each = 8, 5
	ctx := t.Context()
	start := version(t, handles[0])
	var mu sync.Mutex
	byVersion := map[int64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		s := handles[w%len(handles)]
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("/apis/w%d-%d", w, i)
				v, err := s.Update(ctx, func(tx store.Tx) error {
					_, err := tx.Put(ctx, rec(id, "apis", "", "{}"), "")
					return err
				})
				if err != nil {
					t.Errorf("update %s: %v", id, err)
					return
				}
				mu.Lock()
				if other, dup := byVersion[v]; dup {
					t.Errorf("%s and %s both got version %d", id, other, v)
				}
				byVersion[v] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got, want := version(t, handles[0]), start+workers*each; got != want {
		t.Fatalf("version %d after %d Updates from %d, want %d", got, workers*each, start, want)
	}
	for v, id := range byVersion {
		if r := get(t, handles[0], id); r.Version != v {
			t.Errorf("%s: stored version %d, Update returned %d", id, r.Version, v)
		}
	}
}

func testConcurrentReadModifyWrite(t *testing.T, a, b store.Store) {
	handles := []store.Store{a}
	if b != nil {
		handles = append(handles, b)
	}
	const workers, each = 8, 5
	ctx := t.Context()
	put(t, a, rec("/counter", "counters", "", "0"))
	var wg sync.WaitGroup
	for w := range workers {
		s := handles[w%len(handles)]
		wg.Go(func() {
			for range each {
				_, err := s.Update(ctx, func(tx store.Tx) error {
					r, err := tx.Get(ctx, "/counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(r.Body))
					if err != nil {
						return err
					}
					r.Body = []byte(strconv.Itoa(n + 1))
					_, err = tx.Put(ctx, r, r.ETag)
					return err
				})
				if err != nil {
					t.Errorf("increment: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := string(get(t, a, "/counter").Body); got != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s after %d increments in Updates: Updates are not serialized", got, workers*each)
	}
}

// waitFor receives from ch until a version of at least want arrives.
func waitFor(t *testing.T, ch <-chan int64, want int64) {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("Changes closed before version %d", want)
			}
			if v >= want {
				return
			}
		case <-timeout:
			t.Fatalf("version %d not delivered by Changes", want)
		}
	}
}

func testChanges(t *testing.T, a, _ store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := a.Changes(ctx)
	_, v := put(t, a, rec("/apis/a", "apis", "", "{}"))
	waitFor(t, ch, v)
	// State writes are not configuration changes.
	if err := a.State().Put(ctx, store.StateRecord{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	_, v = put(t, a, rec("/apis/b", "apis", "", "{}"))
	waitFor(t, ch, v)
	if got := version(t, a); got != v {
		t.Fatalf("version %d after a state write, want %d", got, v)
	}
	cancel()
	timeout := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("Changes channel not closed after its context ended")
		}
	}
}

func needB(t *testing.T, b store.Store) {
	if b == nil {
		t.Skip("this backend cannot open a second handle on one database")
	}
}

func testChangesFromOtherNode(t *testing.T, a, b store.Store) {
	needB(t, b)
	ch := a.Changes(t.Context())
	_, v := put(t, b, rec("/apis/a", "apis", "", "{}"))
	waitFor(t, ch, v)
	_, v = put(t, b, rec("/apis/b", "apis", "", "{}"))
	waitFor(t, ch, v)
}

func testOtherNodeSharesData(t *testing.T, a, b store.Store) {
	needB(t, b)
	ctx := t.Context()
	w, _ := put(t, b, rec("/apis/a", "apis", "", "{}"))
	sameRecord(t, "a reads b's write", get(t, a, "/apis/a"), w)
	if err := a.State().Put(ctx, store.StateRecord{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if r, err := b.State().Get(ctx, "k"); err != nil || string(r.Value) != "v" {
		t.Fatalf("b reads a's state: %+v, %v", r, err)
	}
	concurrentUpdates(t, []store.Store{a, b})
	takeRace(t, []store.Store{a, b}, "shared")
}

func testPing(t *testing.T, a, _ store.Store) {
	if err := a.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// near reports whether two expiry times are equal at the precision backends
// keep (microseconds).
func near(a, b time.Time) bool { return a.Sub(b).Abs() < time.Millisecond }

func sameState(t *testing.T, what string, got store.StateRecord, want store.StateRecord) {
	t.Helper()
	if got.Key != want.Key || !bytes.Equal(got.Value, want.Value) ||
		got.Expires.IsZero() != want.Expires.IsZero() || !near(got.Expires, want.Expires) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

func testStateGetPutDelete(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	r := store.StateRecord{Key: "code/1", Value: []byte("one")}
	if err := st.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "code/1")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "Get", got, r)
	r2 := store.StateRecord{Key: "code/1", Value: []byte("two"), Expires: time.Now().Add(time.Hour)}
	if err := st.Put(ctx, r2); err != nil {
		t.Fatal(err)
	}
	got, err = st.Get(ctx, "code/1")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "Get after overwrite", got, r2)
	if err := st.Delete(ctx, "code/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = st.Get(ctx, "code/1")
	wantErr(t, "Get after Delete", err, store.ErrNotFound)
	wantErr(t, "Delete absent", st.Delete(ctx, "code/1"), store.ErrNotFound)
	if v := version(t, a); v != 0 {
		t.Fatalf("state writes bumped the configuration version to %d", v)
	}
}

func testStateExpiry(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	past := store.StateRecord{Key: "past", Value: []byte("x"), Expires: time.Now().Add(-time.Second)}
	if err := st.Put(ctx, past); err != nil {
		t.Fatal(err)
	}
	_, err := st.Get(ctx, "past")
	wantErr(t, "Get expired", err, store.ErrNotFound)
	_, err = st.Take(ctx, "past")
	wantErr(t, "Take expired", err, store.ErrNotFound)
	wantErr(t, "CompareAndSwap expired", st.CompareAndSwap(ctx, "past", []byte("x"), store.StateRecord{Key: "past", Value: []byte("y")}), store.ErrNotFound)
	wantErr(t, "Delete expired", st.Delete(ctx, "past"), store.ErrNotFound)

	// A short lease is visible, then not.
	soon := store.StateRecord{Key: "soon", Value: []byte("x"), Expires: time.Now().Add(50 * time.Millisecond)}
	if err := st.Put(ctx, soon); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_, err = st.Get(ctx, "soon")
	wantErr(t, "Get after the lease ran out", err, store.ErrNotFound)
	if recs, err := st.List(ctx, ""); err != nil || len(recs) != 0 {
		t.Fatalf("List shows expired records: %s, %v", keys(recs), err)
	}
}

func testStateCreate(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	first := store.StateRecord{Key: "lease/x", Value: []byte("node-1"), Expires: time.Now().Add(time.Hour)}
	if err := st.Create(ctx, first); err != nil {
		t.Fatalf("Create: %v", err)
	}
	wantErr(t, "Create over a live lease", st.Create(ctx, store.StateRecord{Key: "lease/x", Value: []byte("node-2")}), store.ErrConflict)
	got, err := st.Get(ctx, "lease/x")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "lease after refused Create", got, first)

	// An expired lease does not block a new one.
	short := store.StateRecord{Key: "lease/y", Value: []byte("node-1"), Expires: time.Now().Add(50 * time.Millisecond)}
	if err := st.Create(ctx, short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	next := store.StateRecord{Key: "lease/y", Value: []byte("node-2")}
	if err := st.Create(ctx, next); err != nil {
		t.Fatalf("Create over an expired lease: %v", err)
	}
	got, err = st.Get(ctx, "lease/y")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "lease taken over", got, next)
	wantErr(t, "Create over a lease without expiry", st.Create(ctx, next), store.ErrConflict)
}

func testStateCompareAndSwap(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	wantErr(t, "CompareAndSwap absent", st.CompareAndSwap(ctx, "tok", []byte("a"), store.StateRecord{Key: "tok", Value: []byte("b")}), store.ErrNotFound)
	if err := st.Put(ctx, store.StateRecord{Key: "tok", Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CompareAndSwap wrong old", st.CompareAndSwap(ctx, "tok", []byte("z"), store.StateRecord{Key: "tok", Value: []byte("b")}), store.ErrConflict)
	got, err := st.Get(ctx, "tok")
	if err != nil || string(got.Value) != "a" {
		t.Fatalf("after refused swap: %+v, %v", got, err)
	}
	want := store.StateRecord{Key: "tok", Value: []byte("b"), Expires: time.Now().Add(time.Hour)}
	if err := st.CompareAndSwap(ctx, "tok", []byte("a"), want); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	got, err = st.Get(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "after swap", got, want)
	wantErr(t, "CompareAndSwap with the replaced value", st.CompareAndSwap(ctx, "tok", []byte("a"), want), store.ErrConflict)

	// Of concurrent swaps from one value, exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Go(func() {
			err := st.CompareAndSwap(ctx, "tok", []byte("b"), store.StateRecord{Key: "tok", Value: []byte("c" + strconv.Itoa(i))})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("concurrent CompareAndSwap: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent swaps from one value succeeded, want 1", wins)
	}
}

func testStateTake(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	_, err := st.Take(ctx, "code/none")
	wantErr(t, "Take absent", err, store.ErrNotFound)
	r := store.StateRecord{Key: "code/abc", Value: []byte("grant"), Expires: time.Now().Add(time.Minute)}
	if err := st.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.Take(ctx, "code/abc")
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	sameState(t, "Take", got, r)
	_, err = st.Take(ctx, "code/abc")
	wantErr(t, "second Take", err, store.ErrNotFound)
	_, err = st.Get(ctx, "code/abc")
	wantErr(t, "Get after Take", err, store.ErrNotFound)
}

func testStateTakeConcurrent(t *testing.T, a, _ store.Store) {
	takeRace(t, []store.Store{a}, "one")
}

// takeRace has 16 goroutines, spread over handles, Take one key, a few
// rounds over; exactly one may get it each round.
func takeRace(t *testing.T, handles []store.Store, name string) {
	ctx := t.Context()
	for round := range 3 {
		key := fmt.Sprintf("code/%s-%d", name, round)
		if err := handles[0].State().Put(ctx, store.StateRecord{Key: key, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 16 {
			st := handles[i%len(handles)].State()
			wg.Go(func() {
				r, err := st.Take(ctx, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && string(r.Value) == "v":
					winners++
				case err == nil:
					t.Errorf("Take returned %+v", r)
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("Take: %v", err)
				}
			})
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("round %d: %d of 16 concurrent Takes got the record, want 1", round, winners)
		}
	}
}

func testStateList(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	hour := time.Now().Add(time.Hour)
	for _, r := range []store.StateRecord{
		{Key: "lease/b", Value: []byte("b"), Expires: hour},
		{Key: "lease/a", Value: []byte("a")},
		{Key: "lease/c", Value: []byte("c"), Expires: time.Now().Add(-time.Second)},
		{Key: "lease", Value: []byte("-")},
		{Key: "leases/x", Value: []byte("x")},
		{Key: "code/1", Value: []byte("1")},
		{Key: "a%b/1", Value: []byte("%")},
		{Key: "axb/1", Value: []byte("x")},
		{Key: "a_b/1", Value: []byte("_")},
	} {
		if err := st.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ prefix, want string }{
		{"lease/", "lease/a lease/b"},
		{"lease", "lease lease/a lease/b leases/x"},
		{"code/", "code/1"},
		{"a%", "a%b/1"},
		{"a_", "a_b/1"},
		{"nothing", ""},
		{"", "a%b/1 a_b/1 axb/1 code/1 lease lease/a lease/b leases/x"},
	} {
		got, err := st.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if keys(got) != c.want {
			t.Errorf("List(%q) = %q, want %q", c.prefix, keys(got), c.want)
		}
	}
	got, err := st.List(ctx, "lease/b")
	if err != nil || len(got) != 1 {
		t.Fatalf("List(lease/b) = %s, %v", keys(got), err)
	}
	sameState(t, "listed record", got[0], store.StateRecord{Key: "lease/b", Value: []byte("b"), Expires: hour})
}

func testStateSweep(t *testing.T, a, _ store.Store) {
	ctx := t.Context()
	st := a.State()
	live := store.StateRecord{Key: "live", Value: []byte("l"), Expires: time.Now().Add(time.Hour)}
	forever := store.StateRecord{Key: "forever", Value: []byte("f")}
	for _, r := range []store.StateRecord{
		live, forever,
		{Key: "dead", Value: []byte("d"), Expires: time.Now().Add(-time.Second)},
	} {
		if err := st.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	got, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if keys(got) != "forever live" {
		t.Fatalf("after Sweep: %q, want %q", keys(got), "forever live")
	}
	_, err = st.Get(ctx, "dead")
	wantErr(t, "Get swept", err, store.ErrNotFound)
	if err := st.Create(ctx, store.StateRecord{Key: "dead", Value: []byte("again")}); err != nil {
		t.Fatalf("Create after Sweep: %v", err)
	}
}

// A call made through store.WithDeadline that waits past its deadline (here
// for the writer another Update holds) fails with ErrUnavailable and writes
// nothing; answers about the data (not found, conflict) and a caller going
// away are not unavailability.
func testDeadlineUnavailable(t *testing.T, a, _ store.Store) {
	bounded := store.WithDeadline(a, 200*time.Millisecond)
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.Update(context.Background(), func(tx store.Tx) error {
			if _, err := tx.Put(context.Background(), rec("/apis/held", "apis", "", "{}"), ""); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
		done <- err
	}()
	select {
	case <-holding:
	case <-time.After(waitLimit):
		t.Fatal("the holding Update did not start")
	}
	_, err := bounded.Update(t.Context(), func(tx store.Tx) error {
		// The request's context has no deadline: the Update's applies.
		_, err := tx.Put(t.Context(), rec("/apis/late", "apis", "", "{}"), "")
		return err
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holding Update: %v", err)
	}
	wantErr(t, "Update waiting past its deadline", err, store.ErrUnavailable)
	if _, err := a.Get(t.Context(), "/apis/late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the timed-out Update wrote: %v", err)
	}

	// Once the database answers again, so does the bounded store.
	if _, err := bounded.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.Put(t.Context(), rec("/apis/late", "apis", "", "{}"), "-")
		return err
	}); err != nil {
		t.Fatalf("Update after the writer was released: %v", err)
	}
	_, err = bounded.Get(t.Context(), "/apis/none")
	wantErr(t, "Get of a missing record", err, store.ErrNotFound)
	if errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a missing record reported as unavailable: %v", err)
	}
	_, err = bounded.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.Put(t.Context(), rec("/apis/late", "apis", "", "{}"), "-")
		return err
	})
	if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("failed precondition: %v, want ErrConflict only", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := bounded.Get(ctx, "/apis/late"); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with a canceled context: %v, want an error that is not ErrUnavailable", err)
	}
	if err := bounded.State().Put(t.Context(), store.StateRecord{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("state through the bounded store: %v", err)
	}
}

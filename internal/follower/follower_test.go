package follower_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// view is a subscriber that keeps the records it was told about, as a
// gateway or identity provider would, and remembers every change.
type view struct {
	mu      sync.Mutex
	records map[string]string // id -> body
	changes []follower.Change
	fail    error // returned (once) by the next Apply
	failAt  int64
}

func (v *view) Apply(ctx context.Context, c follower.Change) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail != nil && c.To >= v.failAt {
		err := v.fail
		v.fail = nil
		return err
	}
	v.changes = append(v.changes, c)
	if c.Full || v.records == nil {
		v.records = map[string]string{}
	}
	for _, id := range c.Deleted {
		delete(v.records, id)
	}
	for _, r := range c.Records {
		v.records[r.ID] = string(r.Body)
	}
	return nil
}

func (v *view) snapshot() (map[string]string, []follower.Change) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.records, slices.Clone(v.changes)
}

func put(t *testing.T, st store.Store, ids ...string) int64 {
	t.Helper()
	v, err := st.Update(t.Context(), func(tx store.Tx) error {
		for _, id := range ids {
			if _, err := tx.Put(t.Context(), store.Record{ID: id, Kind: "apis", Body: []byte(fmt.Sprintf(`{"n":%q}`, id))}, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func del(t *testing.T, st store.Store, id string) int64 {
	t.Helper()
	v, err := st.Update(t.Context(), func(tx store.Tx) error { return tx.Delete(t.Context(), id) })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func all(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	recs, _, err := st.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range recs {
		m[r.ID] = string(r.Body)
	}
	return m
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Every subscriber gets a full first load, then only what changed, in
// version order, and Sync returns only once every subscriber has the
// version.
func TestFollowerDeliversChangesToEverySubscriber(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		put(t, st, "/apis/a", "/apis/b")
		src := &counting{ChangeSource: st}
		f := follower.New(follower.Options{Source: src, Logger: slog.New(slog.DiscardHandler)})
		one, two := &view{}, &view{}
		f.Subscribe(one)
		f.Subscribe(two)
		v0, _ := st.Version(ctx)
		if err := f.Sync(ctx, v0); err != nil {
			t.Fatal(err)
		}
		v1 := put(t, st, "/apis/c")
		v2 := del(t, st, "/apis/a")
		if err := f.Sync(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if f.Version() != v2 {
			t.Fatalf("follower at %d, want %d", f.Version(), v2)
		}
		want := all(t, st)
		for i, v := range []*view{one, two} {
			recs, changes := v.snapshot()
			if !equal(recs, want) {
				t.Errorf("subscriber %d holds %v, want %v", i, recs, want)
			}
			if len(changes) != 2 || !changes[0].Full || changes[0].From != 0 || changes[0].To != v0 {
				t.Fatalf("subscriber %d: first change %+v", i, changes)
			}
			c := changes[1]
			if c.Full || c.From != v0 || c.To != v2 || len(c.Records) != 1 || c.Records[0].ID != "/apis/c" || !slices.Equal(c.Deleted, []string{"/apis/a"}) {
				t.Errorf("subscriber %d: second change %+v (v1 %d)", i, c, v1)
			}
		}
		// One read per step for both subscribers.
		if src.alls != 1 || src.sinces != 1 {
			t.Errorf("All %d times, Since %d times; want once each", src.alls, src.sinces)
		}
		// Asking again for a version reached reads nothing.
		if err := f.Sync(ctx, v1); err != nil || src.sinces != 1 {
			t.Errorf("Sync to a version reached: %v, Since %d times", err, src.sinces)
		}
	})
}

// A subscriber whose Apply fails stays where it was, makes Sync fail, and
// gets every record on the next step; the others go on incrementally.
func TestFollowerRetriesFailedSubscriberWithFullLoad(t *testing.T) {
	st := teststores.SQLite(t)
	ctx := t.Context()
	v0 := put(t, st, "/apis/a")
	f := follower.New(follower.Options{Source: st, Logger: slog.New(slog.DiscardHandler)})
	good, bad := &view{}, &view{}
	f.Subscribe(good)
	f.Subscribe(bad)
	if err := f.Sync(ctx, v0); err != nil {
		t.Fatal(err)
	}
	v1 := put(t, st, "/apis/b")
	bad.mu.Lock()
	bad.fail, bad.failAt = errDirectory, v1
	bad.mu.Unlock()
	if err := f.Sync(ctx, v1); err == nil || !errors.Is(err, errDirectory) {
		t.Fatalf("Sync with a failing subscriber: %v", err)
	}
	if f.Version() != v0 {
		t.Fatalf("follower at %d after a failed apply, want %d", f.Version(), v0)
	}
	v2 := put(t, st, "/apis/c")
	if err := f.Sync(ctx, v2); err != nil {
		t.Fatal(err)
	}
	_, gc := good.snapshot()
	recs, bc := bad.snapshot()
	if last := gc[len(gc)-1]; last.Full || last.From != v1 || last.To != v2 {
		t.Errorf("good subscriber's last change %+v, want incremental %d..%d", last, v1, v2)
	}
	if last := bc[len(bc)-1]; !last.Full || last.From != v0 || last.To != v2 {
		t.Errorf("failed subscriber's retry %+v, want full from %d to %d", last, v0, v2)
	}
	if !equal(recs, all(t, st)) {
		t.Errorf("failed subscriber holds %v after the retry", recs)
	}
}

var errDirectory = errors.New("directory broken")

// A store that no longer has the history makes the follower read
// everything; a panicking subscriber is an error, not a crash.
func TestFollowerFallsBackAndRecovers(t *testing.T) {
	src := &fake{version: 1, records: []store.Record{{ID: "/apis/a", Body: []byte("1")}}}
	f := follower.New(follower.Options{Source: src, Logger: slog.New(slog.DiscardHandler)})
	v := &view{}
	f.Subscribe(v)
	if err := f.Sync(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	src.set(2, []store.Record{{ID: "/apis/b", Body: []byte("2")}}, store.ErrTooOld)
	if err := f.Sync(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	recs, changes := v.snapshot()
	if last := changes[len(changes)-1]; !last.Full || last.From != 1 || last.To != 2 || len(recs) != 1 || recs["/apis/b"] != "2" {
		t.Fatalf("after ErrTooOld: %+v, holds %v", last, recs)
	}
	// A version the source does not have is an error, not a spin.
	if err := f.Sync(t.Context(), 5); err == nil {
		t.Fatal("Sync to a version the source lacks succeeded")
	}
	f.Subscribe(panicky{})
	if err := f.Sync(t.Context(), 2); err == nil {
		t.Fatal("Sync with a panicking subscriber succeeded")
	}
}

type panicky struct{}

func (panicky) Apply(context.Context, follower.Change) error { panic("subscriber bug") }

// Run follows the versions announced and delivers them.
func TestFollowerRun(t *testing.T) {
	st := teststores.SQLite(t)
	f := follower.New(follower.Options{Source: st, Logger: slog.New(slog.DiscardHandler)})
	v := &view{}
	f.Subscribe(v)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.Run(ctx, st.Changes(ctx)); close(done) }()
	// Changes delivers versions written after it is called: wait for Run
	// to be listening by writing until one is seen.
	deadline := time.Now().Add(10 * time.Second)
	var want int64
	for f.Version() == 0 || f.Version() < want {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not follow: at %d, want %d", f.Version(), want)
		}
		want = put(t, st, fmt.Sprintf("/apis/x%d", want))
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if recs, _ := v.snapshot(); !equal(recs, all(t, st)) {
		t.Errorf("after Run: %v", recs)
	}
}

type counting struct {
	follower.ChangeSource
	mu           sync.Mutex
	alls, sinces int
}

func (c *counting) All(ctx context.Context) ([]store.Record, int64, error) {
	c.mu.Lock()
	c.alls++
	c.mu.Unlock()
	return c.ChangeSource.All(ctx)
}

func (c *counting) Since(ctx context.Context, v int64) ([]store.Record, []string, int64, error) {
	c.mu.Lock()
	c.sinces++
	c.mu.Unlock()
	return c.ChangeSource.Since(ctx, v)
}

// fake is a ChangeSource whose Since answers a set error.
type fake struct {
	mu       sync.Mutex
	records  []store.Record
	version  int64
	sinceErr error
}

func (f *fake) set(v int64, recs []store.Record, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version, f.records, f.sinceErr = v, recs, err
}

func (f *fake) All(context.Context) ([]store.Record, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.records), f.version, nil
}

func (f *fake) Since(context.Context, int64) ([]store.Record, []string, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return nil, nil, f.version, f.sinceErr
}

package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

// OpenRetaining returns a fresh, empty store whose Since answers for the
// last retain versions (the backend's retention option), closed at cleanup.
type OpenRetaining func(t *testing.T, retain int64) store.Store

// RunSince runs the conformance tests of Store.Since against the backend.
func RunSince(t *testing.T, open OpenRetaining) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenRetaining)
	}{
		{"Writes", testSinceWrites},
		{"Deletes", testSinceDeletes},
		{"DeleteTree", testSinceDeleteTree},
		{"RecreateAfterDelete", testSinceRecreate},
		{"RolledBackDelete", testSinceRolledBack},
		{"Horizon", testSinceHorizon},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// since calls Since and checks the current version it reports.
func since(t *testing.T, s store.Store, v, wantCurrent int64) ([]store.Record, []string) {
	t.Helper()
	changed, deleted, current, err := s.Since(t.Context(), v)
	if err != nil {
		t.Fatalf("Since(%d): %v", v, err)
	}
	if current != wantCurrent {
		t.Fatalf("Since(%d): current version %d, want %d", v, current, wantCurrent)
	}
	return changed, deleted
}

func wantSince(t *testing.T, s store.Store, v, current int64, wantChanged, wantDeleted string) []store.Record {
	t.Helper()
	changed, deleted := since(t, s, v, current)
	if got := ids(changed); got != wantChanged {
		t.Fatalf("Since(%d) changed %q, want %q", v, got, wantChanged)
	}
	if got := strings.Join(deleted, " "); got != wantDeleted {
		t.Fatalf("Since(%d) deleted %q, want %q", v, got, wantDeleted)
	}
	return changed
}

func testSinceWrites(t *testing.T, open OpenRetaining) {
	s := open(t, store.DefaultRetainedVersions)
	wantSince(t, s, 0, 0, "", "")
	v1 := update(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"/apis/b", "/apis/a"} {
			if _, err := tx.Put(ctx, rec(id, "apis", "", `{"v":1}`), ""); err != nil {
				return err
			}
		}
		return nil
	})
	_, v2 := put(t, s, rec("/apis/c", "apis", "", `{"v":2}`))
	_, v3 := put(t, s, rec("/apis/a", "apis", "", `{"v":3}`))
	if v1 != 1 || v2 != 2 || v3 != 3 {
		t.Fatalf("versions %d %d %d, want 1 2 3", v1, v2, v3)
	}
	wantSince(t, s, 0, 3, "/apis/a /apis/b /apis/c", "")
	got := wantSince(t, s, 1, 3, "/apis/a /apis/c", "")
	// The records are the stored ones, bodies and all.
	for _, r := range got {
		sameRecord(t, "Since record "+r.ID, r, get(t, s, r.ID))
	}
	wantSince(t, s, 2, 3, "/apis/a", "")
	wantSince(t, s, 3, 3, "", "")
	// An Update that writes nothing changes nothing.
	update(t, s, func(ctx context.Context, tx store.Tx) error { return nil })
	wantSince(t, s, 3, 3, "", "")
}

func testSinceDeletes(t *testing.T, open OpenRetaining) {
	s := open(t, store.DefaultRetainedVersions)
	put(t, s, rec("/apis/a", "apis", "", "{}"))
	put(t, s, rec("/apis/b", "apis", "", "{}"))
	v := update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/b") })
	wantSince(t, s, v-1, v, "", "/apis/b")
	wantSince(t, s, 0, v, "/apis/a", "/apis/b")
	wantSince(t, s, v, v, "", "")
	// A record created and deleted after the version asked for is reported
	// deleted (callers ignore IDs they never had).
	v2 := update(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.Put(ctx, rec("/apis/c", "apis", "", "{}"), ""); err != nil {
			return err
		}
		return tx.Delete(ctx, "/apis/c")
	})
	wantSince(t, s, v, v2, "", "/apis/c")
	wantSince(t, s, v-1, v2, "", "/apis/b /apis/c")
}

func testSinceDeleteTree(t *testing.T, open OpenRetaining) {
	s := open(t, store.DefaultRetainedVersions)
	v1 := update(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"/apis/a", "/apis/a/operations/x", "/apis/a/operations/y", "/apis/ab", "/apis/ab/operations/z"} {
			if _, err := tx.Put(ctx, rec(id, "k", "", "{}"), ""); err != nil {
				return err
			}
		}
		return nil
	})
	v2 := update(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.DeleteTree(ctx, "/apis/a"); err != nil {
			return err
		}
		return tx.Delete(ctx, "/apis/a")
	})
	wantSince(t, s, v1, v2, "", "/apis/a /apis/a/operations/x /apis/a/operations/y")
	wantSince(t, s, 0, v2, "/apis/ab /apis/ab/operations/z", "/apis/a /apis/a/operations/x /apis/a/operations/y")
	// DeleteTree of nothing writes nothing.
	v3 := update(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.DeleteTree(ctx, "/apis/none")
		return err
	})
	if v3 != v2 {
		t.Fatalf("empty DeleteTree bumped the version to %d", v3)
	}
}

func testSinceRecreate(t *testing.T, open OpenRetaining) {
	s := open(t, store.DefaultRetainedVersions)
	_, v1 := put(t, s, rec("/apis/a", "apis", "", `{"n":1}`))
	v2 := update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/a") })
	_, v3 := put(t, s, rec("/apis/a", "apis", "", `{"n":2}`))
	got := wantSince(t, s, v1, v3, "/apis/a", "")
	if string(got[0].Body) != `{"n":2}` {
		t.Fatalf("re-created record body %s", got[0].Body)
	}
	wantSince(t, s, v2, v3, "/apis/a", "")
	wantSince(t, s, v3, v3, "", "")
	// Deleted again: deleted as of the newest deletion.
	v4 := update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/a") })
	wantSince(t, s, v1, v4, "", "/apis/a")
	wantSince(t, s, v3, v4, "", "/apis/a")
	wantSince(t, s, v4, v4, "", "")
}

func testSinceRolledBack(t *testing.T, open OpenRetaining) {
	s := open(t, store.DefaultRetainedVersions)
	_, v := put(t, s, rec("/apis/a", "apis", "", "{}"))
	boom := errors.New("boom")
	_, err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Delete(t.Context(), "/apis/a"); err != nil {
			return err
		}
		if _, err := tx.DeleteTree(t.Context(), "/apis"); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, "failed update", err, boom)
	wantSince(t, s, 0, v, "/apis/a", "")
	// The next version's deletions are its own.
	put(t, s, rec("/apis/b", "apis", "", "{}"))
	wantSince(t, s, v, v+1, "/apis/b", "")
}

func testSinceHorizon(t *testing.T, open OpenRetaining) {
	s := open(t, 3)
	put(t, s, rec("/apis/a", "apis", "", "{}"))                                                     // 1
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "/apis/a") }) // 2
	// Within the history: the deletion is told.
	wantSince(t, s, 1, 2, "", "/apis/a")
	wantSince(t, s, 0, 2, "", "/apis/a")
	for i := range 4 {
		put(t, s, rec("/apis/b", "apis", "", strings.Repeat("x", i))) // 3..6
	}
	// Versions 3 to 6 are within the last three versions' history.
	wantSince(t, s, 3, 6, "/apis/b", "")
	wantSince(t, s, 6, 6, "", "")
	for _, v := range []int64{0, 1, 2, 7, 100} {
		_, _, current, err := s.Since(t.Context(), v)
		if !errors.Is(err, store.ErrTooOld) {
			t.Fatalf("Since(%d) outside the history: %v, want ErrTooOld", v, err)
		}
		if current != 6 {
			t.Fatalf("Since(%d) outside the history: current %d, want 6", v, current)
		}
	}
	// All still works, and the history moves on with new versions.
	recs, v, err := s.All(t.Context())
	if err != nil || v != 6 || ids(recs) != "/apis/b" {
		t.Fatalf("All: %q %d %v", ids(recs), v, err)
	}
	put(t, s, rec("/apis/c", "apis", "", "{}")) // 7
	if _, _, _, err := s.Since(t.Context(), 3); !errors.Is(err, store.ErrTooOld) {
		t.Fatalf("Since(3) at version 7 with 3 retained: %v, want ErrTooOld", err)
	}
	wantSince(t, s, 4, 7, "/apis/b /apis/c", "")
}

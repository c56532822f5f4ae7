package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// testAudit: an entry written in an Update is there exactly when the change
// committed, carries the version it committed as, and can be read by time
// and page, and pruned.
func testAudit(t *testing.T, a, _ store.Store) {
	ctx := context.Background()
	log, ok := store.AuditLogOf(a)
	if !ok {
		t.Fatal("the store keeps no audit log")
	}
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	write := func(id string, at time.Time, fail bool) (int64, error) {
		return a.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Put(ctx, store.Record{ID: id, Kind: "apis", Body: []byte(`{}`)}, ""); err != nil {
				return err
			}
			if err := store.Audit(ctx, tx, store.AuditEntry{Time: at, Actor: "admin", Kind: "apis", Path: id, Action: "create",
				Remote: "127.0.0.1", After: []byte(`{"name":"x"}`)}); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		})
	}
	v1, err := write("/apis/one", t0.Add(-2*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write("/apis/lost", t0, true); err == nil {
		t.Fatal("the failing update committed")
	}
	v2, err := write("/apis/two", t0, false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := log.AuditEntries(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Path != "/apis/one" || all[1].Path != "/apis/two" {
		t.Fatalf("entries = %+v, want /apis/one and /apis/two only", all)
	}
	e := all[0]
	if e.Version != v1 || all[1].Version != v2 || e.Actor != "admin" || e.Action != "create" || e.Remote != "127.0.0.1" ||
		string(e.After) != `{"name":"x"}` || e.Before != nil || !e.Time.Equal(t0.Add(-2*time.Hour)) || all[1].ID <= e.ID {
		t.Fatalf("entry = %+v (version %d)", e, v1)
	}
	recent, err := log.AuditEntries(ctx, store.AuditQuery{Since: t0.Add(-time.Hour)})
	if err != nil || len(recent) != 1 || recent[0].Path != "/apis/two" {
		t.Fatalf("since an hour ago = %+v, %v", recent, err)
	}
	page, err := log.AuditEntries(ctx, store.AuditQuery{AfterID: e.ID, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Path != "/apis/two" {
		t.Fatalf("after the first = %+v, %v", page, err)
	}
	n, err := log.PruneAudit(ctx, t0.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want 1", n, err)
	}
	left, err := log.AuditEntries(ctx, store.AuditQuery{})
	if err != nil || len(left) != 1 || left[0].Path != "/apis/two" {
		t.Fatalf("after prune = %+v, %v", left, err)
	}
	// Through WithDeadline too.
	bounded := store.WithDeadline(a, 0)
	if _, err := bounded.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, store.Record{ID: "/apis/three", Kind: "apis", Body: []byte(`{}`)}, ""); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{Actor: "system", Kind: "apis", Path: "/apis/three", Action: "create"})
	}); err != nil {
		t.Fatal(err)
	}
	bl, ok := store.AuditLogOf(bounded)
	if !ok {
		t.Fatal("WithDeadline hides the audit log")
	}
	// An entry appended on its own carries the current version.
	if err := bl.AppendAudit(ctx, store.AuditEntry{Actor: "admin", Kind: "directory", Path: "/directory/signingKeys/rotate", Action: "POST"}); err != nil {
		t.Fatal(err)
	}
	cur, err := a.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bl.AuditEntries(ctx, store.AuditQuery{AfterID: left[0].ID})
	if err != nil || len(got) != 2 || got[0].Actor != "system" || got[0].Time.IsZero() {
		t.Fatalf("through WithDeadline = %+v, %v", got, err)
	}
	if got[1].Path != "/directory/signingKeys/rotate" || got[1].Version != cur || got[1].Time.IsZero() {
		t.Fatalf("appended entry = %+v, want version %d", got[1], cur)
	}
}

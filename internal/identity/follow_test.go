package identity_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// countingStore counts the directory's full listings and incremental reads.
type countingStore struct {
	store.Store
	lists, since atomic.Int64
}

func (c *countingStore) List(ctx context.Context, kind, parent string) ([]store.Record, error) {
	if kind == identity.KindApplications || kind == identity.KindUsers {
		c.lists.Add(1)
	}
	return c.Store.List(ctx, kind, parent)
}

func (c *countingStore) Since(ctx context.Context, v int64) ([]store.Record, []string, int64, error) {
	c.since.Add(1)
	return c.Store.Since(ctx, v)
}

// The provider follows configuration changes incrementally: an edit that
// is not the directory's costs no listing, a directory edit is read from
// Since, and a change applied by the follower needs no store read at all.
func TestDirectoryFollowsOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, _ := keyring.NewLocalKEK(make([]byte, 32))
	cs := &countingStore{Store: st}
	e := newEnvOn(t, cs, keyring.New(kek))
	res, client, secret := e.seedClientCredentials()
	ccToken := func() int {
		st, _ := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client.AppID}, "client_secret": {secret}, "scope": {res.AppID + "/.default"}})
		return st
	}
	if st := ccToken(); st != http.StatusOK {
		t.Fatalf("token: %d", st)
	}
	lists := cs.lists.Load()

	// Another kind of record changes: read incrementally, nothing listed.
	if _, err := st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: "/apis/echo", Kind: "apis", Body: []byte(`{"path":"echo"}`)}, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	since := cs.since.Load()
	if st := ccToken(); st != http.StatusOK {
		t.Fatalf("token after an unrelated change: %d", st)
	}
	if cs.since.Load() == since || cs.lists.Load() != lists {
		t.Fatalf("unrelated change: %d incremental reads, %d listings (want >0, 0)", cs.since.Load()-since, cs.lists.Load()-lists)
	}

	// The client is deleted in the store, and the follower delivers the
	// change: the provider applies it without reading anything.
	from := storeVersion(t, st)
	to, err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Delete(ctx, "/directory/applications/client-app")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Apply(ctx, follower.Change{From: from, To: to, Deleted: []string{"/directory/applications/client-app"}}); err != nil {
		t.Fatal(err)
	}
	since = cs.since.Load()
	if st := ccToken(); st != http.StatusUnauthorized {
		t.Fatalf("token of a deleted client: %d", st)
	}
	if cs.since.Load() != since || cs.lists.Load() != lists {
		t.Fatalf("applied change read the store: %d incremental reads, %d listings", cs.since.Load()-since, cs.lists.Load()-lists)
	}

	// A change that starts after the provider's version (a gap): what
	// the provider missed is read from the store.
	s := e.seedAuthCode()
	consoleToken := func() int {
		st, _ := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {s.client.AppID}, "client_secret": {s.secret}, "scope": {s.backend.AppID + "/.default"}})
		return st
	}
	if st := consoleToken(); st != http.StatusOK {
		t.Fatalf("token: %d", st)
	}
	if _, err := st.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "/directory/applications/console-app") }); err != nil {
		t.Fatal(err)
	}
	from = storeVersion(t, st)
	apiRec := store.Record{ID: "/apis/other", Kind: "apis", Body: []byte(`{"path":"other"}`)}
	to, err = st.Update(ctx, func(tx store.Tx) error { _, err := tx.Put(ctx, apiRec, ""); return err })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Apply(ctx, follower.Change{From: from, To: to, Records: []store.Record{apiRec}}); err != nil {
		t.Fatal(err)
	}
	if st := consoleToken(); st != http.StatusUnauthorized {
		t.Fatalf("token of a client deleted in a gap before the applied change: %d", st)
	}
}

func storeVersion(t *testing.T, st store.Store) int64 {
	v, err := st.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

package applications_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tollgate/tollgate/internal/applications"
	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// putApps writes client applications name -> owner (and, for each, one
// product link) in one configuration version.
func putApps(ctx context.Context, st store.Store, apps map[string]string) (int64, error) {
	return st.Update(ctx, func(tx store.Tx) error {
		for name, owner := range apps {
			id := "/clientApplications/" + name
			body := fmt.Sprintf(`{"name":%q,"displayName":%q,"ownerId":%q,"state":"active"}`, name, name, owner)
			if _, err := tx.Put(ctx, store.Record{ID: id, Kind: applications.KindClientApplications, Body: []byte(body)}, ""); err != nil {
				return err
			}
			link := store.Record{ID: id + "/productLinks/starter", Kind: applications.KindProductLinks, Parent: id, Body: []byte(`{"productId":"/products/starter"}`)}
			if _, err := tx.Put(ctx, link, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

func names(t *testing.T, svc *applications.Service, user string) []string {
	t.Helper()
	apps, err := svc.ListOwnApplications(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, a := range apps {
		if !reflect.DeepEqual(a.Products, []string{"/products/starter"}) {
			t.Fatalf("%s: products %v", a.ID, a.Products)
		}
		out = append(out, a.Name)
	}
	return out
}

// The index of applications by owner follows creations, reassignments and
// deletions as soon as the follower has synced the version that made them
// (what the management API waits for before it answers), and gives what a
// read of every application gives.
func TestListOwnApplicationsFollowsChanges(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		indexed := applications.New(applications.Options{Store: st})
		scanning := applications.New(applications.Options{Store: st}) // never subscribed: reads every application
		f := follower.New(follower.Options{Source: st})
		f.Subscribe(indexed)
		if _, err := putApps(ctx, st, map[string]string{"a1": "/users/alice", "b1": "/users/bob"}); err != nil {
			t.Fatal(err)
		}
		v, err := st.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(ctx, v); err != nil {
			t.Fatal(err)
		}
		check := func(step, user string, want ...string) {
			t.Helper()
			if want == nil {
				want = []string{}
			}
			if got := names(t, indexed, user); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %s owns %v, want %v", step, user, got, want)
			}
			if got := names(t, scanning, user); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: scanning: %s owns %v, want %v", step, user, got, want)
			}
		}
		check("first load", "/users/alice", "a1")
		check("first load", "/users/bob", "b1")

		sync := func(v int64, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		// Created, and reassigned from bob to alice.
		sync(putApps(ctx, st, map[string]string{"a0": "/users/alice", "b1": "/users/alice"}))
		check("create and reassign", "/users/alice", "a0", "a1", "b1")
		check("create and reassign", "/users/bob")
		// A product link changing does not move its application.
		sync(st.Update(ctx, func(tx store.Tx) error {
			return tx.Delete(ctx, "/clientApplications/a1/productLinks/starter")
		}))
		sync(st.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Put(ctx, store.Record{ID: "/clientApplications/a1/productLinks/starter", Kind: applications.KindProductLinks,
				Parent: "/clientApplications/a1", Body: []byte(`{"productId":"/products/starter"}`)}, "")
			return err
		}))
		check("link", "/users/alice", "a0", "a1", "b1")
		// Deleted.
		sync(st.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.DeleteTree(ctx, "/clientApplications/a0"); err != nil {
				return err
			}
			return tx.Delete(ctx, "/clientApplications/a0")
		}))
		check("delete", "/users/alice", "a1", "b1")
		check("delete", "/users/nobody")
	})
}

// BenchmarkListOwnApplications lists one developer's applications among
// 10,000 (1,000 owners of 10 each) on SQLite, with the index the follower
// keeps and, for comparison, by reading every application.
func BenchmarkListOwnApplications(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	apps := map[string]string{}
	for i := range 10000 {
		apps[fmt.Sprintf("app%05d", i)] = fmt.Sprintf("/users/dev%04d", i%1000)
	}
	v, err := putApps(ctx, st, apps)
	if err != nil {
		b.Fatal(err)
	}
	indexed := applications.New(applications.Options{Store: st})
	f := follower.New(follower.Options{Source: st})
	f.Subscribe(indexed)
	if err := f.Sync(ctx, v); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		svc  *applications.Service
	}{{"index", indexed}, {"scan", applications.New(applications.Options{Store: st})}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				got, err := bc.svc.ListOwnApplications(ctx, fmt.Sprintf("/users/dev%04d", i%1000))
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != 10 {
					b.Fatalf("%d applications, want 10", len(got))
				}
			}
		})
	}
}

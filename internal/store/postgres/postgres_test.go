package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

func testDSN(t *testing.T) (string, *pgx.Conn) { return storetest.PostgresDSN(t) }

func open(t *testing.T, dsn string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, store.Store) {
		dsn, _ := testDSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

func TestSinceConformance(t *testing.T) {
	storetest.RunSince(t, func(t *testing.T, retain int64) store.Store {
		dsn, _ := testDSN(t)
		return open(t, dsn, WithRetainedVersions(retain))
	})
}

func TestSchemaTooNew(t *testing.T) {
	dsn, admin := testDSN(t)
	open(t, dsn).Close()
	if _, err := admin.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of newer database: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "database schema version 7 is newer than this Tollgate (knows up to 3); upgrade Tollgate") {
		t.Fatalf("message %q", err)
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dsn, admin := testDSN(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	var n, max int
	if err := admin.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || max != len(migrations) {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, max, len(migrations))
	}
	var v int64
	if err := admin.QueryRow(t.Context(), `SELECT version FROM config_version`).Scan(&v); err != nil || v != 0 {
		t.Fatalf("config version %d, %v after concurrent migrations", v, err)
	}
}

func TestTablesInSearchPathSchema(t *testing.T) {
	dsn, admin := testDSN(t)
	open(t, dsn)
	var schemas []string
	rows, err := admin.Query(t.Context(), `SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'config_records'`)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var want string
	admin.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&want)
	found := false
	for _, s := range schemas {
		found = found || s == want
		if s == "public" {
			t.Errorf("tables created in public")
		}
	}
	if !found {
		t.Fatalf("config_records in %v, want %s", schemas, want)
	}
}

func waitVersion(t *testing.T, ch <-chan int64, want int64) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case v := <-ch:
			if v >= want {
				return
			}
		case <-timeout:
			t.Fatalf("version %d not delivered", want)
		}
	}
}

func putOne(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	v, err := s.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.Put(t.Context(), store.Record{ID: id, Kind: "apis", Body: []byte("{}")}, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// With polling slowed to an hour, only NOTIFY (or the catch-up read when
// the listener connects) can carry b's write to a.
func TestChangesByNotify(t *testing.T) {
	dsn, _ := testDSN(t)
	a := open(t, dsn, WithPollInterval(time.Hour))
	b := open(t, dsn, WithPollInterval(time.Hour))
	ch := a.Changes(t.Context())
	for i := range 3 {
		waitVersion(t, ch, putOne(t, b, "/apis/"+string(rune('a'+i))))
	}
}

// A NOTIFY from another schema's Tollgate in the same database must not be
// taken for a change here.
func TestNotifyFromOtherSchemaIgnored(t *testing.T) {
	dsnA, _ := testDSN(t)
	dsnB, _ := testDSN(t)
	a := open(t, dsnA, WithPollInterval(time.Hour))
	other := open(t, dsnB, WithPollInterval(time.Hour))
	ch := a.Changes(t.Context())
	putOne(t, other, "/apis/x")
	putOne(t, other, "/apis/y")
	v := putOne(t, open(t, dsnA), "/apis/a")
	select {
	case got := <-ch:
		if got != v {
			t.Fatalf("delivered %d, want %d (this schema's version)", got, v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("change not delivered")
	}
}

// When the LISTEN connection is killed, changes still arrive (by polling,
// then by the reconnected listener).
func TestChangesAfterListenerDrops(t *testing.T) {
	dsn, admin := testDSN(t)
	a := open(t, dsn, WithPollInterval(50*time.Millisecond))
	b := open(t, dsn)
	ch := a.Changes(t.Context())
	waitVersion(t, ch, putOne(t, b, "/apis/first"))
	deadline := time.Now().Add(15 * time.Second)
	for a.listenerPID.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("listener never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid := a.listenerPID.Load()
	if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, ch, putOne(t, b, "/apis/second"))
	for a.listenerPID.Load() == 0 || a.listenerPID.Load() == pid {
		if time.Now().After(deadline) {
			t.Fatal("listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitVersion(t, ch, putOne(t, b, "/apis/third"))
}

func TestSweepDeletesRows(t *testing.T) {
	dsn, admin := testDSN(t)
	s := open(t, dsn)
	st := s.State()
	for _, r := range []store.StateRecord{
		{Key: "dead", Value: []byte("x"), Expires: time.Now().Add(-time.Second)},
		{Key: "live", Value: []byte("x"), Expires: time.Now().Add(time.Hour)},
	} {
		if err := st.Put(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	var keys string
	if err := admin.QueryRow(t.Context(), `SELECT string_agg(key, ',') FROM state_records`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != "live" {
		t.Fatalf("rows after Sweep: %q, want live", keys)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := Open(t.Context(), "postgres://tollgate:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an unreachable database succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error shows the password: %v", err)
	}
	t.Log(err)
}

// benchStore opens a store in a fresh schema for a benchmark.
func benchStore(b *testing.B) *Store {
	base := os.Getenv("TOLLGATE_TEST_POSTGRES")
	if base == "" {
		b.Skip("TOLLGATE_TEST_POSTGRES is not set")
	}
	var r [8]byte
	rand.Read(r[:])
	schema := "tg_test_" + hex.EncodeToString(r[:])
	admin, err := pgx.Connect(b.Context(), base)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(b.Context(), "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := Open(b.Context(), u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkUpdate(b *testing.B) {
	s := benchStore(b)
	body := []byte(`{"displayName":"Echo","path":"echo","serviceUrl":"http://127.0.0.1:9000"}`)
	for i := 0; b.Loop(); i++ {
		if _, err := s.Update(b.Context(), func(tx store.Tx) error {
			_, err := tx.Put(b.Context(), store.Record{ID: "/apis/a" + strconv.Itoa(i%100), Kind: "apis", Body: body}, "")
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAll1000(b *testing.B) {
	s := benchStore(b)
	body := []byte(`{"displayName":"Echo","path":"echo","serviceUrl":"http://127.0.0.1:9000"}`)
	if _, err := s.Update(b.Context(), func(tx store.Tx) error {
		for i := range 1000 {
			if _, err := tx.Put(b.Context(), store.Record{ID: "/apis/a" + strconv.Itoa(i), Kind: "apis", Body: body}, ""); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if recs, _, err := s.All(b.Context()); err != nil || len(recs) != 1000 {
			b.Fatal(len(recs), err)
		}
	}
}

func BenchmarkStateCreateTake(b *testing.B) {
	s := benchStore(b)
	st := s.State()
	for b.Loop() {
		if err := st.Create(b.Context(), store.StateRecord{Key: "code/x", Value: []byte("grant"), Expires: time.Now().Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Take(b.Context(), "code/x"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMigrateFromSchema1: a database written by a Tollgate that knew only
// the first migration keeps its records, and Since answers from the
// version it was at onwards.
func TestMigrateFromSchema1(t *testing.T) {
	dsn, admin := testDSN(t)
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		migrations[0],
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO config_records (id, kind, parent, body, etag, version, updated) VALUES ('/apis/old', 'apis', '', '{}', '7-x', 7, now())`,
		`UPDATE config_version SET version = 7`,
	} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := open(t, dsn)
	recs, v, err := s.All(t.Context())
	if err != nil || v != 7 || len(recs) != 1 || recs[0].ID != "/apis/old" {
		t.Fatalf("All after migration: %v %d %v", recs, v, err)
	}
	changed, deleted, cur, err := s.Since(t.Context(), 0)
	if err != nil || cur != 7 || len(changed) != 1 || len(deleted) != 0 {
		t.Fatalf("Since(0) after migration: %d changed, %v deleted, version %d, %v", len(changed), deleted, cur, err)
	}
	if _, err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Delete(t.Context(), "/apis/old") }); err != nil {
		t.Fatal(err)
	}
	changed, deleted, cur, err = s.Since(t.Context(), 7)
	if err != nil || cur != 8 || len(changed) != 0 || strings.Join(deleted, " ") != "/apis/old" {
		t.Fatalf("Since(7) after a delete: %d changed, %v deleted, version %d, %v", len(changed), deleted, cur, err)
	}
}

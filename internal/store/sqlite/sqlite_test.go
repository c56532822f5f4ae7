package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

func openTemp(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tollgate.db")
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, store.Store) {
		s, _ := openTemp(t)
		return s, nil // the lock forbids a second handle
	})
}

func TestSinceConformance(t *testing.T) {
	storetest.RunSince(t, func(t *testing.T, retain int64) store.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tollgate.db"), WithRetainedVersions(retain))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// rawDB opens the file without the Store, as an admin tool would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSecondOpenRefused(t *testing.T) {
	s, path := openTemp(t)
	_, err := Open(t.Context(), path)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	want := "database " + path + " is in use by another Tollgate process (lock file " + path + ".lock)"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestSecondProcessRefused runs this test binary again as a second process
// (lockHelperEnv tells it to just Open) while this one holds the database.
const lockHelperEnv = "TOLLGATE_SQLITE_LOCK_HELPER"

func TestSecondProcessRefused(t *testing.T) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		s, err := Open(context.Background(), path)
		if err != nil {
			os.Stdout.WriteString("open failed: " + err.Error() + "\n")
			os.Exit(3)
		}
		s.Close()
		os.Stdout.WriteString("opened\n")
		os.Exit(0)
	}
	s, path := openTemp(t)
	child := func() (string, int) {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSecondProcessRefused$")
		cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run child: %v", err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := child()
	if code != 3 || !strings.Contains(out, "is in use by another Tollgate process") {
		t.Fatalf("child Open while held: exit %d, output %q", code, out)
	}
	s.Close()
	out, code = child()
	if code != 0 || !strings.Contains(out, "opened") {
		t.Fatalf("child Open after Close: exit %d, output %q", code, out)
	}
}

func TestUnusablePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "tollgate.db")
	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open under a file: %v; want the path and the reason", err)
	}
	t.Log(err)
}

func TestUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tollgate.db")
	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Open in read-only directory: %v; want the path and the reason", err)
	}
	t.Log(err)
}

func TestSchemaTooNew(t *testing.T) {
	s, path := openTemp(t)
	s.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (7, 'future')`); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the refusal must release the lock, so it repeats
		_, err := Open(t.Context(), path)
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("Open of newer database: %v, want ErrSchemaTooNew", err)
		}
		if !strings.Contains(err.Error(), "database schema version 7 is newer than this Tollgate (knows up to 3); upgrade Tollgate") {
			t.Fatalf("message %q", err)
		}
	}
}

func TestMigrationsAndDataSurviveReopen(t *testing.T) {
	s, path := openTemp(t)
	w, v := putOne(t, s, "/apis/a")
	if err := s.State().Put(t.Context(), store.StateRecord{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Get(t.Context(), "/apis/a")
	if err != nil || got.ETag != w.ETag || !got.Updated.Equal(w.Updated) {
		t.Fatalf("after reopen: %+v, %v; want %+v", got, err, w)
	}
	if v2, err := s2.Version(t.Context()); err != nil || v2 != v {
		t.Fatalf("version after reopen %d, %v; want %d", v2, err, v)
	}
	if r, err := s2.State().Get(t.Context(), "k"); err != nil || string(r.Value) != "v" {
		t.Fatalf("state after reopen: %+v, %v", r, err)
	}
	var n, max int
	if err := s2.r.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || max != len(migrations) {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, max, len(migrations))
	}
	var mode string
	if err := s2.r.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v; want wal", mode, err)
	}
}

func putOne(t *testing.T, s *Store, id string) (store.Record, int64) {
	t.Helper()
	var w store.Record
	v, err := s.Update(t.Context(), func(tx store.Tx) error {
		var err error
		w, err = tx.Put(t.Context(), store.Record{ID: id, Kind: "apis", Body: []byte("{}")}, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, v
}

func TestChangesFromAnotherWriter(t *testing.T) {
	s, path := openTemp(t, WithPollInterval(20*time.Millisecond))
	ch := s.Changes(t.Context())
	if _, err := rawDB(t, path).Exec(`UPDATE config_version SET version = 41`); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-ch:
		if v != 41 {
			t.Fatalf("Changes delivered %d, want 41", v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a version written by another connection was not delivered")
	}
}

func TestChangesClosedOnClose(t *testing.T) {
	s, _ := openTemp(t)
	ch := s.Changes(t.Context())
	s.Close()
	if _, ok := <-ch; ok {
		t.Fatal("Changes channel open after Close")
	}
	if _, ok := <-s.Changes(t.Context()); ok {
		t.Fatal("Changes after Close returned an open channel")
	}
}

func TestSweepDeletesRows(t *testing.T) {
	s, _ := openTemp(t)
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
	if err := s.r.QueryRow(`SELECT group_concat(key) FROM state_records`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != "live" {
		t.Fatalf("rows after Sweep: %q, want live", keys)
	}
}

func TestPathNeedingEscapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c %d", "tollgate.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putOne(t, s, "/apis/a")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
}

// With polling slowed to an hour, only in-process notification can deliver
// this Store's own writes.
func TestChangesInProcess(t *testing.T) {
	s, _ := openTemp(t, WithPollInterval(time.Hour))
	ch := s.Changes(t.Context())
	_, v := putOne(t, s, "/apis/a")
	select {
	case got := <-ch:
		if got != v {
			t.Fatalf("Changes delivered %d, want %d", got, v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("own write not delivered")
	}
}

func BenchmarkUpdate(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "tollgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	path := filepath.Join(t.TempDir(), "tollgate.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		migrations[0],
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 'then')`,
		`INSERT INTO config_records (id, kind, parent, body, etag, version, updated) VALUES ('/apis/old', 'apis', '', '{}', '7-x', 7, 0)`,
		`UPDATE config_version SET version = 7`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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

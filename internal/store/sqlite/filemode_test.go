package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

func put(t *testing.T, s *Store, id string) {
	t.Helper()
	if _, err := s.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.Put(t.Context(), store.Record{ID: id, Kind: "apis", Body: []byte(`{}`)}, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

// The database holds password hashes: a new database directory is 0700 and
// the database, -wal and -shm files are 0600 even under a permissive umask,
// and files left with looser modes are tightened on open (issue 9, item 5).
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o002)
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "tollgate.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "/apis/a")
	wantMode(t, dir, 0o700)
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		wantMode(t, p, 0o600)
	}
	s.Close()

	// A database from an older version, or copied in with loose modes.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	s, err = Open(context.Background(), path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, "/apis/b")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, p, 0o600)
		if !strings.Contains(logs.String(), "file="+p) {
			t.Errorf("no log line for tightening %s: %s", p, logs.String())
		}
	}
	if _, err := s.Get(t.Context(), "/apis/a"); err != nil {
		t.Errorf("record written before the modes changed: %v", err)
	}
}

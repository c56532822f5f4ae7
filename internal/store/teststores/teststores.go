// Package teststores opens real, empty stores of every backend for the
// tests of packages built on the store: SQLite always, PostgreSQL when
// TOLLGATE_TEST_POSTGRES is set.
package teststores

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

// Each runs fn as a subtest per backend, with a fresh store closed at
// cleanup.
func Each(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a store in a fresh file.
func SQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Postgres opens a store in a fresh schema, or skips the test when
// TOLLGATE_TEST_POSTGRES is unset.
func Postgres(t *testing.T) store.Store {
	t.Helper()
	dsn, _ := storetest.PostgresDSN(t)
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN creates a schema of its own for the test, dropped at cleanup, and
// returns a DSN whose search_path selects it, with a connection to that
// schema for the test to inspect. It skips the test when
// TOLLGATE_TEST_POSTGRES is unset.
func PostgresDSN(t *testing.T) (dsn string, admin *pgx.Conn) {
	t.Helper()
	base := os.Getenv("TOLLGATE_TEST_POSTGRES")
	if base == "" {
		t.Skip("TOLLGATE_TEST_POSTGRES is not set")
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "tg_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("connect to TOLLGATE_TEST_POSTGRES: %v", err)
	}
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TOLLGATE_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), admin
}

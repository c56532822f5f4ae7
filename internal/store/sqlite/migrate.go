package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// migrations are applied in order and never edited once released: migration
// i+1 is migrations[i]. Add a new entry to change the schema.
//
// Times are INTEGER microseconds since the Unix epoch (UTC), the precision
// PostgreSQL keeps too; a NULL expires_at never expires.
var migrations = []string{
	// 1: configuration records, the configuration version, state records.
	`
CREATE TABLE config_records (
	id      TEXT PRIMARY KEY,
	kind    TEXT NOT NULL,
	parent  TEXT NOT NULL,
	body    BLOB NOT NULL,
	etag    TEXT NOT NULL,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL
);
CREATE INDEX config_records_kind_parent ON config_records (kind, parent, id);

CREATE TABLE config_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE TABLE state_records (
	key        TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	expires_at INTEGER
);
CREATE INDEX state_records_expires ON state_records (expires_at) WHERE expires_at IS NOT NULL;
`,
	// 2: incremental reads (Store.Since): records by version, tombstones of
	// deleted records, and the oldest version Since can answer from.
	`
CREATE INDEX config_records_version ON config_records (version);

CREATE TABLE config_tombstones (
	id      TEXT PRIMARY KEY,
	version INTEGER NOT NULL
);
CREATE INDEX config_tombstones_version ON config_tombstones (version);

ALTER TABLE config_version ADD COLUMN horizon INTEGER NOT NULL DEFAULT 0;
`,
	// 3: the audit log of management changes.
	`
CREATE TABLE audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	app     TEXT NOT NULL,
	kind    TEXT NOT NULL,
	path    TEXT NOT NULL,
	action  TEXT NOT NULL,
	remote  TEXT NOT NULL,
	version INTEGER NOT NULL,
	before  BLOB,
	after   BLOB
);
CREATE INDEX audit_log_at ON audit_log (at);
`,
}

// schemaTooNewError reports a database migrated by a newer Tollgate.
type schemaTooNewError struct{ have, know int }

func (e *schemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this Tollgate (knows up to %d); upgrade Tollgate", e.have, e.know)
}

func (e *schemaTooNewError) Unwrap() error { return store.ErrSchemaTooNew }

// migrate brings the schema up to date in one transaction. db is the writer
// (BEGIN IMMEDIATE), so nothing else writes meanwhile.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return &schemaTooNewError{have: have, know: len(migrations)}
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("apply migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			v, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("record migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/store"
)

// migrations are applied in order and never edited once released: migration
// i+1 is migrations[i]. Add a new entry to change the schema. Unqualified
// names resolve through the connection's search_path, so a schema chosen in
// the DSN holds everything.
//
// Keys use the "C" collation so that ORDER BY and the range in DeleteTree
// compare bytes, as SQLite does, whatever the database's locale.
var migrations = []string{
	// 1: configuration records, the configuration version, state records.
	`
CREATE TABLE config_records (
	id      TEXT COLLATE "C" PRIMARY KEY,
	kind    TEXT COLLATE "C" NOT NULL,
	parent  TEXT COLLATE "C" NOT NULL,
	body    BYTEA NOT NULL,
	etag    TEXT NOT NULL,
	version BIGINT NOT NULL,
	updated TIMESTAMPTZ NOT NULL
);
CREATE INDEX config_records_kind_parent ON config_records (kind, parent, id);

CREATE TABLE config_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE TABLE state_records (
	key        TEXT COLLATE "C" PRIMARY KEY,
	value      BYTEA NOT NULL,
	expires_at TIMESTAMPTZ
);
CREATE INDEX state_records_expires ON state_records (expires_at) WHERE expires_at IS NOT NULL;
`,
	// 2: incremental reads (Store.Since): records by version, tombstones of
	// deleted records, and the oldest version Since can answer from.
	`
CREATE INDEX config_records_version ON config_records (version);

CREATE TABLE config_tombstones (
	id      TEXT COLLATE "C" PRIMARY KEY,
	version BIGINT NOT NULL
);
CREATE INDEX config_tombstones_version ON config_tombstones (version);

ALTER TABLE config_version ADD COLUMN horizon BIGINT NOT NULL DEFAULT 0;
`,
	// 3: the audit log of management changes.
	`
CREATE TABLE audit_log (
	id      BIGSERIAL PRIMARY KEY,
	at      TIMESTAMPTZ NOT NULL,
	actor   TEXT NOT NULL,
	app     TEXT NOT NULL,
	kind    TEXT NOT NULL,
	path    TEXT COLLATE "C" NOT NULL,
	action  TEXT NOT NULL,
	remote  TEXT NOT NULL,
	version BIGINT NOT NULL,
	before  BYTEA,
	after   BYTEA
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

// migrate brings the schema up to date in one transaction. The advisory
// lock (per schema) makes nodes starting together take turns: the first
// migrates, the others then find nothing to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback(ctx)

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('tollgate.migrate.' || coalesce(current_schema(), '')))`); err != nil {
		return fmt.Errorf("lock for migration: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return &schemaTooNewError{have: have, know: len(migrations)}
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("apply migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			return fmt.Errorf("record migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

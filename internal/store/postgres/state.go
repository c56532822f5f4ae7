package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/store"
)

// stateStore is the store.StateStore of a Store. Expiry is judged by this
// node's clock, the clock that computed the expiry times.
type stateStore struct{ pool *pgxpool.Pool }

// live is the condition for a record that has not expired at $now, given
// as the statement's last parameter (numbered in each statement).
func live(now string) string { return `(expires_at IS NULL OR expires_at > ` + now + `)` }

// expiresArg is the stored form of an expiry: NULL for never.
func expiresArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func value(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanState(row pgx.Row) (store.StateRecord, error) {
	var rec store.StateRecord
	var expires *time.Time
	if err := row.Scan(&rec.Key, &rec.Value, &expires); err != nil {
		return store.StateRecord{}, err
	}
	if expires != nil {
		rec.Expires = expires.UTC()
	}
	return rec, nil
}

func (st stateStore) Get(ctx context.Context, key string) (store.StateRecord, error) {
	rec, err := scanState(st.pool.QueryRow(ctx,
		`SELECT key, value, expires_at FROM state_records WHERE key = $1 AND `+live("$2"), key, time.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.StateRecord{}, fmt.Errorf("state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("get state %q: %w", key, err)
	}
	return rec, nil
}

func (st stateStore) Put(ctx context.Context, rec store.StateRecord) error {
	if _, err := st.pool.Exec(ctx, `INSERT INTO state_records (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
		rec.Key, value(rec.Value), expiresArg(rec.Expires)); err != nil {
		return fmt.Errorf("put state %q: %w", rec.Key, err)
	}
	return nil
}

// Create inserts, or replaces an expired record: an expired lease does not
// block a new one. The upsert is one atomic statement.
func (st stateStore) Create(ctx context.Context, rec store.StateRecord) error {
	tag, err := st.pool.Exec(ctx, `INSERT INTO state_records (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
		WHERE state_records.expires_at IS NOT NULL AND state_records.expires_at <= $4`,
		rec.Key, value(rec.Value), expiresArg(rec.Expires), time.Now())
	if err != nil {
		return fmt.Errorf("create state %q: %w", rec.Key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create state %q: it exists: %w", rec.Key, store.ErrConflict)
	}
	return nil
}

func (st stateStore) CompareAndSwap(ctx context.Context, key string, old []byte, rec store.StateRecord) error {
	// The row lock makes "compare" and "swap" one step; a concurrent swap
	// waits and then compares against the value this one wrote.
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var current []byte
		err := tx.QueryRow(ctx, `SELECT value FROM state_records WHERE key = $1 AND `+live("$2")+` FOR UPDATE`,
			key, time.Now()).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(current, old) {
			return fmt.Errorf("value changed: %w", store.ErrConflict)
		}
		_, err = tx.Exec(ctx, `UPDATE state_records SET value = $2, expires_at = $3 WHERE key = $1`,
			key, value(rec.Value), expiresArg(rec.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("compare and swap state %q: %w", key, err)
	}
	return nil
}

func (st stateStore) Take(ctx context.Context, key string) (store.StateRecord, error) {
	rec, err := scanState(st.pool.QueryRow(ctx,
		`DELETE FROM state_records WHERE key = $1 AND `+live("$2")+` RETURNING key, value, expires_at`, key, time.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.StateRecord{}, fmt.Errorf("take state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("take state %q: %w", key, err)
	}
	return rec, nil
}

func (st stateStore) Delete(ctx context.Context, key string) error {
	tag, err := st.pool.Exec(ctx, `DELETE FROM state_records WHERE key = $1 AND `+live("$2"), key, time.Now())
	if err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete state %q: %w", key, store.ErrNotFound)
	}
	return nil
}

func (st stateStore) List(ctx context.Context, prefix string) ([]store.StateRecord, error) {
	rows, err := st.pool.Query(ctx, `SELECT key, value, expires_at FROM state_records
		WHERE starts_with(key, $1) AND `+live("$2")+` ORDER BY key`, prefix, time.Now())
	if err != nil {
		return nil, fmt.Errorf("list state %q: %w", prefix, err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StateRecord, error) { return scanState(row) })
	if err != nil {
		return nil, fmt.Errorf("list state %q: %w", prefix, err)
	}
	return recs, nil
}

func (st stateStore) Sweep(ctx context.Context) error {
	if _, err := st.pool.Exec(ctx, `DELETE FROM state_records WHERE expires_at <= $1`, time.Now()); err != nil {
		return fmt.Errorf("sweep state: %w", err)
	}
	return nil
}

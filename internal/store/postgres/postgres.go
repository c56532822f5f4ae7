// Package postgres is the store.Store backend for several nodes sharing one
// PostgreSQL database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/store"
)

// channel is the NOTIFY channel Update announces new versions on.
const channel = "tollgate_config"

// Store is a store.Store on a PostgreSQL database (the schema is the DSN's
// search_path).
type Store struct {
	pool *pgxpool.Pool
	// listenCfg opens the dedicated LISTEN connection, outside the pool.
	listenCfg *pgx.ConnConfig
	name      string // "database D on H:P", for messages; never the DSN (it may hold a password)
	hub       *store.Hub
	log       *slog.Logger

	pollEvery   time.Duration
	retain      int64 // how many versions of deletions Since can answer for
	listening   atomic.Bool
	listenerPID atomic.Uint32 // backend PID of the LISTEN connection, 0 if none
	stop        context.CancelFunc
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger for background problems (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithPollInterval sets how often the version is polled while the LISTEN
// connection is down (default two seconds). While it is up, the version is
// still polled every 15 intervals, in case a notification was lost.
func WithPollInterval(d time.Duration) Option { return func(s *Store) { s.pollEvery = d } }

// WithRetainedVersions sets how many configuration versions back Since can
// answer (default store.DefaultRetainedVersions); older tombstones are
// pruned.
func WithRetainedVersions(n int64) Option { return func(s *Store) { s.retain = max(n, 1) } }

// Open connects to the database named by dsn (a postgres:// URL or keyword
// string; search_path picks the schema), applies migrations and starts
// listening for changes from other nodes.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err) // pgx redacts the password
	}
	s := &Store{
		listenCfg: cfg.ConnConfig.Copy(),
		name:      fmt.Sprintf("database %s on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port),
		log:       slog.Default(),
		pollEvery: 2 * time.Second,
		retain:    store.DefaultRetainedVersions,
	}
	for _, o := range opts {
		o(s)
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	v, err := s.Version(ctx)
	if err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	s.hub = store.NewHub(v)
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(2)
	go s.listen(bg)
	go s.poll(bg)
	return s, nil
}

// Close stops listening and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.wg.Wait()
		s.hub.Close()
		s.pool.Close()
	})
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.name, err)
	}
	return nil
}

// Version returns the current configuration version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM config_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read configuration version: %w", err)
	}
	return v, nil
}

// Changes delivers versions written by any node after the call until ctx
// ends or the Store is closed; then the channel is closed.
func (s *Store) Changes(ctx context.Context) <-chan int64 { return s.hub.Subscribe(ctx) }

// State returns the runtime state records.
func (s *Store) State() store.StateStore { return stateStore{s.pool} }

// catchUp reads the version and hands it to subscribers if it is new. A
// notification only says "look": channels are per database, not per schema,
// so it may come from another schema's Tollgate.
func (s *Store) catchUp(ctx context.Context) {
	v, err := s.Version(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("read configuration version", "database", s.name, "err", err)
		}
		return
	}
	s.hub.Publish(v)
}

// listen keeps a LISTEN connection open, reconnecting after failures.
func (s *Store) listen(ctx context.Context) {
	defer s.wg.Done()
	for {
		err := s.listenOnce(ctx)
		s.listening.Store(false)
		s.listenerPID.Store(0)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("configuration change listener lost; polling until it reconnects", "database", s.name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.pollEvery):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.listenCfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.listenerPID.Store(conn.PgConn().PID())
	s.listening.Store(true)
	s.catchUp(ctx) // versions written while nobody listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		s.catchUp(ctx)
	}
}

// poll re-reads the version every interval while the listener is down, and
// every 15 intervals while it is up.
func (s *Store) poll(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.pollEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.listening.Load() && time.Since(last) < 15*s.pollEvery {
			continue
		}
		last = time.Now()
		s.catchUp(ctx)
	}
}

// querier is what the pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const recordColumns = `id, kind, parent, body, etag, version, updated`

func scanRecord(row pgx.Row) (store.Record, error) {
	var rec store.Record
	if err := row.Scan(&rec.ID, &rec.Kind, &rec.Parent, &rec.Body, &rec.ETag, &rec.Version, &rec.Updated); err != nil {
		return store.Record{}, err
	}
	rec.Updated = rec.Updated.UTC()
	return rec, nil
}

func getRecord(ctx context.Context, q querier, id string) (store.Record, error) {
	rec, err := scanRecord(q.QueryRow(ctx, `SELECT `+recordColumns+` FROM config_records WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, fmt.Errorf("record %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("get record %q: %w", id, err)
	}
	return rec, nil
}

func listRecords(ctx context.Context, q querier, kind, parent string) ([]store.Record, error) {
	query := `SELECT ` + recordColumns + ` FROM config_records WHERE kind = $1 ORDER BY id`
	args := []any{kind}
	if parent != "" {
		query = `SELECT ` + recordColumns + ` FROM config_records WHERE kind = $1 AND parent = $2 ORDER BY id`
		args = append(args, parent)
	}
	recs, err := queryRecords(ctx, q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %q under %q: %w", kind, parent, err)
	}
	return recs, nil
}

func queryRecords(ctx context.Context, q querier, query string, args ...any) ([]store.Record, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Record, error) { return scanRecord(row) })
}

// Get returns the committed record with the given ID.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	return getRecord(ctx, s.pool, id)
}

// List returns the committed records of one kind (under parent if non-empty),
// ordered by ID.
func (s *Store) List(ctx context.Context, kind, parent string) ([]store.Record, error) {
	return listRecords(ctx, s.pool, kind, parent)
}

// All returns every record and the version they form, from one
// repeatable-read snapshot.
func (s *Store) All(ctx context.Context) ([]store.Record, int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("read all records: %w", err)
	}
	defer tx.Rollback(ctx)
	var v int64
	if err := tx.QueryRow(ctx, `SELECT version FROM config_version`).Scan(&v); err != nil {
		return nil, 0, fmt.Errorf("read all records: version: %w", err)
	}
	recs, err := queryRecords(ctx, tx, `SELECT `+recordColumns+` FROM config_records ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("read all records: %w", err)
	}
	return recs, v, nil
}

// Since returns what changed after version; see store.Store. It reads from
// one repeatable-read snapshot.
func (s *Store) Since(ctx context.Context, version int64) ([]store.Record, []string, int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: %w", version, err)
	}
	defer tx.Rollback(ctx)
	var current, horizon int64
	if err := tx.QueryRow(ctx, `SELECT version, horizon FROM config_version`).Scan(&current, &horizon); err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: version: %w", version, err)
	}
	if version < horizon || version > current {
		return nil, nil, current, fmt.Errorf("read changes since version %d (history %d to %d): %w", version, horizon, current, store.ErrTooOld)
	}
	recs, err := queryRecords(ctx, tx, `SELECT `+recordColumns+` FROM config_records WHERE version > $1 ORDER BY id`, version)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read changes since version %d: %w", version, err)
	}
	rows, err := tx.Query(ctx, `SELECT id FROM config_tombstones WHERE version > $1 ORDER BY id`, version)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read deletions since version %d: %w", version, err)
	}
	deleted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read deletions since version %d: %w", version, err)
	}
	return recs, deleted, current, nil
}

// Update runs fn in one transaction; see store.Store. It first locks the
// version row, so Updates from every node run one at a time: what fn reads
// (a uniqueness check, an ETag) still holds when it commits.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin update: %w", err)
	}
	defer tx.Rollback(ctx)
	var current int64
	if err := tx.QueryRow(ctx, `SELECT version FROM config_version FOR UPDATE`).Scan(&current); err != nil {
		return 0, fmt.Errorf("begin update: lock version: %w", err)
	}
	t := &txn{tx: tx, next: current + 1}
	if err := fn(t); err != nil {
		return 0, err
	}
	if !t.wrote {
		return current, nil // the deferred rollback releases the lock
	}
	// Tombstones older than the retained history go, and Since refuses
	// versions before it from now on.
	horizon := max(t.next-s.retain, 0)
	if _, err := tx.Exec(ctx, `DELETE FROM config_tombstones WHERE version <= $1`, horizon); err != nil {
		return 0, fmt.Errorf("prune tombstones: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE config_version SET version = $1, horizon = GREATEST(horizon, $2)`, t.next, horizon); err != nil {
		return 0, fmt.Errorf("bump configuration version: %w", err)
	}
	// Delivered to listeners on commit, and only if it commits.
	if _, err := tx.Exec(ctx, `SELECT pg_notify('`+channel+`', $1)`, strconv.FormatInt(t.next, 10)); err != nil {
		return 0, fmt.Errorf("notify configuration change: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit update: %w", err)
	}
	s.hub.Publish(t.next)
	return t.next, nil
}

// txn is the store.Tx of one Update. Every write in it carries next, the
// version the Update will commit.
type txn struct {
	tx    pgx.Tx
	next  int64
	wrote bool
}

func (t *txn) Get(ctx context.Context, id string) (store.Record, error) {
	return getRecord(ctx, t.tx, id)
}

func (t *txn) List(ctx context.Context, kind, parent string) ([]store.Record, error) {
	return listRecords(ctx, t.tx, kind, parent)
}

func (t *txn) Put(ctx context.Context, rec store.Record, ifMatch string) (store.Record, error) {
	if rec.ID == "" || rec.Kind == "" {
		return store.Record{}, fmt.Errorf("put record %q: ID and Kind are required", rec.ID)
	}
	var current string
	err := t.tx.QueryRow(ctx, `SELECT etag FROM config_records WHERE id = $1`, rec.ID).Scan(&current)
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, fmt.Errorf("put record %q: %w", rec.ID, err)
	}
	if err := store.CheckIfMatch(rec.ID, ifMatch, exists, current); err != nil {
		return store.Record{}, err
	}
	rec.ETag = store.NewETag(t.next)
	rec.Version = t.next
	rec.Updated = time.Now().UTC().Truncate(time.Microsecond)
	if rec.Body == nil {
		rec.Body = []byte{}
	}
	if !exists {
		// Re-created: it is no longer deleted.
		if _, err := t.tx.Exec(ctx, `DELETE FROM config_tombstones WHERE id = $1`, rec.ID); err != nil {
			return store.Record{}, fmt.Errorf("put record %q: clear tombstone: %w", rec.ID, err)
		}
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO config_records (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, parent = EXCLUDED.parent, body = EXCLUDED.body,
			etag = EXCLUDED.etag, version = EXCLUDED.version, updated = EXCLUDED.updated`,
		rec.ID, rec.Kind, rec.Parent, rec.Body, rec.ETag, rec.Version, rec.Updated); err != nil {
		return store.Record{}, fmt.Errorf("put record %q: %w", rec.ID, err)
	}
	t.wrote = true
	return rec, nil
}

func (t *txn) Delete(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM config_records WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete record %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete record %q: %w", id, store.ErrNotFound)
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO config_tombstones (id, version) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version`, id, t.next); err != nil {
		return fmt.Errorf("delete record %q: tombstone: %w", id, err)
	}
	t.wrote = true
	return nil
}

// DeleteTree removes the IDs in [prefix+"/", prefix+"0"): '0' follows '/' in
// byte order (the column's collation is "C"), so this is exactly "starts
// with prefix/" and uses the primary key index.
func (t *txn) DeleteTree(ctx context.Context, prefix string) (int, error) {
	if _, err := t.tx.Exec(ctx, `INSERT INTO config_tombstones (id, version)
		SELECT id, $1::bigint FROM config_records WHERE id >= $2 AND id < $3
		ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version`, t.next, prefix+"/", prefix+"0"); err != nil {
		return 0, fmt.Errorf("delete tree %q: tombstones: %w", prefix, err)
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM config_records WHERE id >= $1 AND id < $2`, prefix+"/", prefix+"0")
	if err != nil {
		return 0, fmt.Errorf("delete tree %q: %w", prefix, err)
	}
	n := tag.RowsAffected()
	if n > 0 {
		t.wrote = true
	}
	return int(n), nil
}

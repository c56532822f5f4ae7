package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// ErrUnavailable is wrapped by errors of calls that failed because the
// database could not be reached or did not answer in time (connection
// refused or broken, the call's deadline passed). Request handlers answer
// it with 503 and Retry-After; it says nothing about the data.
var ErrUnavailable = errors.New("database unavailable")

// DefaultCallTimeout is how long one store call on a request path may take
// when WithDeadline is given no duration of its own.
const DefaultCallTimeout = 5 * time.Second

// bulkFactor stretches the deadline of All and Since.
const bulkFactor = 10

// unavailableError keeps the cause's message and chain and adds
// ErrUnavailable to it.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// Unavailable wraps err with ErrUnavailable when it says the database was
// unreachable: a network failure (refused, reset, closed mid-answer) or the
// expiry of the deadline ctx carried. It returns err unchanged otherwise,
// and when the caller itself went away (a cancelled request is not an
// outage).
func Unavailable(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF):
		return &unavailableError{err}
	}
	return err
}

// WithDeadline returns st with every call bounded by timeout (one Update,
// with all its calls inside, counts as one call) and with failures to reach
// the database wrapped in ErrUnavailable. All and Since, which read the
// whole configuration to build snapshots, get bulkFactor times as long.
// Changes and Close are not bounded. A timeout <= 0 means DefaultCallTimeout. Wrapping a store that
// WithDeadline already wrapped replaces the timeout.
func WithDeadline(st Store, timeout time.Duration) Store {
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	if b, ok := st.(*bounded); ok {
		st = b.Store
	}
	return &bounded{Store: st, timeout: timeout}
}

type bounded struct {
	Store
	timeout time.Duration
}

// call runs fn with the call's deadline and classifies its error. The
// deadline is the caller's if that is sooner.
func call[T any](ctx context.Context, timeout time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := fn(ctx)
	return v, Unavailable(ctx, err)
}

func (b *bounded) Get(ctx context.Context, id string) (Record, error) {
	return call(ctx, b.timeout, func(ctx context.Context) (Record, error) { return b.Store.Get(ctx, id) })
}

func (b *bounded) List(ctx context.Context, kind, parent string) ([]Record, error) {
	return call(ctx, b.timeout, func(ctx context.Context) ([]Record, error) { return b.Store.List(ctx, kind, parent) })
}

func (b *bounded) All(ctx context.Context) ([]Record, int64, error) {
	var v int64
	recs, err := call(ctx, bulkFactor*b.timeout, func(ctx context.Context) (r []Record, err error) {
		r, v, err = b.Store.All(ctx)
		return r, err
	})
	return recs, v, err
}

func (b *bounded) Since(ctx context.Context, version int64) ([]Record, []string, int64, error) {
	var deleted []string
	var current int64
	recs, err := call(ctx, bulkFactor*b.timeout, func(ctx context.Context) (r []Record, err error) {
		r, deleted, current, err = b.Store.Since(ctx, version)
		return r, err
	})
	return recs, deleted, current, err
}

// Update bounds the whole transaction: fn's calls on the Tx get the same
// deadline even when fn passes them a context of its own (the request's).
func (b *bounded) Update(ctx context.Context, fn func(Tx) error) (int64, error) {
	return call(ctx, b.timeout, func(ctx context.Context) (int64, error) {
		deadline, _ := ctx.Deadline()
		return b.Store.Update(ctx, func(tx Tx) error { return fn(boundedTx{tx, deadline}) })
	})
}

func (b *bounded) Version(ctx context.Context) (int64, error) {
	return call(ctx, b.timeout, b.Store.Version)
}

func (b *bounded) Ping(ctx context.Context) error {
	_, err := call(ctx, b.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.Store.Ping(ctx) })
	return err
}

func (b *bounded) State() StateStore { return boundedState{b.Store.State(), b.timeout} }

// boundedTx gives every call inside an Update the Update's deadline.
type boundedTx struct {
	tx       Tx
	deadline time.Time
}

func (t boundedTx) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, t.deadline)
}

func (t boundedTx) Get(ctx context.Context, id string) (Record, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	rec, err := t.tx.Get(ctx, id)
	return rec, Unavailable(ctx, err)
}

func (t boundedTx) List(ctx context.Context, kind, parent string) ([]Record, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	recs, err := t.tx.List(ctx, kind, parent)
	return recs, Unavailable(ctx, err)
}

func (t boundedTx) Put(ctx context.Context, rec Record, ifMatch string) (Record, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	rec, err := t.tx.Put(ctx, rec, ifMatch)
	return rec, Unavailable(ctx, err)
}

func (t boundedTx) Delete(ctx context.Context, id string) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return Unavailable(ctx, t.tx.Delete(ctx, id))
}

func (t boundedTx) DeleteTree(ctx context.Context, prefix string) (int, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	n, err := t.tx.DeleteTree(ctx, prefix)
	return n, Unavailable(ctx, err)
}

type boundedState struct {
	st      StateStore
	timeout time.Duration
}

func (s boundedState) Get(ctx context.Context, key string) (StateRecord, error) {
	return call(ctx, s.timeout, func(ctx context.Context) (StateRecord, error) { return s.st.Get(ctx, key) })
}

func (s boundedState) Put(ctx context.Context, rec StateRecord) error {
	return s.do(ctx, func(ctx context.Context) error { return s.st.Put(ctx, rec) })
}

func (s boundedState) Create(ctx context.Context, rec StateRecord) error {
	return s.do(ctx, func(ctx context.Context) error { return s.st.Create(ctx, rec) })
}

func (s boundedState) CompareAndSwap(ctx context.Context, key string, old []byte, rec StateRecord) error {
	return s.do(ctx, func(ctx context.Context) error { return s.st.CompareAndSwap(ctx, key, old, rec) })
}

func (s boundedState) Take(ctx context.Context, key string) (StateRecord, error) {
	return call(ctx, s.timeout, func(ctx context.Context) (StateRecord, error) { return s.st.Take(ctx, key) })
}

func (s boundedState) Delete(ctx context.Context, key string) error {
	return s.do(ctx, func(ctx context.Context) error { return s.st.Delete(ctx, key) })
}

func (s boundedState) List(ctx context.Context, prefix string) ([]StateRecord, error) {
	return call(ctx, s.timeout, func(ctx context.Context) ([]StateRecord, error) { return s.st.List(ctx, prefix) })
}

func (s boundedState) Sweep(ctx context.Context) error {
	return s.do(ctx, s.st.Sweep)
}

func (s boundedState) do(ctx context.Context, fn func(context.Context) error) error {
	_, err := call(ctx, s.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Audit gives the audit write the Update's deadline.
func (t boundedTx) Audit(ctx context.Context, e AuditEntry) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return Unavailable(ctx, Audit(ctx, t.tx, e))
}

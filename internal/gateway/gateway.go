// Package gateway is Tollgate's data plane: it serves the APIs from an
// immutable snapshot of the configuration (routes, operations, subscription
// index, compiled policies), checks subscription keys, runs the policy
// pipeline and forwards requests to backends, including the built-in echo
// backend. See docs/gateway.md for the behaviour users see.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store"
)

// Source is where snapshots are built from; store.Store satisfies it.
type Source interface {
	// All returns every configuration record and the version they form.
	// The caller owns the returned slice: the gateway clears each record's
	// Body once decoded, to keep a rebuild's peak memory down.
	All(ctx context.Context) ([]store.Record, int64, error)
}

// ChangeSource is a Source that can also tell what changed after a version
// (store.Store.Since; store.Store satisfies it). With one, a rebuild reads
// and decodes only what changed since the snapshot served; a ChangeSource
// that answers store.ErrTooOld makes the gateway read everything again.
type ChangeSource interface {
	Source
	Since(ctx context.Context, version int64) (changed []store.Record, deleted []string, current int64, err error)
}

// Options configure a Gateway.
type Options struct {
	Source Source
	// Hasher computes the keyed hash of presented subscription keys;
	// subscription records hold primaryKeyHash/secondaryKeyHash as the
	// lowercase hex of Hasher.Sum(key).
	Hasher *keyring.Hasher
	// Policies compiles policy documents into each snapshot; nil means
	// every call uses the default pipeline (forward, copy the response).
	Policies PolicyCompiler
	// Logger receives the access log and errors; nil means slog.Default().
	Logger *slog.Logger
	// Transport reaches backends; nil means NewTransport().
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BuildTimeout bounds one snapshot build; 0 means one minute.
	BuildTimeout time.Duration
	// AppTokens verifies the application tokens of products with OAuth
	// access; nil refuses them.
	AppTokens TokenValidator
}

// Gateway serves the APIs. Create it with New, bring it up to date with
// Sync (and Run to follow other nodes), and serve it as an http.Handler.
type Gateway struct {
	src          Source
	hasher       *keyring.Hasher
	compiler     PolicyCompiler
	log          *slog.Logger
	transport    http.RoundTripper
	followClient *http.Client
	echo         echoTransport
	now          func() time.Time
	buildTimeout time.Duration
	appTokens    TokenValidator

	snap atomic.Pointer[snapshot]

	mu       sync.Mutex
	building *build // the build in flight, if any

	// cfg is the decoded configuration of the last build, which the next
	// one starts from (nil: read everything). Only the build in flight
	// uses it; builds run one at a time.
	cfg *config
}

// build is one snapshot build that concurrent Syncs share.
type build struct {
	done    chan struct{}
	version int64 // the version built, once done
	err     error
}

// New returns a gateway with no configuration loaded: it answers 503 until
// the first Sync.
func New(opts Options) *Gateway {
	g := &Gateway{
		src:          opts.Source,
		hasher:       opts.Hasher,
		compiler:     opts.Policies,
		log:          opts.Logger,
		transport:    opts.Transport,
		now:          opts.Now,
		buildTimeout: opts.BuildTimeout,
		appTokens:    opts.AppTokens,
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.transport == nil {
		g.transport = NewTransport()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.buildTimeout <= 0 {
		g.buildTimeout = time.Minute
	}
	g.followClient = &http.Client{Transport: g.transport}
	return g
}

// Version returns the configuration version being served (0 before the
// first Sync).
func (g *Gateway) Version() int64 {
	if s := g.snap.Load(); s != nil {
		return s.version
	}
	return 0
}

// Sync makes sure the served snapshot is at least version: if it is older,
// it rebuilds from the source and swaps the new snapshot in before
// returning. Concurrent calls share one build; a build that read a version
// at least as new as the one asked for satisfies every waiter.
func (g *Gateway) Sync(ctx context.Context, version int64) error {
	for attempt := 1; ; attempt++ {
		if s := g.snap.Load(); s != nil && s.version >= version {
			return nil
		}
		g.mu.Lock()
		b := g.building
		if b == nil {
			b = &build{done: make(chan struct{})}
			g.building = b
			// The build outlives any one caller's context: others may be
			// waiting on it.
			go g.runBuild(context.WithoutCancel(ctx), b)
		}
		g.mu.Unlock()
		select {
		case <-b.done:
		case <-ctx.Done():
			return fmt.Errorf("sync gateway to version %d: %w", version, ctx.Err())
		}
		if b.err != nil {
			return fmt.Errorf("sync gateway to version %d: %w", version, b.err)
		}
		if b.version >= version {
			return nil
		}
		// The build we joined may have read the store before our version
		// was written: build again. A second build, necessarily started
		// after we were called, that still reads an older version means
		// the source does not have it.
		if attempt >= 2 {
			return fmt.Errorf("sync gateway to version %d: the configuration source is at version %d", version, b.version)
		}
	}
}

func (g *Gateway) runBuild(ctx context.Context, b *build) {
	defer func() {
		// A bug in a build (e.g. in policy compilation) fails this Sync and
		// keeps the served snapshot; in this goroutine it would otherwise
		// end the process.
		if p := recover(); p != nil {
			g.log.Error("gateway snapshot build panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			b.err = fmt.Errorf("snapshot build panicked: %v", p)
		}
		g.mu.Lock()
		g.building = nil
		g.mu.Unlock()
		close(b.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, g.buildTimeout)
	defer cancel()
	start := time.Now()
	cfg := g.cfg
	// Until this build succeeds there is no configuration to start from:
	// apply changes cfg in place, and a failure leaves it half-changed.
	g.cfg = nil
	var (
		changed []store.Record
		deleted []string
		version int64
		err     error
	)
	cs, incremental := g.src.(ChangeSource)
	if cfg != nil && incremental {
		changed, deleted, version, err = cs.Since(ctx, cfg.version)
		if errors.Is(err, store.ErrTooOld) {
			g.log.Info("gateway configuration history too short; reading all of it", "from", cfg.version, "error", err)
			cfg = nil
		} else if err != nil {
			g.cfg = cfg // untouched
			b.err = fmt.Errorf("read configuration changes since version %d: %w", cfg.version, err)
			return
		} else if version == cfg.version && len(changed) == 0 && len(deleted) == 0 {
			g.cfg = cfg
			b.version = version
			return
		}
	}
	if cfg == nil || !incremental {
		var reuse Policies
		if cur := g.snap.Load(); cur != nil {
			reuse = cur.policies
		}
		cfg = newConfig()
		cfg.apps.tokens = g.appTokens
		cfg.reuse = reuse
		changed, version, err = g.src.All(ctx)
		if err != nil {
			b.err = fmt.Errorf("read configuration: %w", err)
			return
		}
		deleted = nil
	}
	n, full := len(changed)+len(deleted), cfg.fresh
	s, err := cfg.apply(ctx, changed, deleted, version, g.compiler)
	if err != nil {
		b.err = fmt.Errorf("build snapshot of version %d: %w", version, err)
		return
	}
	g.cfg = cfg
	for {
		cur := g.snap.Load()
		if cur != nil && cur.version >= s.version {
			break // never go back
		}
		if g.snap.CompareAndSwap(cur, s) {
			g.log.Info("gateway configuration loaded", "version", s.version,
				"apis", len(s.apis), "records", n, "full", full, "took", time.Since(start))
			break
		}
	}
	b.version = version
}

// Run follows configuration changes (from this node and others) until ctx
// ends, syncing to each new version. A failed sync is retried after a
// pause, so a transient database error does not leave the node behind.
func (g *Gateway) Run(ctx context.Context, changes <-chan int64) {
	const retryAfter = 2 * time.Second
	var want int64
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-changes:
			if !ok {
				changes = nil // keep retrying until ctx ends
				continue
			}
			want = max(want, v)
		case <-retry:
			retry = nil
		}
		if want <= g.Version() {
			continue
		}
		if err := g.Sync(ctx, want); err != nil {
			if ctx.Err() != nil {
				return
			}
			g.log.Error("gateway configuration sync failed", "version", want, "error", err)
			retry = time.After(retryAfter)
		}
	}
}

// Package gateway is Tollgate's data plane: it serves the APIs from an
// immutable snapshot of the configuration (routes, operations, subscription
// index, compiled policies), checks subscription keys, runs the policy
// pipeline and forwards requests to backends, including the built-in echo
// backend. See docs/gateway.md for the behaviour users see.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/keyring"
)

// Source is where a gateway on its own (without a node's follower) builds
// snapshots from; store.Store satisfies it.
type Source = follower.Source

// ChangeSource is a Source that can also tell what changed after a version
// (store.Store.Since); with one, a rebuild reads and decodes only what
// changed.
type ChangeSource = follower.ChangeSource

// Options configure a Gateway.
type Options struct {
	// Source, when set, makes the gateway follow it on its own (Sync and
	// Run); in a server the node's follower delivers changes to Apply
	// instead and Source is nil.
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
	// Transport reaches backends; nil means
	// NewBackendTransport(NewTransport()).
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BuildTimeout bounds one snapshot build when following Source; 0
	// means one minute.
	BuildTimeout time.Duration
	// AppTokens verifies the application tokens of products with OAuth
	// access; nil refuses them.
	AppTokens TokenValidator
	// Observer is told of every answered request (the access log,
	// metrics); nil means an AccessLog to Logger.
	Observer RequestObserver
	// Tracer, when set, starts each request's trace span (an observer
	// ends it); nil turns tracing off.
	Tracer RequestTracer
}

// RequestTracer starts a request's server span: it returns r's context
// with the span, continuing the trace r's traceparent names.
type RequestTracer interface {
	StartRequest(r *http.Request) context.Context
}

// Gateway serves the APIs. Create it with New, subscribe it to the node's
// follower (or give it a Source and bring it up to date with Sync and Run),
// and serve it as an http.Handler.
type Gateway struct {
	// follow is the gateway's own follower of Options.Source (nil without
	// one).
	follow       *follower.Follower
	hasher       *keyring.Hasher
	compiler     PolicyCompiler
	log          *slog.Logger
	transport    http.RoundTripper
	followClient *http.Client
	echo         echoTransport
	now          func() time.Time
	appTokens    TokenValidator
	proxies      proxyTransports // the proxy policy's transports
	observer     RequestObserver
	tracer       RequestTracer

	snap atomic.Pointer[snapshot]

	// cfg is the decoded configuration of the last build, which the next
	// change applies to (nil: only a full change can be applied). Only
	// Apply uses it, and the follower never calls Apply concurrently.
	cfg *config
}

// New returns a gateway with no configuration loaded: it answers 503 until
// the first Sync.
func New(opts Options) *Gateway {
	g := &Gateway{
		hasher:    opts.Hasher,
		compiler:  opts.Policies,
		log:       opts.Logger,
		transport: opts.Transport,
		now:       opts.Now,
		appTokens: opts.AppTokens,
		observer:  opts.Observer,
		tracer:    opts.Tracer,
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.observer == nil {
		g.observer = &AccessLog{Logger: g.log}
	}
	if g.transport == nil {
		g.transport = NewBackendTransport(NewTransport())
	}
	if g.now == nil {
		g.now = time.Now
	}
	if opts.Source != nil {
		g.follow = follower.New(follower.Options{Source: opts.Source, Logger: g.log, StepTimeout: opts.BuildTimeout, Name: "gateway"})
		g.follow.Subscribe(g)
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

// Sync makes sure the served snapshot is at least version, reading from
// Options.Source (see follower.Follower.Sync). A gateway without a Source
// is brought up to date by the follower it subscribes to instead.
func (g *Gateway) Sync(ctx context.Context, version int64) error {
	if g.follow == nil {
		return errors.New("sync gateway: no configuration source (the gateway is fed by a follower)")
	}
	return g.follow.Sync(ctx, version)
}

// Run follows Options.Source's changes until ctx ends (see
// follower.Follower.Run).
func (g *Gateway) Run(ctx context.Context, changes <-chan int64) {
	if g.follow != nil {
		g.follow.Run(ctx, changes)
	}
}

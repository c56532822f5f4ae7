package follower

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// Source is where configuration is read from; store.Store satisfies it.
type Source interface {
	// All returns every configuration record and the version they form.
	All(ctx context.Context) ([]store.Record, int64, error)
}

// ChangeSource is a Source that can also tell what changed after a version
// (store.Store.Since). With one, a step reads only what changed since the
// subscribers' version; one that answers store.ErrTooOld makes the step read
// everything instead.
type ChangeSource interface {
	Source
	Since(ctx context.Context, version int64) (changed []store.Record, deleted []string, current int64, err error)
}

// Options configure a Follower.
type Options struct {
	// Source is read once per step for every subscriber at one version.
	Source Source
	// Logger receives one line per step and errors; nil means slog.Default().
	Logger *slog.Logger
	// StepTimeout bounds one step (reading and every Apply); 0 means one
	// minute.
	StepTimeout time.Duration
	// Name names the follower in logs and errors ("configuration" if
	// empty).
	Name string
}

// Follower is a node's one reader of configuration versions. It reads what
// changed once per step and delivers it, in version order, to every
// subscriber. Sync waits until every subscriber has reached a version; Run
// follows the versions other nodes (and this one) write.
type Follower struct {
	src     Source
	log     *slog.Logger
	timeout time.Duration
	name    string

	mu   sync.Mutex
	subs []*subscription
	// stepping is the step in flight, if any: steps run one at a time, so
	// a subscriber's Apply is never concurrent.
	stepping *step
}

// subscription is one subscriber and where it is.
type subscription struct {
	s       Subscriber
	version int64 // the version applied; 0 before the first load
	loaded  bool  // a change was applied
	// full: the last Apply failed (or none succeeded yet), so the next
	// change must hold every record.
	full bool
}

// step is one read-and-deliver that concurrent Syncs share.
type step struct {
	done    chan struct{}
	version int64 // the lowest version a subscriber is at, once done
	err     error
}

// New returns a follower with no subscribers.
func New(opts Options) *Follower {
	f := &Follower{src: opts.Source, log: opts.Logger, timeout: opts.StepTimeout, name: opts.Name}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.timeout <= 0 {
		f.timeout = time.Minute
	}
	if f.name == "" {
		f.name = "configuration"
	}
	return f
}

// Subscribe adds a subscriber; its first change (on the next step) holds
// every record. Subscribe before the first Sync so that Sync's guarantee
// covers it.
func (f *Follower) Subscribe(s Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, &subscription{s: s, full: true})
}

// Version returns the lowest version a subscriber has reached (0 before
// the first load, or with no subscribers).
func (f *Follower) Version() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.versionLocked()
}

func (f *Follower) versionLocked() int64 {
	var v int64
	for i, s := range f.subs {
		if i == 0 || s.version < v {
			v = s.version
		}
	}
	return v
}

// Sync makes sure every subscriber has applied at least version: if one is
// older, it reads what changed and delivers it before returning.
// Concurrent calls share one step; a step that read a version at least as
// new as the one asked for satisfies every waiter. It is what lets the
// management API answer only once a change is served.
func (f *Follower) Sync(ctx context.Context, version int64) error {
	for attempt := 1; ; attempt++ {
		f.mu.Lock()
		if !f.behindLocked(version) {
			f.mu.Unlock()
			return nil
		}
		st := f.stepping
		if st == nil {
			st = &step{done: make(chan struct{})}
			f.stepping = st
			// The step outlives any one caller's context: others may be
			// waiting on it.
			go f.runStep(context.WithoutCancel(ctx), st)
		}
		f.mu.Unlock()
		select {
		case <-st.done:
		case <-ctx.Done():
			return fmt.Errorf("sync %s to version %d: %w", f.name, version, ctx.Err())
		}
		if st.err != nil {
			return fmt.Errorf("sync %s to version %d: %w", f.name, version, st.err)
		}
		if st.version >= version {
			return nil
		}
		// The step we joined may have read the store before our version
		// was written: step again. A second step, necessarily started
		// after we were called, that still reads an older version means
		// the source does not have it.
		if attempt >= 2 {
			return fmt.Errorf("sync %s to version %d: the configuration source is at version %d", f.name, version, st.version)
		}
	}
}

// behindLocked tells whether a subscriber has not yet applied version (or
// anything at all).
func (f *Follower) behindLocked(version int64) bool {
	for _, s := range f.subs {
		if !s.loaded || s.version < version {
			return true
		}
	}
	return false
}

// Run follows configuration versions (from this node and others) until ctx
// ends, stepping to each new one. A failed step is retried after a pause,
// so a transient database error does not leave the node behind.
func (f *Follower) Run(ctx context.Context, changes <-chan int64) {
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
		if want <= f.Version() {
			continue
		}
		if err := f.Sync(ctx, want); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.log.Error("configuration sync failed", "follower", f.name, "version", want, "error", err)
			retry = time.After(retryAfter)
		}
	}
}

func (f *Follower) runStep(ctx context.Context, st *step) {
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("configuration step panicked", "follower", f.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			st.err = fmt.Errorf("configuration step panicked: %v", p)
		}
		f.mu.Lock()
		f.stepping = nil
		st.version = f.versionLocked()
		f.mu.Unlock()
		close(st.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	st.err = f.step(ctx)
}

// group is the subscribers one read serves: those at one version (an
// incremental read), or those needing every record.
type group struct {
	from int64
	full bool
	subs []*subscription
}

// step reads what changed for each group of subscribers (normally one: all
// at the same version) and delivers it.
func (f *Follower) step(ctx context.Context) error {
	f.mu.Lock()
	var groups []*group
	byVersion := map[int64]*group{}
	var fullGroup *group
	for _, s := range f.subs {
		if s.full {
			if fullGroup == nil {
				fullGroup = &group{full: true}
				groups = append(groups, fullGroup)
			}
			fullGroup.subs = append(fullGroup.subs, s)
			continue
		}
		g := byVersion[s.version]
		if g == nil {
			g = &group{from: s.version}
			byVersion[s.version] = g
			groups = append(groups, g)
		}
		g.subs = append(g.subs, s)
	}
	f.mu.Unlock()
	var errs []error
	for _, g := range groups {
		if err := f.deliver(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deliver reads once for the group and applies the change to each of its
// subscribers, concurrently (each subscriber gets one Apply at a time).
func (f *Follower) deliver(ctx context.Context, g *group) error {
	start := time.Now()
	c := Change{From: g.from, Full: g.full}
	var err error
	if cs, ok := f.src.(ChangeSource); ok && !g.full {
		c.Records, c.Deleted, c.To, err = cs.Since(ctx, g.from)
		if errors.Is(err, store.ErrTooOld) {
			f.log.Info("configuration history too short; reading all of it", "follower", f.name, "from", g.from, "error", err)
			c.Full = true
		} else if err != nil {
			return fmt.Errorf("read configuration changes since version %d: %w", g.from, err)
		} else if c.To == g.from && len(c.Records) == 0 && len(c.Deleted) == 0 {
			return nil // nothing new
		}
	} else {
		c.Full = true
	}
	if c.Full {
		c.Deleted = nil
		if c.Records, c.To, err = f.src.All(ctx); err != nil {
			return fmt.Errorf("read configuration: %w", err)
		}
	}
	errs := make([]error, len(g.subs))
	var wg sync.WaitGroup
	for i, s := range g.subs {
		if !c.Full && s.version >= c.To {
			continue // never go back
		}
		sc := c
		if c.Full {
			sc.From = s.version
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.apply(ctx, s, sc)
		}()
	}
	wg.Wait()
	f.log.Debug("configuration delivered", "follower", f.name, "from", c.From, "to", c.To, "full", c.Full,
		"records", len(c.Records), "deleted", len(c.Deleted), "subscribers", len(g.subs), "took", time.Since(start))
	return errors.Join(errs...)
}

// apply delivers one change to one subscriber, turning a panic into an
// error, and records where the subscriber now is.
func (f *Follower) apply(ctx context.Context, s *subscription, c Change) (err error) {
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("configuration subscriber panicked", "follower", f.name, "subscriber", fmt.Sprintf("%T", s.s),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("apply version %d: subscriber %T panicked: %v", c.To, s.s, p)
		}
		f.mu.Lock()
		if err != nil {
			s.full = true
		} else {
			s.version, s.full, s.loaded = c.To, false, true
		}
		f.mu.Unlock()
	}()
	if err := s.s.Apply(ctx, c); err != nil {
		return fmt.Errorf("apply version %d: %w", c.To, err)
	}
	return nil
}

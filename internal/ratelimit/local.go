package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// numShards splits keys across independently locked maps, so that calls on different
	// keys rarely wait for each other. A power of two.
	numShards = 64
	// DefaultMaxKeys is Local's default key cap.
	DefaultMaxKeys = 1 << 20
	// DefaultSweepInterval is how often Local's janitor evicts expired keys.
	DefaultSweepInterval = time.Minute
	// fullSweepEvery bounds how often a full shard is swept inline when a new key arrives,
	// so that a flood of new keys does not turn every call into a sweep.
	fullSweepEvery = int64(time.Second / time.Microsecond)
)

// LocalOptions configures NewLocal. The zero value is ready to use.
type LocalOptions struct {
	// MaxKeys caps the number of live keys (rate, quota and concurrency together; default
	// DefaultMaxKeys). The cap is split evenly across 64 shards; a new key that finds its
	// shard full, even after evicting expired keys, gets ErrFull. Existing keys keep
	// working.
	MaxKeys int
	// SweepInterval is how often expired keys are evicted in the background (default
	// DefaultSweepInterval).
	SweepInterval time.Duration
	// Clock is the time source (default: the monotonic clock anchored to the wall clock,
	// see the package doc); tests inject one to move windows without sleeping.
	Clock func() time.Time
}

// Local is an in-process Limiter: counts are this process's only. Close it to stop its
// janitor.
type Local struct {
	seed        maphash.Seed
	clock       func() time.Time // nil: the anchored monotonic clock
	anchor      atomic.Pointer[anchor]
	maxPerShard int
	shards      [numShards]shard
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
}

// anchor ties the monotonic clock to the wall clock. Reading time.Since(mono) costs one
// clock read where time.Now costs two, and on the hot path the clock is most of the
// cost. The janitor re-anchors at every sweep, so a stepped wall clock is followed within
// a SweepInterval.
type anchor struct {
	wall int64 // Unix µs at mono
	mono time.Time
}

func newAnchor() *anchor {
	t := time.Now()
	return &anchor{wall: t.UnixMicro(), mono: t}
}

// now is the current time in Unix µs.
func (l *Local) now() int64 {
	if l.clock != nil {
		return l.clock().UnixMicro()
	}
	a := l.anchor.Load()
	return a.wall + int64(time.Since(a.mono)/time.Microsecond)
}

// A shard's maps are keyed by the key's 64-bit hash (the same hash that picked the
// shard, so a call hashes its key once, and a uint64 map is cheaper than a string or
// struct one); entries whose keys hash alike, or that share a key with another kind or
// period, are chained.
type shard struct {
	mu        sync.Mutex
	counters  map[uint64]*counter
	slots     map[uint64]*slot
	n         int   // live entries (counters and slots)
	lastSweep int64 // µs
	// Keep neighbouring shards' locks on different cache lines.
	_ [64]byte
}

// slot is a concurrency semaphore's state.
type slot struct {
	key  string
	held int64
	next *slot
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a Local and starts its janitor.
func NewLocal(opts LocalOptions) *Local {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	l := &Local{
		seed:        maphash.MakeSeed(),
		clock:       opts.Clock,
		maxPerShard: (opts.MaxKeys + numShards - 1) / numShards,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	l.anchor.Store(newAnchor())
	for i := range l.shards {
		s := &l.shards[i]
		s.counters = make(map[uint64]*counter)
		s.slots = make(map[uint64]*slot)
	}
	go l.janitor(opts.SweepInterval)
	return l
}

// Close stops the janitor and waits for it. The Local stays usable (without background
// eviction). Close is idempotent.
func (l *Local) Close() error {
	l.closeOnce.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *Local) janitor(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.anchor.Store(newAnchor())
			l.Sweep()
		}
	}
}

// Sweep evicts every expired key now. The janitor calls it periodically.
func (l *Local) Sweep() {
	for i := range l.shards {
		s := &l.shards[i]
		now := l.now()
		s.mu.Lock()
		s.sweep(now)
		s.mu.Unlock()
	}
}

// Len reports the number of live keys (for metrics and tests): a key used for a rate
// limit and a quota counts twice.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// sweep deletes expired counters; idle slots are deleted on release. Needs s.mu.
func (s *shard) sweep(now int64) {
	s.lastSweep = now
	for h, head := range s.counters {
		kept := head
		for prev, c := (*counter)(nil), head; c != nil; c = c.next {
			if c.expires > now {
				prev = c
				continue
			}
			s.n--
			if prev == nil {
				kept = c.next
			} else {
				prev.next = c.next
			}
		}
		switch {
		case kept == nil:
			delete(s.counters, h)
		case kept != head:
			s.counters[h] = kept
		}
	}
}

// room makes room for one new entry, sweeping when full (at most once per second).
// Needs s.mu.
func (s *shard) room(now int64, maxEntries int) error {
	if s.n < maxEntries {
		return nil
	}
	if now-s.lastSweep >= fullSweepEvery || now < s.lastSweep {
		s.sweep(now)
		if s.n < maxEntries {
			return nil
		}
	}
	return ErrFull
}

// Take implements Limiter.
func (l *Local) Take(_ context.Context, key string, w Window, n int64) (Result, error) {
	if n < 0 {
		return Result{}, fmt.Errorf("%w: negative count %d", ErrInvalid, n)
	}
	return l.do(key, w, n, opTake)
}

// Peek implements Limiter.
func (l *Local) Peek(_ context.Context, key string, w Window) (Result, error) {
	return l.do(key, w, 1, opPeek)
}

// Add implements Limiter.
func (l *Local) Add(_ context.Context, key string, w Window, n int64) (Result, error) {
	return l.do(key, w, n, opAdd)
}

func (l *Local) do(key string, w Window, n int64, o op) (Result, error) {
	if err := w.validate(); err != nil {
		return Result{}, err
	}
	period := micros(w.Period)
	var start int64
	if w.Fixed {
		start = startMicros(w.Start)
	}
	h := maphash.String(l.seed, key)
	s := &l.shards[h&(numShards-1)]
	now := l.now()

	s.mu.Lock()
	c := s.counters[h]
	for c != nil && (c.period != period || c.fixed != w.Fixed || c.start != start || c.key != key) {
		c = c.next
	}
	exists := c != nil
	var fresh counter
	if !exists {
		c = &fresh
	}
	var out outcome
	if w.Fixed {
		out = fixed(c, exists, now, start, period, w.Limit, n, o)
	} else {
		out = slide(c, exists, now, period, w.Limit, n, o)
	}
	// A new key is kept only when something was counted.
	if !exists && c.cur > 0 {
		if err := s.room(now, l.maxPerShard); err != nil {
			s.mu.Unlock()
			return Result{}, fmt.Errorf("count new key: %w", err)
		}
		kept := fresh
		kept.key, kept.fixed, kept.period, kept.start = key, w.Fixed, period, start
		kept.next = s.counters[h]
		s.counters[h] = &kept
		s.n++
	}
	s.mu.Unlock()
	return out.result(w.Limit, period), nil
}

// Acquire implements Limiter. ttl is only validated: a Local slot lives until released.
func (l *Local) Acquire(_ context.Context, key string, max int64, ttl time.Duration) (func(), bool, error) {
	if max < 0 || ttl < time.Millisecond {
		return nil, false, fmt.Errorf("%w: concurrency max %d, ttl %v", ErrInvalid, max, ttl)
	}
	if max == 0 {
		return nil, false, nil
	}
	h := maphash.String(l.seed, key)
	s := &l.shards[h&(numShards-1)]
	s.mu.Lock()
	sl := s.slots[h]
	for sl != nil && sl.key != key {
		sl = sl.next
	}
	if sl == nil {
		if err := s.room(l.now(), l.maxPerShard); err != nil {
			s.mu.Unlock()
			return nil, false, fmt.Errorf("acquire new key: %w", err)
		}
		sl = &slot{key: key, next: s.slots[h]}
		s.slots[h] = sl
		s.n++
	}
	if sl.held >= max {
		s.mu.Unlock()
		return nil, false, nil
	}
	sl.held++
	s.mu.Unlock()

	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		s.mu.Lock()
		if sl.held--; sl.held == 0 {
			s.unlinkSlot(h, sl)
		}
		s.mu.Unlock()
	}, true, nil
}

// unlinkSlot removes an idle slot. Needs s.mu.
func (s *shard) unlinkSlot(h uint64, sl *slot) {
	head := s.slots[h]
	if head == sl {
		if sl.next == nil {
			delete(s.slots, h)
		} else {
			s.slots[h] = sl.next
		}
		s.n--
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == sl {
			p.next = sl.next
			s.n--
			return
		}
	}
}

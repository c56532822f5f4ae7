package jwtvalidate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tollgate/tollgate/internal/urlredact"
)

// KeySetsOptions configure a KeySets cache; zero values take the defaults.
type KeySetsOptions struct {
	// Client fetches discovery documents and key sets. Its own timeout,
	// if any, applies as well as FetchTimeout.
	Client *http.Client
	// RefreshInterval is how often keys are refreshed in the background
	// (default 1 hour).
	RefreshInterval time.Duration
	// UnknownKidMinInterval is how old the last fetch must be before a
	// token whose kid is unknown refetches the keys (default 30 seconds):
	// a key rotated in at the provider is found at once, not at the next
	// scheduled refresh.
	UnknownKidMinInterval time.Duration
	// UnknownKidInterval is the least time between a refetch for an unknown
	// kid that did not find it and the next one (default 5 minutes), so
	// forged kids cannot turn into a storm of requests to the provider.
	UnknownKidInterval time.Duration
	// RetryInterval is the least time between two fetches while a source
	// has never been fetched successfully (default 15 seconds).
	RetryInterval time.Duration
	// FetchTimeout bounds each fetch: discovery and JWKS together
	// (default 10 seconds).
	FetchTimeout time.Duration
	// MaxResponseBytes bounds each response body (default 1 MiB).
	MaxResponseBytes int64
	Logger           *slog.Logger
	Now              func() time.Time
}

// KeySets caches OpenID Connect signing keys by discovery URL. One is made
// per process (by the wiring) and shared by every validator through Deps,
// so many policies naming the same provider share one fetch schedule.
type KeySets struct {
	opts KeySetsOptions
	mu   sync.Mutex
	sets map[string]*keySet
}

// NewKeySets returns an empty cache.
func NewKeySets(opts KeySetsOptions) *KeySets {
	return &KeySets{opts: opts.withDefaults(), sets: map[string]*keySet{}}
}

func (opts KeySetsOptions) withDefaults() KeySetsOptions {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Hour
	}
	if opts.UnknownKidInterval <= 0 {
		opts.UnknownKidInterval = 5 * time.Minute
	}
	if opts.UnknownKidMinInterval <= 0 {
		opts.UnknownKidMinInterval = 30 * time.Second
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 15 * time.Second
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Second
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts
}

// maxKeys bounds how many keys one key set may hold.
const maxKeys = 100

// get returns the key set of a discovery URL, creating it (and starting
// its first fetch in the background) when it is new.
func (ks *KeySets) get(discoveryURL string) *keySet {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if s, ok := ks.sets[discoveryURL]; ok {
		s.touch()
		return s
	}
	s := newKeySet(urlredact.URL(discoveryURL), ks.opts, func(ctx context.Context) ([]jose.JSONWebKey, string, error) {
		return ks.fetch(ctx, discoveryURL)
	})
	s.touch()
	ks.sets[discoveryURL] = s
	return s
}

// Run refreshes every key set when it is due, until ctx ends, and forgets
// key sets no validator has used for two refresh intervals.
func (ks *KeySets) Run(ctx context.Context) error {
	tick := time.NewTicker(min(time.Minute, ks.opts.RefreshInterval/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ks.mu.Lock()
		var due []*keySet
		now := ks.opts.Now()
		for u, s := range ks.sets {
			if now.Sub(time.Unix(0, s.lastUsed.Load())) > 2*ks.opts.RefreshInterval {
				delete(ks.sets, u)
				continue
			}
			if s.due(now) {
				due = append(due, s)
			}
		}
		ks.mu.Unlock()
		for _, s := range due {
			s.refresh(ctx, refreshScheduled)
		}
	}
}

// fetch reads the discovery document, then the key set it names.
func (ks *KeySets) fetch(ctx context.Context, discoveryURL string) ([]jose.JSONWebKey, string, error) {
	ctx, cancel := context.WithTimeout(ctx, ks.opts.FetchTimeout)
	defer cancel()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := ks.getJSON(ctx, discoveryURL, &doc); err != nil {
		return nil, "", fmt.Errorf("openid configuration: %w", urlredact.Error(err, discoveryURL))
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", fmt.Errorf("openid configuration %s: jwks_uri %q is not an absolute http(s) URL", urlredact.URL(discoveryURL), urlredact.URL(doc.JWKSURI))
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := ks.getJSON(ctx, doc.JWKSURI, &set); err != nil {
		return nil, "", fmt.Errorf("jwks: %w", urlredact.Error(err, doc.JWKSURI))
	}
	if len(set.Keys) > maxKeys {
		return nil, "", fmt.Errorf("jwks %s: %d keys, at most %d", urlredact.URL(doc.JWKSURI), len(set.Keys), maxKeys)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		// One key we cannot read (a new key type) must not hide the others.
		if err := k.UnmarshalJSON(raw); err != nil {
			ks.opts.Logger.Warn("jwtvalidate: skipping unreadable key", "jwks", urlredact.URL(doc.JWKSURI), "err", err)
			continue
		}
		keys = append(keys, k)
	}
	return keys, doc.Issuer, nil
}

func (ks *KeySets) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := ks.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return fmt.Errorf("GET %s: status %d", u, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, ks.opts.MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > ks.opts.MaxResponseBytes {
		return fmt.Errorf("GET %s: response larger than %d bytes", u, ks.opts.MaxResponseBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// keyGen is one successful fetch of a key set.
type keyGen struct {
	keys    []*verKey
	issuer  string
	fetched time.Time
}

type refreshReason int

const (
	refreshFirst refreshReason = iota
	refreshScheduled
	refreshUnknownKid
)

// keySet is one source of keys: an OpenID discovery URL, or the built-in
// provider. cur holds the last good keys, kept while the source is down.
type keySet struct {
	name     string
	opts     KeySetsOptions
	fetchFn  func(ctx context.Context) ([]jose.JSONWebKey, string, error)
	cur      atomic.Pointer[keyGen]
	lastUsed atomic.Int64
	// background is set while a stale-keys refresh goroutine runs.
	background atomic.Bool
	// sem serialises fetches; lastAttempt is guarded by it.
	sem         chan struct{}
	lastAttempt time.Time
	lastErr     atomic.Value // error of the last failed fetch
	// lastMiss is when (UnixNano) a refetch for an unknown kid last ended
	// without finding it: the start of the UnknownKidInterval guard.
	lastMiss atomic.Int64
}

func newKeySet(name string, opts KeySetsOptions, fetch func(ctx context.Context) ([]jose.JSONWebKey, string, error)) *keySet {
	return &keySet{name: name, opts: opts, fetchFn: fetch, sem: make(chan struct{}, 1)}
}

func (s *keySet) touch() { s.lastUsed.Store(s.opts.Now().UnixNano()) }

// due reports whether a scheduled refresh should run.
func (s *keySet) due(now time.Time) bool {
	g := s.cur.Load()
	if g == nil {
		return true
	}
	return now.Sub(g.fetched) >= s.opts.RefreshInterval
}

// errRateLimited means a refetch was skipped because one ran recently.
var errRateLimited = errors.New("key set fetched recently")

// refresh fetches the keys unless the reason's interval has not passed
// since the last attempt. Concurrent callers wait for one fetch (or for
// their own ctx) and then see its result.
func (s *keySet) refresh(ctx context.Context, why refreshReason) (*keyGen, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return s.cur.Load(), ctx.Err()
	}
	defer func() { <-s.sem }()
	now := s.opts.Now()
	g := s.cur.Load()
	var wait time.Duration
	switch {
	case g == nil:
		wait = s.opts.RetryInterval
	case why == refreshFirst:
		return g, nil
	case why == refreshUnknownKid:
		wait = s.opts.UnknownKidMinInterval
		if miss := s.lastMiss.Load(); miss != 0 && now.Sub(time.Unix(0, miss)) < s.opts.UnknownKidInterval {
			return g, errRateLimited
		}
	case why == refreshScheduled:
		if !s.due(now) {
			return g, nil
		}
		// After a failed fetch, retry no sooner than RetryInterval, unless
		// the refresh interval itself is shorter.
		wait = min(s.opts.RetryInterval, s.opts.RefreshInterval)
	}
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < wait {
		if g == nil {
			if e, ok := s.lastErr.Load().(error); ok {
				return nil, fmt.Errorf("%w (last attempt: %w)", errRateLimited, e)
			}
		}
		return g, errRateLimited
	}
	s.lastAttempt = now
	// The fetch is shared: one caller going away must not cancel it.
	keys, issuer, err := s.fetchFn(context.WithoutCancel(ctx))
	if err != nil {
		s.lastErr.Store(err)
		s.opts.Logger.Warn("jwtvalidate: key set fetch failed; keeping the last good keys", "source", s.name, "err", err)
		return g, err
	}
	ng := &keyGen{issuer: issuer, fetched: now}
	old := map[string]*verKey{}
	if g != nil {
		for _, k := range g.keys {
			old[k.kid+"\x00"+k.thumb] = k
		}
	}
	for _, j := range keys {
		k, err := fromJWK(j)
		if err != nil {
			s.opts.Logger.Info("jwtvalidate: skipping key", "source", s.name, "err", err)
			continue
		}
		// A key that stays keeps its identity, so tokens it verified stay cached.
		if ok := old[k.kid+"\x00"+k.thumb]; ok != nil {
			k = ok
			delete(old, k.kid+"\x00"+k.thumb)
		}
		ng.keys = append(ng.keys, k)
	}
	for _, k := range old {
		k.revoked.Store(true)
	}
	s.cur.Store(ng)
	return ng, nil
}

// find returns the keys that may verify a token with kid (all keys when
// kid is empty), refetching once when kid is unknown: when the last fetch
// is older than UnknownKidMinInterval, and no refetch for an unknown kid
// came back without it in the last UnknownKidInterval.
func (s *keySet) find(ctx context.Context, kid []byte, out []*verKey) []*verKey {
	s.touch()
	g := s.cur.Load()
	if g == nil {
		g, _ = s.refresh(ctx, refreshFirst)
	} else if s.due(s.opts.Now()) && s.background.CompareAndSwap(false, true) {
		// Keys are stale (no Run loop, or it is behind): refresh without
		// making this request wait, one goroutine at a time.
		go func() {
			defer s.background.Store(false)
			s.refresh(context.Background(), refreshScheduled)
		}()
	}
	n := len(out)
	out = appendMatching(out, g, kid)
	if len(out) > n || len(kid) == 0 {
		return out
	}
	ng, err := s.refresh(ctx, refreshUnknownKid)
	if err != nil {
		return out
	}
	if out = appendMatching(out, ng, kid); len(out) == n {
		s.lastMiss.Store(ng.fetched.UnixNano())
	}
	return out
}

func appendMatching(out []*verKey, g *keyGen, kid []byte) []*verKey {
	if g == nil {
		return out
	}
	for _, k := range g.keys {
		if len(kid) == 0 || k.kid == string(kid) {
			out = append(out, k)
		}
	}
	return out
}

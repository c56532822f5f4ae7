package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
)

// maxProxyTransports bounds the transports kept for the proxy policy (its
// URL may come from an expression); past it, a proxy's transport is made
// for the call and closed after it.
const maxProxyTransports = 32

// proxyTransports are the gateway's transports to backends through HTTP
// proxies, one per proxy URL, cloned from the gateway's transport.
type proxyTransports struct {
	mu sync.Mutex
	m  map[string]*http.Transport
}

// wrappingTransport is a transport around another (tracing): a proxied
// call is sent through the same wrapping around the proxy's transport.
type wrappingTransport interface {
	Unwrap() http.RoundTripper
	Wrap(http.RoundTripper) http.RoundTripper
}

// viaProxy sends out through the proxy of opts.
func (g *Gateway) viaProxy(out *http.Request, opts ForwardOptions) (*http.Response, error) {
	var base *http.Transport
	var wraps []wrappingTransport
	for rt := g.transport; base == nil; {
		switch t := rt.(type) {
		case *http.Transport:
			base = t
		case interface{ Base() *http.Transport }:
			base = t.Base()
		case wrappingTransport:
			wraps = append(wraps, t)
			rt = t.Unwrap()
		default:
			return nil, errors.New("the gateway's transport cannot use a proxy")
		}
	}
	t, shared := g.proxies.get(base, opts.Proxy)
	var rt http.RoundTripper = t
	for i := len(wraps) - 1; i >= 0; i-- {
		rt = wraps[i].Wrap(rt)
	}
	if !shared {
		defer t.CloseIdleConnections()
	}
	if opts.FollowRedirects {
		return (&http.Client{Transport: rt}).Do(out)
	}
	return rt.RoundTrip(out)
}

func (p *proxyTransports) get(base *http.Transport, u *url.URL) (*http.Transport, bool) {
	key := u.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.m[key]; ok {
		return t, true
	}
	t := base.Clone()
	t.Proxy = http.ProxyURL(u)
	if len(p.m) >= maxProxyTransports {
		return t, false
	}
	if p.m == nil {
		p.m = map[string]*http.Transport{}
	}
	p.m[key] = t
	return t, true
}

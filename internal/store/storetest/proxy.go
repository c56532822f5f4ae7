package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a database that a test can make hang
// (Freeze: connections are accepted and bytes are read, nothing is
// forwarded or answered) or refuse (Close: the port is closed and every
// connection through it dropped).
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	frozen bool
	thaw   chan struct{} // closed when the test ends
	conns  []net.Conn
	closed bool
}

// NewProxy listens on a free local port and forwards to target (host:port)
// until Freeze or Close; it is closed at cleanup.
func NewProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, thaw: make(chan struct{})}
	go p.serve()
	t.Cleanup(func() {
		p.Close()
		close(p.thaw)
	})
	return p
}

// ProxiedPostgresDSN is PostgresDSN with its host and port replaced by a
// Proxy's, and the Proxy.
func ProxiedPostgresDSN(t *testing.T) (dsn string, p *Proxy) {
	t.Helper()
	dsn, _ = PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	p = NewProxy(t, host)
	u.Host = p.Addr()
	q := u.Query()
	q.Set("connect_timeout", "30") // the store's deadline must be what ends a hanging connect
	u.RawQuery = q.Encode()
	return u.String(), p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Freeze makes the database hang: from now on nothing is forwarded in
// either direction, on existing connections or new ones.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Close makes the database refuse: the port is closed and open
// connections are dropped.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	if p.isFrozen() {
		p.swallow(c)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(up) {
		c.Close()
		return
	}
	go p.pipe(up, c)
	p.pipe(c, up)
}

// pipe copies src to dst until either closes, holding (reading and
// dropping) everything once the proxy is frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.isFrozen() {
				p.swallow(src)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// swallow reads and drops c's bytes until it closes or the test ends.
func (p *Proxy) swallow(c net.Conn) {
	go func() {
		<-p.thaw
		c.Close()
	}()
	io.Copy(io.Discard, c)
}

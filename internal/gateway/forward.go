package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/resource"
)

// NewTransport returns the transport the gateway uses when Options.Transport
// is nil: keep-alive pools sized for a proxy, no proxy taken from the
// environment, no transparent decompression (bodies pass through as the
// backend encoded them), and no response-header timeout of its own (the
// per-API backend timeout applies).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		// Per backend connection, kept while it is pooled: 64 busy
		// connections at 32 KiB each way held 4 MB. Bodies do not need
		// more: reads and writes larger than the buffer bypass it, and
		// responses are copied with apicall's pooled 32 KiB buffers.
		ReadBufferSize:  8 << 10,
		WriteBufferSize: 8 << 10,
	}
}

// errBackendTimeout is the cancellation cause when the backend did not
// answer within the timeout.
var errBackendTimeout = errors.New("backend did not answer in time")

// Forward implements Forwarder: it sends r to c.BackendURL. The request's
// method, headers (minus hop-by-hop headers and the API's subscription key
// header) and body are sent; the body is streamed, never buffered. The
// timeout (opts.Timeout, else c.BackendTimeout) bounds the whole backend
// response, headers and body (streamed bodies too): a body still arriving
// at the timeout fails with a *BackendError whose Timeout is set. The body
// also ends when the caller closes it or the client goes away.
func (g *Gateway) Forward(ctx context.Context, c *Call, r *http.Request, opts ForwardOptions) (*http.Response, error) {
	if c.BackendURL == nil {
		return nil, g.backendFailed(c, &BackendError{Err: errors.New("the API has no serviceUrl")})
	}
	if apicall.UnsafePath(c.BackendURL.EscapedPath()) {
		return nil, &BackendError{Err: apicall.ErrUnsafePath}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = c.BackendTimeout
	}
	if timeout <= 0 {
		timeout = resource.DefaultBackendTimeout * time.Second
	}
	upgrade := webSocketUpgrade(c, r)
	if bt, ok := g.transport.(*BackendTransport); ok && upgrade == "" && c.BackendURL.Scheme == "http" &&
		r.Method != http.MethodConnect && !isEcho(c) && opts.Proxy == nil && opts.Transport == nil && !opts.FollowRedirects {
		if n := directBodySize(r); n >= 0 {
			return g.forwardDirect(ctx, bt, c, r, n, timeout)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	out, err := g.outboundRequest(ctx, c, r, upgrade)
	if err != nil {
		cancel(nil)
		return nil, g.backendFailed(c, &BackendError{Err: err})
	}
	var cb *clientBody
	if out.Body != nil {
		cb = &clientBody{ReadCloser: out.Body}
		out.Body = cb
	}
	timer := time.AfterFunc(timeout, func() { cancel(errBackendTimeout) })

	var resp *http.Response
	sent := g.now()
	switch {
	case isEcho(c):
		resp, err = g.echo.RoundTrip(out)
	case opts.Proxy != nil:
		resp, err = g.viaProxy(out, opts)
	case opts.Transport != nil:
		resp, err = opts.Transport.RoundTrip(out)
	case opts.FollowRedirects:
		resp, err = g.followClient.Do(out)
	default:
		resp, err = g.transport.RoundTrip(out)
	}
	c.BackendTime += g.now().Sub(sent)
	if err == nil && errors.Is(context.Cause(ctx), errBackendTimeout) {
		// The timer fired as the headers arrived: the body would fail on
		// the first read, so report the timeout now.
		resp.Body.Close()
		err = errBackendTimeout
	}
	if err != nil {
		timer.Stop()
		timedOut := errors.Is(context.Cause(ctx), errBackendTimeout)
		cancel(nil)
		if timedOut {
			err = errBackendTimeout
		}
		if cb != nil && cb.err != nil && !timedOut {
			return nil, g.clientBodyFailed(c, cb.err)
		}
		return nil, g.backendFailed(c, &BackendError{Timeout: timedOut, Err: err})
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The backend accepted the WebSocket handshake: the timeout
		// bounded the handshake, not the conversation.
		timer.Stop()
		rwc, ok := resp.Body.(io.ReadWriteCloser)
		if upgrade == "" || !ok || !strings.EqualFold(resp.Header.Get("Upgrade"), upgrade) {
			resp.Body.Close()
			cancel(nil)
			return nil, g.backendFailed(c, &BackendError{Err: errors.New("the backend switched protocols unasked")})
		}
		apicall.RemoveHopHeaders(resp.Header)
		resp.Header["Connection"] = []string{"Upgrade"}
		resp.Header["Upgrade"] = []string{upgrade}
		resp.Body = &upgradedConn{ReadWriteCloser: rwc, cancel: cancel}
		return resp, nil
	}
	apicall.RemoveHopHeaders(resp.Header)
	resp.Body = &backendBody{ReadCloser: resp.Body, ctx: ctx, timer: timer, cancel: cancel}
	return resp, nil
}

// maxDirectBody is the largest request body the direct path takes: it is
// read whole before the request is sent (so a request on a connection the
// backend closed can be sent again), and it fits the sockets' buffers, so
// writing it never waits for a backend that answers before reading it.
const maxDirectBody = 64 << 10

var directBodies = sync.Pool{New: func() any { b := make([]byte, maxDirectBody); return &b }}

// directBodySize is the size of r's body for the direct path: 0 for none,
// -1 when the body must stream through net/http's Transport (unknown or
// large length, or Expect: 100-continue, which waits for the backend).
func directBodySize(r *http.Request) int {
	switch {
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody:
		return 0
	case r.ContentLength > 0 && r.ContentLength <= maxDirectBody && r.Header["Expect"] == nil:
		return int(r.ContentLength)
	}
	return -1
}

// forwardDirect is Forward on BackendTransport's direct path, for a
// request without a body or with a small one (size bytes, read whole
// first), written straight from r. The timeout is the connection's
// deadline rather than a timer and a derived context, which a call that
// never waits on another goroutine does not need.
func (g *Gateway) forwardDirect(ctx context.Context, bt *BackendTransport, c *Call, r *http.Request, size int, timeout time.Duration) (*http.Response, error) {
	var body []byte
	if size > 0 {
		bp := directBodies.Get().(*[]byte)
		defer directBodies.Put(bp) // the request is written before send returns
		body = (*bp)[:size]
		_, err := io.ReadFull(r.Body, body)
		if err == nil {
			// Read on to the end, as streaming it would: the server and
			// its body deadline act on the body's end.
			var extra [1]byte
			if n, _ := r.Body.Read(extra[:]); n > 0 {
				err = errors.New("the body is longer than its Content-Length")
			}
		}
		if err != nil {
			return nil, g.clientBodyFailed(c, err)
		}
	}
	out := (&http.Request{Method: r.Method, URL: c.BackendURL, Host: c.BackendURL.Host, Header: r.Header}).WithContext(ctx)
	sent := g.now()
	resp, err := bt.send(out, requestWriter(c, r, body), sent.Add(timeout))
	c.BackendTime += g.now().Sub(sent)
	if err != nil {
		timedOut := errors.Is(err, errBackendTimeout)
		return nil, g.backendFailed(c, &BackendError{Timeout: timedOut, Err: err})
	}
	apicall.RemoveHopHeaders(resp.Header)
	return resp, nil
}

// webSocketUpgrade returns "websocket" when r is a WebSocket handshake
// (RFC 6455 section 4.1) to an API that accepts the ws or wss protocol:
// the Upgrade is then passed to the backend, after the inbound policies
// ran on the handshake, as APIM's WebSocket APIs do. Any other Upgrade is
// dropped with the other hop-by-hop headers.
func webSocketUpgrade(c *Call, r *http.Request) string {
	if c.API == nil || r.Method != http.MethodGet || r.ProtoMajor != 1 {
		return ""
	}
	if !strings.EqualFold(apicall.UpgradeRequested(r.Header), "websocket") {
		return ""
	}
	for _, p := range c.API.Protocols {
		if p == "ws" || p == "wss" {
			return "websocket"
		}
	}
	return ""
}

// upgradedConn is the backend connection after a protocol switch; closing
// it releases the backend call's context.
type upgradedConn struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (u *upgradedConn) Close() error {
	err := u.ReadWriteCloser.Close()
	u.cancel(nil)
	return err
}

func (g *Gateway) backendFailed(c *Call, err *BackendError) error {
	var api string
	if c.API != nil {
		api = c.API.ID
	}
	g.log.Warn("backend call failed",
		"request_id", c.RequestID, "api", api, "timeout", err.Timeout, "error", err.Err.Error())
	return err
}

// clientBodyFailed reports a request body that failed to arrive while it
// was forwarded: the client's failure, answered 408 or 400 (see
// apicall.ClientBodyStatus), never the backend's.
func (g *Gateway) clientBodyFailed(c *Call, err error) error {
	var ne net.Error
	timeout := errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	g.log.Info("request body read failed", "request_id", c.RequestID, "timeout", timeout, "error", err.Error())
	return &apicall.ClientBodyError{Timeout: timeout, Err: err}
}

// clientBody is the caller's body as the transport reads it, keeping its
// first failure: net/http's Transport does not say whether a failed call
// failed reading the body or talking to the backend.
type clientBody struct {
	io.ReadCloser
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// outboundRequest builds the request sent to the backend from r.
// upgrade, when set, is the protocol switch passed on (see
// webSocketUpgrade). Its header shares r's value slices (nothing on the
// way to the backend changes a value in place).
func (g *Gateway) outboundRequest(ctx context.Context, c *Call, r *http.Request, upgrade string) (*http.Request, error) {
	body := r.Body
	if r.ContentLength == 0 || body == http.NoBody {
		body = nil
	}
	out := (&http.Request{
		Method:     r.Method,
		URL:        c.BackendURL, // kept as routed: the path's escaping exactly as received
		Host:       c.BackendURL.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}).WithContext(ctx)
	if body != nil {
		out.Body, out.ContentLength = body, r.ContentLength
	}
	out.Header = make(http.Header, len(r.Header)+4)
	outboundHeaders(c, r, upgrade, func(k string, vv []string) { out.Header[k] = vv })
	if _, ok := out.Header["User-Agent"]; !ok {
		// Otherwise Go would send its own.
		out.Header["User-Agent"] = []string{""}
	}
	return out, nil
}

// outboundHeaders calls emit with each header field the backend gets:
// r's, minus hop-by-hop ones (and those its Connection header names) and
// the API's subscription key header, plus X-Forwarded-For, -Proto and
// -Host, "Te: trailers" from an HTTP/2 client that accepts trailers, and
// the protocol switch when upgrade is set. Host is not among them.
func outboundHeaders(c *Call, r *http.Request, upgrade string, emit func(name string, values []string)) {
	var keyHeader string
	if c.API != nil && c.API.SubscriptionKeyParameterNames != nil {
		keyHeader = textproto.CanonicalMIMEHeaderKey(c.API.SubscriptionKeyParameterNames.Header)
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	forwardedFor := err == nil
	connection := r.Header["Connection"]
	for k, vv := range r.Header {
		switch {
		case k == keyHeader, apicall.IsHopHeader(k), k == "Host",
			k == "X-Forwarded-Proto", k == "X-Forwarded-Host",
			k == "X-Forwarded-For" && forwardedFor,
			len(connection) > 0 && apicall.NamedInConnection(connection, k):
			continue
		}
		emit(k, vv)
	}
	// "Te: trailers" from an HTTP/2 client says it accepts trailers (gRPC
	// requires it): it is the one Te value passed on.
	if r.ProtoMajor >= 2 {
		for _, v := range r.Header["Te"] {
			if strings.Contains(strings.ToLower(v), "trailers") {
				emit("Te", []string{"trailers"})
				break
			}
		}
	}
	if upgrade != "" {
		emit("Connection", []string{"Upgrade"})
		emit("Upgrade", []string{upgrade})
	}
	if forwardedFor {
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 && keyHeader != "X-Forwarded-For" &&
			!apicall.NamedInConnection(connection, "X-Forwarded-For") {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		emit("X-Forwarded-For", []string{ip})
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	emit("X-Forwarded-Proto", []string{proto})
	emit("X-Forwarded-Host", []string{r.Host})
}

// requestWriter writes a request for the direct path from the client's
// request (see outboundHeaders) and its body read whole (nil for none),
// without copying the headers: what (*http.Request).Write would send for
// the request outboundRequest builds, with the same checks (an invalid
// name or value is an error, nothing is sent).
func requestWriter(c *Call, r *http.Request, body []byte) func(bw *bufio.Writer) error {
	return func(bw *bufio.Writer) error {
		host := c.BackendURL.Host
		uri := c.BackendURL.RequestURI()
		if !httpguts.ValidHostHeader(host) {
			return errors.New("invalid Host header")
		}
		if !validRequestURI(uri) {
			return errors.New("control character in the request URL")
		}
		bw.WriteString(r.Method)
		bw.WriteByte(' ')
		bw.WriteString(uri)
		bw.WriteString(" HTTP/1.1\r\nHost: ")
		bw.WriteString(host)
		bw.WriteString("\r\n")
		switch {
		case len(body) > 0:
			bw.WriteString("Content-Length: ")
			bw.WriteString(strconv.Itoa(len(body)))
			bw.WriteString("\r\n")
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			// As net/http: servers expect a length on other methods.
			bw.WriteString("Content-Length: 0\r\n")
		}
		var bad string
		outboundHeaders(c, r, "", func(k string, vv []string) {
			if bad != "" {
				return
			}
			if !httpguts.ValidHeaderFieldName(k) {
				bad = k
				return
			}
			switch k {
			case "Content-Length", "Transfer-Encoding", "Trailer":
				return // written above
			case "User-Agent":
				vv = vv[:min(len(vv), 1)] // net/http sends the first
			}
			for _, v := range vv {
				if !validHeaderValue(v) {
					bad = k
					return
				}
				if v = textproto.TrimString(v); v == "" && k == "User-Agent" {
					continue
				}
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		})
		if bad != "" {
			return fmt.Errorf("invalid header field %q", bad)
		}
		bw.WriteString("\r\n")
		_, err := bw.Write(body)
		return err
	}
}

// validHeaderValue is httpguts.ValidHeaderFieldValue (no control byte but
// a tab), eight bytes at a time: a forwarded bearer token is a kilobyte or
// two, checked on every request.
func validHeaderValue(v string) bool {
	const ones, highs, ctl, del = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020, 0x7f7f7f7f7f7f7f7f
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(v[i : i+8]))
		// Some byte is below 0x20, or is 0x7f: look at each (a tab is
		// allowed). Bytes from 0x80 on are never flagged.
		y := x ^ del
		if (x-ctl)&^x&highs != 0 || (y-ones)&^y&highs != 0 {
			if !validHeaderBytes(v[i : i+8]) {
				return false
			}
		}
	}
	return validHeaderBytes(v[i:])
}

func validHeaderBytes(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// validRequestURI reports whether uri has no control characters
// (net/http refuses to send those).
func validRequestURI(uri string) bool {
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b < ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// backendBody is a backend response's body while the backend timeout
// runs: the timeout covers the whole response, so a backend trickling its
// body (or a stream outliving the timeout) is cut off. A failed read is a
// *BackendError (Timeout when the timer cut it). Close stops the timer and
// releases the backend call's context.
type backendBody struct {
	io.ReadCloser
	ctx    context.Context
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func (b *backendBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		timedOut := errors.Is(context.Cause(b.ctx), errBackendTimeout)
		if timedOut {
			err = errBackendTimeout
		}
		err = &BackendError{Timeout: timedOut, Err: err}
	}
	return n, err
}

func (b *backendBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

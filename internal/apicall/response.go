package apicall

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// hopHeaders are removed in both directions (RFC 9110 section 7.6.1),
// together with the headers the Connection header names.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// IsHopHeader reports whether the (canonical) name is a hop-by-hop
// header.
func IsHopHeader(name string) bool { return slices.Contains(hopHeaders, name) }

// NamedInConnection reports whether a Connection header's values name
// the (canonical) header name, which is then hop-by-hop too.
func NamedInConnection(connection []string, name string) bool {
	for _, v := range connection {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" && http.CanonicalHeaderKey(n) == name {
				return true
			}
		}
	}
	return false
}

// RemoveHopHeaders removes the hop-by-hop headers from h.
func RemoveHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// CopyResponse writes a backend response to w: status, headers (minus
// hop-by-hop ones), the body streamed (flushed after every chunk when the
// length is unknown or it is an event stream, so streaming responses reach
// the client as they are produced), and trailers. It closes resp.Body and
// returns the bytes copied and the first read or write error.
//
// A 101 (a WebSocket handshake the gateway passed through) is handed to
// SwitchProtocols.
func CopyResponse(w http.ResponseWriter, resp *http.Response) (int64, error) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return SwitchProtocols(w, resp)
	}
	defer resp.Body.Close()
	RemoveHopHeaders(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	w.WriteHeader(resp.StatusCode)

	stream := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	rc := http.NewResponseController(w)
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var n int64
	for {
		nr, rerr := resp.Body.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return n, nil
}

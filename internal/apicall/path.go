package apicall

import (
	"errors"
	"net/url"
	"strings"
)

// MsgInvalidPath and ReasonInvalidPath answer a request path refused by
// UnsafePath (400).
const (
	MsgInvalidPath    = "Invalid request path."
	ReasonInvalidPath = "InvalidPath"
)

// ErrUnsafePath is the Forwarder's error (inside a BackendError) for a
// backend URL whose path UnsafePath refuses; it answers 400, never reaching
// the backend.
var ErrUnsafePath = errors.New("the backend path has a dot segment or a backslash")

// UnsafePath reports whether an escaped URL path could reach outside the
// backend's base path once a backend decodes it. The one rule, applied to
// the path the caller sent (before routing), to the path rewrite-uri makes
// and to the URL the gateway forwards to:
//
//   - a backslash, literal or encoded (%5C), anywhere: Windows and many
//     frameworks treat it as a separator;
//   - a segment that, percent-decoded and split on '/', is "." or "..":
//     "/..", "/%2e%2e", and the encoded-slash forms "..%2F", "%2E%2E%2F",
//     "%2e%2e%2f" alike.
//
// An encoded slash that forms no dot segment ("/items/a%2Fb") is allowed:
// the gateway never splits on it and forwards it as received.
func UnsafePath(p string) bool {
	if strings.IndexByte(p, '\\') >= 0 {
		return true
	}
	if !strings.Contains(p, "/.") && !strings.HasPrefix(p, ".") && strings.IndexByte(p, '%') < 0 {
		return false // the common case: nothing to decode, no dot segment
	}
	for len(p) > 0 {
		i := strings.IndexByte(p, '/')
		seg := p
		if i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if unsafeSegment(seg) {
			return true
		}
	}
	return false
}

func unsafeSegment(seg string) bool {
	if strings.IndexByte(seg, '%') >= 0 {
		d, err := url.PathUnescape(seg)
		if err != nil {
			return false // matches nothing configured; forwarded as written
		}
		if strings.IndexByte(d, '\\') >= 0 {
			return true
		}
		for _, piece := range strings.Split(d, "/") {
			if piece == "." || piece == ".." {
				return true
			}
		}
		return false
	}
	return seg == "." || seg == ".."
}

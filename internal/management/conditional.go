package management

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
)

// conditions are a request's If-Match and If-None-Match (RFC 9110 §13.1).
// If-Match compares strongly, so a weak (W/) entity tag never matches it;
// If-None-Match compares weakly. Both take "*" or a list.
type conditions struct {
	match, noneMatch etagList
}

// etagList is one precondition header: absent, "*", or a list of tags.
type etagList struct {
	present bool
	any     bool
	tags    []etag
}

type etag struct {
	opaque string // without quotes
	weak   bool
}

// errNotModified ends a GET whose If-None-Match matched: 304.
var errNotModified = apierror.New(http.StatusNotModified, "NotModified", "")

// maxConditionLen bounds what is parsed of the precondition headers.
const maxConditionLen = 8 << 10

// parseConditions reads If-Match and If-None-Match; a malformed list is a
// 400 naming the header.
func parseConditions(h http.Header) (conditions, error) {
	var c conditions
	var err error
	if c.match, err = parseETagList("If-Match", h.Values("If-Match")); err != nil {
		return c, err
	}
	if c.noneMatch, err = parseETagList("If-None-Match", h.Values("If-None-Match")); err != nil {
		return c, err
	}
	return c, nil
}

// ifMatchCondition is conditions with only If-Match set to v (the header's
// value), for callers of Put and Delete outside a request.
func ifMatchCondition(v string) (conditions, error) {
	if v == "" {
		return conditions{}, nil
	}
	m, err := parseETagList("If-Match", []string{v})
	return conditions{match: m}, err
}

func parseETagList(name string, values []string) (etagList, error) {
	var l etagList
	if len(values) == 0 {
		return l, nil
	}
	v := strings.Join(values, ",")
	if len(v) > maxConditionLen {
		return l, badCondition(name, "is longer than %d bytes", maxConditionLen)
	}
	l.present = true
	if strings.TrimSpace(v) == "*" {
		l.any = true
		return l, nil
	}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue // empty list elements are allowed (RFC 9110 §5.6.1)
		}
		var t etag
		if rest, ok := strings.CutPrefix(item, "W/"); ok {
			t.weak, item = true, rest
		}
		switch {
		case len(item) >= 2 && item[0] == '"' && item[len(item)-1] == '"':
			t.opaque = item[1 : len(item)-1]
		case !t.weak && !strings.ContainsAny(item, "\"* \t"):
			// A bare tag, as some clients send the ETag they read.
			t.opaque = item
		default:
			return l, badCondition(name, "holds %q, which is not an entity tag (\"tag\" or W/\"tag\") nor *", item)
		}
		if strings.ContainsAny(t.opaque, "\"") || !validETagChars(t.opaque) {
			return l, badCondition(name, "holds %q, which is not an entity tag", item)
		}
		l.tags = append(l.tags, t)
	}
	if len(l.tags) == 0 {
		return l, badCondition(name, "is empty")
	}
	return l, nil
}

// validETagChars reports whether s is made of etagc (%x21 / %x23-7E /
// obs-text).
func validETagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

func badCondition(name, format string, args ...any) error {
	return apierror.New(http.StatusBadRequest, "InvalidPrecondition", "%s %s.", name, fmt.Sprintf(format, args...))
}

func (c conditions) present() bool { return c.match.present || c.noneMatch.present }

// check evaluates the conditions against the resource at id, in RFC 9110
// §13.2.2's order. exists and current describe the stored resource. read is
// set for GET and HEAD, where a matching If-None-Match is errNotModified
// rather than 412.
func (c conditions) check(id string, exists bool, current string, read bool) error {
	if c.match.present {
		switch {
		case !exists && c.match.any:
			return preconditionFailed("%s does not exist, and If-Match: * requires that it does.", id)
		case !exists:
			return preconditionFailed("%s does not exist, so no entity tag in If-Match can match.", id)
		case !c.match.any && !c.match.hasStrong(current):
			if c.match.hasWeakOnly(current) {
				return preconditionFailed("If-Match compares strongly: the weak tag W/\"%s\" does not match %s; send the ETag as returned, without W/.", current, id)
			}
			return preconditionFailed("%s has changed: its ETag \"%s\" matches none of If-Match.", id, current)
		}
	}
	if c.noneMatch.present && exists && (c.noneMatch.any || c.noneMatch.hasWeak(current)) {
		switch {
		case read:
			return errNotModified
		case c.noneMatch.any:
			return preconditionFailed("%s already exists, and If-None-Match: * requires that it does not.", id)
		default:
			return preconditionFailed("%s still has an ETag listed in If-None-Match (\"%s\").", id, current)
		}
	}
	return nil
}

// storePrecondition is the Tx.Put precondition that makes the write happen
// only on the state check approved.
func (c conditions) storePrecondition(exists bool, current string) string {
	switch {
	case !c.present():
		return ""
	case exists:
		return current
	default:
		return "-"
	}
}

func (l etagList) hasStrong(current string) bool {
	for _, t := range l.tags {
		if !t.weak && t.opaque == current {
			return true
		}
	}
	return false
}

func (l etagList) hasWeakOnly(current string) bool {
	for _, t := range l.tags {
		if t.weak && t.opaque == current {
			return true
		}
	}
	return false
}

func (l etagList) hasWeak(current string) bool {
	for _, t := range l.tags {
		if t.opaque == current {
			return true
		}
	}
	return false
}

func preconditionFailed(format string, args ...any) error {
	return apierror.New(http.StatusPreconditionFailed, "PreconditionFailed", format, args...)
}

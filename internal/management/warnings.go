package management

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// A write that succeeds may still carry warnings from its hooks (a policy
// document that runs but is probably not what was meant). They are
// answered as one header per warning, in the format Kubernetes uses for
// its API warnings (RFC 7234's Warning with code 299, no agent):
//
//	Warning: 299 - "value: 3:5: validate-jwt: neither <audiences> nor ..."
//
// The body is unchanged, so clients that do not look for warnings see the
// answer they always did.

type warningsKey struct{}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func withWarnings(ctx context.Context) (context.Context, *warnings) {
	w := &warnings{}
	return context.WithValue(ctx, warningsKey{}, w), w
}

// AddWarning records a warning for the answer of the write in progress (a
// Check hook's "saved, but ..."). Outside a write through the API it does
// nothing; the same warning twice (a retried transaction) is kept once.
func AddWarning(ctx context.Context, message string) {
	w, ok := ctx.Value(warningsKey{}).(*warnings)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.list, message) {
		w.list = append(w.list, message)
	}
}

// set adds the Warning headers to h.
func (w *warnings) set(h http.Header) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.list {
		h.Add("Warning", `299 - "`+warningText(m)+`"`)
	}
}

// warningText makes m a quoted-string's content: quotes and backslashes
// escaped, control characters (which would break the header) replaced.
func warningText(m string) string {
	var b strings.Builder
	for _, r := range m {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

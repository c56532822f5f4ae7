package policy

import (
	"io"
	"strings"
	"testing"
)

// peekResponseBody on a body of unknown length: a small one is buffered,
// a large one is left whole for the caller.
func TestPeekResponseBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{{"small", true}, {strings.Repeat("x", 100), false}} {
		x := &exchange{}
		x.resp.stream = io.NopCloser(strings.NewReader(tc.body))
		x.resp.length = -1
		b, ok, err := x.peekResponseBody(10)
		if err != nil || ok != tc.ok {
			t.Fatalf("%q: ok %v err %v", tc.body, ok, err)
		}
		if ok {
			if string(b) != tc.body || !x.resp.hasBody {
				t.Errorf("buffered %q", b)
			}
			continue
		}
		rest, _ := io.ReadAll(x.resp.stream)
		if string(rest) != tc.body {
			t.Errorf("stream now %q, want the whole body", rest)
		}
	}
}

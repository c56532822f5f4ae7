package resource

import (
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"PT1M": time.Minute, "PT30S": 30 * time.Second, "P1DT2H": 26 * time.Hour, "PT0.5S": 500 * time.Millisecond, "pt10m": 10 * time.Minute} {
		if d, err := ParseISODuration(s); err != nil || d != want {
			t.Errorf("%s: %v %v", s, d, err)
		}
	}
	for _, s := range []string{"", "P", "PT", "1M", "P1Y", "PT-1S", "forever"} {
		if _, err := ParseISODuration(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzParseISODuration: management input; never panics, never negative.
func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT1M", "P1DT2H3M4.5S", "PT99999999S", "P"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseISODuration(s); err == nil && d < 0 {
			t.Fatalf("%q: negative %v", s, d)
		}
	})
}

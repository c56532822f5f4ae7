package gateway

import (
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// TestValidHeaderValue: the word-at-a-time check agrees with httpguts on
// every byte at every position of a word, and on the seeds' mixtures.
func TestValidHeaderValue(t *testing.T) {
	for b := 0; b < 256; b++ {
		for n := 1; n <= 19; n++ {
			for pos := 0; pos < n; pos++ {
				v := []byte(strings.Repeat("a", n))
				v[pos] = byte(b)
				if got, want := validHeaderValue(string(v)), httpguts.ValidHeaderFieldValue(string(v)); got != want {
					t.Fatalf("byte %#x at %d of %d: got %v, want %v", b, pos, n, got, want)
				}
			}
		}
	}
	for _, v := range headerValueSeeds {
		if got, want := validHeaderValue(v), httpguts.ValidHeaderFieldValue(v); got != want {
			t.Errorf("%q: got %v, want %v", v, got, want)
		}
	}
}

var headerValueSeeds = []string{"", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "a\tb", "a\r\nX-Injected: 1", "\x7f", "caf\xc3\xa9 \xff\x80\x9f", "\x00\x00\x00\x00\x00\x00\x00\x00\x00", "\t\t\t\t\t\t\t\t\x1f"}

func FuzzValidHeaderValue(f *testing.F) {
	for _, v := range headerValueSeeds {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := validHeaderValue(v), httpguts.ValidHeaderFieldValue(v); got != want {
			t.Fatalf("%q: got %v, want %v", v, got, want)
		}
	})
}

func BenchmarkValidHeaderValue(b *testing.B) {
	v := "Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ", 36)
	b.Run("words", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			if !validHeaderValue(v) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("httpguts", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		for b.Loop() {
			if !httpguts.ValidHeaderFieldValue(v) {
				b.Fatal("refused")
			}
		}
	})
}

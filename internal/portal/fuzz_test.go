package portal

import (
	"strings"
	"testing"
)

// FuzzDecodeClaims: the ID token from the token endpoint is network input.
func FuzzDecodeClaims(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4Iiwibm9uY2UiOiJuIiwiYXVkIjpbImEiXX0.sig")
	f.Add("a.b.c")
	f.Add("....")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeClaims(s)
		if err == nil && (c == nil || strings.Count(s, ".") != 2) {
			t.Fatalf("accepted %q", s)
		}
		if c != nil {
			audHas(c.Aud, "a")
		}
	})
}

func TestTemplateParams(t *testing.T) {
	got := templateParams("/users/{uid}/orders/{oid}?q={q}&fixed=1")
	want := []param{{Name: "uid", In: "path"}, {Name: "oid", In: "path"}, {Name: "q", In: "query"}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].In != want[i].In {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

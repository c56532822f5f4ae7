package apicall_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/apicall"
)

func TestUnsafePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/static/ok.txt", false},
		{"/.well-known/openid-configuration", false},
		{"/items/a%2Fb", false},
		{"/a..b/c", false},
		{"/files/x.tar.gz", false},
		{"/bad%zz", false},
		{"/static/..", true},
		{"/static/../x", true},
		{"/./x", true},
		{"/static/%2e%2e/x", true},
		{"/static/%2E%2E%2Fsecret.txt", true},
		{"/static/..%2Fsecret.txt", true},
		{"/static/%2e%2e%2fsecret.txt", true},
		{"/static/.%2F", true},
		{"/static/..%5Csecret.txt", true},
		{"/static/a%5cb", true},
		{`/static/a\b`, true},
	} {
		if got := apicall.UnsafePath(tc.path); got != tc.want {
			t.Errorf("UnsafePath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// FuzzUnsafePath: a path UnsafePath lets through holds no backslash and,
// once each segment is decoded and split on '/', no dot segment.
func FuzzUnsafePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/%2e%2e%2f", "/..%5C", "/a%2Fb", "/.x", "/%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if apicall.UnsafePath(p) {
			return
		}
		if strings.Contains(p, `\`) {
			t.Fatalf("%q let through with a backslash", p)
		}
		for _, seg := range strings.Split(p, "/") {
			d, err := url.PathUnescape(seg)
			if err != nil {
				continue
			}
			if strings.Contains(d, `\`) {
				t.Fatalf("%q let through with an encoded backslash", p)
			}
			for _, piece := range strings.Split(d, "/") {
				if piece == "." || piece == ".." {
					t.Fatalf("%q let through with a dot segment", p)
				}
			}
		}
	})
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	apicall.WriteError(w, 404, `Resource "x" not found`)
	want := `{"statusCode": 404, "message": "Resource \"x\" not found"}`
	if w.Code != 404 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Content-Length") != "58" {
		t.Errorf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"testing"
)

// decodingBackend serves files the way a naive static server does: it
// percent-decodes the whole path (so %2F becomes a separator), cleans it,
// and serves /static/* as public files and /secret.txt as a secret.
func decodingBackend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		p, err := url.PathUnescape(r.URL.EscapedPath())
		if err != nil {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		switch path.Clean(strings.ReplaceAll(p, `\`, "/")) {
		case "/static/ok.txt":
			io.WriteString(w, "public")
		case "/secret.txt":
			io.WriteString(w, "SECRET")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestEncodedTraversalRefused(t *testing.T) {
	backend, hits := decodingBackend(t)
	fx := newFixture(t, nil, openAPI("static", "static", backend.URL+"/static")...)

	// The backend really does decode %2F: straight to it, the attack works.
	resp, err := http.Get(backend.URL + "/static/%2E%2E%2Fsecret.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "SECRET" {
		t.Fatalf("test backend does not decode %%2F (got %q): the test proves nothing", b)
	}

	resp, body := fx.do(t, "GET", "/static/ok.txt", nil, nil)
	if resp.StatusCode != 200 || string(body) != "public" {
		t.Fatalf("control request: %d %s", resp.StatusCode, body)
	}
	hits.Store(0)

	for _, p := range []string{
		"/static/%2E%2E%2Fsecret.txt",
		"/static/..%2Fsecret.txt",
		"/static/%2e%2e%2fsecret.txt",
		"/static/..%2fsecret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/x/%2E%2E%2F%2E%2E%2Fsecret.txt",
		"/static/..%5Csecret.txt",
		"/static/%2e%2e%5csecret.txt",
		"/static/a%5Cb",
	} {
		resp, body := fx.do(t, "GET", p, nil, nil)
		if resp.StatusCode != 400 || string(body) != `{"statusCode": 400, "message": "Invalid request path."}` {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("backend reached %d times by refused paths", n)
	}
	if log := fx.log.String(); !strings.Contains(log, `"reason":"InvalidPath"`) {
		t.Errorf("access log lacks reason InvalidPath:\n%s", log)
	}

	// An encoded slash that forms no dot segment is forwarded as received.
	resp, body = fx.do(t, "GET", "/static/a%2Fb.txt", nil, nil)
	if resp.StatusCode != 404 || hits.Load() != 1 {
		t.Errorf("a%%2Fb.txt: status %d (%s), backend hits %d; want the backend's 404", resp.StatusCode, body, hits.Load())
	}
}

package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
)

const cred = "test-credential-0123456789"

// fakeAPI is a minimal in-memory server with the management API's
// conventions, recording what it was sent.
type fakeAPI struct {
	mu    sync.Mutex
	items map[string]map[string]any
	etags map[string]int
	// pageSize splits lists into pages linked by nextLink.
	pageSize int
	// nextLinkBase, when set, is put in front of nextLink (absolute links).
	nextLinkBase string
	lastReq      *http.Request
	lastBody     []byte
}

func newFake(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{items: map[string]map[string]any{}, etags: map[string]int{}, pageSize: 2}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeErr(w http.ResponseWriter, status int, code, msg string, details ...map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"code": code, "message": msg}
	if len(details) > 0 {
		e["details"] = details
	}
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.lastReq, f.lastBody = r, body
	if r.Header.Get("Authorization") != "Bearer "+cred {
		writeErr(w, 401, "Unauthorized", "Invalid credential.")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/kinds":
		json.NewEncoder(w).Encode(map[string]any{"value": []map[string]any{
			{"name": "apis", "pattern": "/apis/{}", "applyKind": "api"},
			{"name": "subscriptions", "pattern": "/subscriptions/{}", "applyKind": "subscription", "secrets": []string{"primaryKey"}, "readOnly": []string{"createdDate"}},
		}})
	case p == "/proxy-error":
		w.WriteHeader(502)
		io.WriteString(w, "<html>bad gateway</html>")
	case strings.HasSuffix(p, "/listSecrets") && r.Method == http.MethodPost:
		json.NewEncoder(w).Encode(map[string]any{"primaryKey": "k1"})
	case strings.Count(p, "/") == 1 && r.Method == http.MethodGet: // collection
		var ids []string
		for id := range f.items {
			if strings.HasPrefix(id, p+"/") {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		skip, _ := strconv.Atoi(r.URL.Query().Get("$skip"))
		end := min(skip+f.pageSize, len(ids))
		out := map[string]any{"count": len(ids)}
		var page []map[string]any
		for _, id := range ids[skip:end] {
			page = append(page, f.items[id])
		}
		out["value"] = page
		if end < len(ids) {
			out["nextLink"] = fmt.Sprintf("%s%s?$skip=%d", f.nextLinkBase, p, end)
		}
		json.NewEncoder(w).Encode(out)
	default:
		switch r.Method {
		case http.MethodGet:
			it, ok := f.items[p]
			if !ok {
				writeErr(w, 404, "ResourceNotFound", p+" was not found.")
				return
			}
			w.Header().Set("ETag", fmt.Sprintf(`"%d"`, f.etags[p]))
			json.NewEncoder(w).Encode(it)
		case http.MethodPut, http.MethodPatch:
			if m := r.Header.Get("If-Match"); m != "" && m != fmt.Sprintf(`"%d"`, f.etags[p]) {
				writeErr(w, 412, "PreconditionFailed", "changed")
				return
			}
			var obj map[string]any
			if err := json.Unmarshal(body, &obj); err != nil {
				writeErr(w, 400, "BadRequest", "bad JSON")
				return
			}
			if v, ok := obj["path"]; ok && v == "" {
				writeErr(w, 400, "ValidationError", "One or more fields contain incorrect values.",
					map[string]string{"target": "path", "message": "is required"})
				return
			}
			_, existed := f.items[p]
			if r.Method == http.MethodPatch {
				if !existed {
					writeErr(w, 404, "ResourceNotFound", p)
					return
				}
				for k, v := range obj {
					f.items[p][k] = v
				}
			} else {
				obj["id"], obj["name"] = p, p[strings.LastIndexByte(p, '/')+1:]
				f.items[p] = obj
			}
			f.etags[p]++
			w.Header().Set("ETag", fmt.Sprintf(`"%d"`, f.etags[p]))
			if !existed {
				w.WriteHeader(201)
			}
			json.NewEncoder(w).Encode(f.items[p])
		case http.MethodDelete:
			if _, ok := f.items[p]; !ok {
				writeErr(w, 404, "ResourceNotFound", p)
				return
			}
			delete(f.items, p)
			w.WriteHeader(204)
		default:
			writeErr(w, 405, "MethodNotAllowed", "no")
		}
	}
}

func newClient(t *testing.T, srv *httptest.Server) *client.Client {
	c, err := client.New(srv.URL+"/", cred, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCRUD(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv)
	ctx := context.Background()

	obj, created, err := c.Put(ctx, "/apis/echo", map[string]any{"path": "echo"}, "")
	if err != nil || !created || obj["id"] != "/apis/echo" {
		t.Fatalf("Put = %v, %v, %v", obj, created, err)
	}
	if ct := f.lastReq.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	_, created, err = c.Put(ctx, "/apis/echo", map[string]any{"path": "echo2"}, "")
	if err != nil || created {
		t.Fatalf("second Put: created=%v err=%v", created, err)
	}

	got, etag, err := c.Get(ctx, "/apis/echo")
	if err != nil || got["path"] != "echo2" || etag != `"2"` {
		t.Fatalf("Get = %v, %q, %v", got, etag, err)
	}

	if _, err := c.Patch(ctx, "/apis/echo", map[string]any{"displayName": "Echo"}, `"1"`); !isStatus(err, 412) {
		t.Fatalf("Patch with stale ETag: %v", err)
	}
	if f.lastReq.Header.Get("If-Match") != `"1"` {
		t.Errorf("If-Match = %q", f.lastReq.Header.Get("If-Match"))
	}
	p, err := c.Patch(ctx, "/apis/echo", map[string]any{"displayName": "Echo"}, etag)
	if err != nil || p["displayName"] != "Echo" || p["path"] != "echo2" {
		t.Fatalf("Patch = %v, %v", p, err)
	}

	s, err := c.Post(ctx, "/subscriptions/s1", "listSecrets", nil)
	if err != nil || s["primaryKey"] != "k1" || f.lastReq.URL.Path != "/subscriptions/s1/listSecrets" || len(f.lastBody) != 0 {
		t.Fatalf("Post = %v, %v (path %s, body %q)", s, err, f.lastReq.URL.Path, f.lastBody)
	}

	if err := c.Delete(ctx, "/apis/echo", url.Values{"deleteSubscriptions": {"true"}}); err != nil {
		t.Fatal(err)
	}
	if q := f.lastReq.URL.Query().Get("deleteSubscriptions"); q != "true" {
		t.Errorf("query not passed: %q", f.lastReq.URL.RawQuery)
	}
	if _, _, err := c.Get(ctx, "/apis/echo"); !client.IsNotFound(err) {
		t.Fatalf("Get after delete: %v", err)
	}
	if err := c.Delete(ctx, "/apis/echo", nil); !client.IsNotFound(err) {
		t.Fatalf("second Delete: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == status
}

func TestListFollowsNextLink(t *testing.T) {
	for _, absolute := range []bool{false, true} {
		t.Run(fmt.Sprintf("absolute=%v", absolute), func(t *testing.T) {
			f, srv := newFake(t)
			if absolute {
				f.nextLinkBase = srv.URL
			}
			for i := 0; i < 5; i++ {
				f.items[fmt.Sprintf("/apis/a%d", i)] = map[string]any{"id": fmt.Sprintf("/apis/a%d", i)}
			}
			f.items["/products/p"] = map[string]any{"id": "/products/p"}
			got, err := newClient(t, srv).List(context.Background(), "/apis", nil)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range got {
				ids = append(ids, o["id"].(string))
			}
			if strings.Join(ids, ",") != "/apis/a0,/apis/a1,/apis/a2,/apis/a3,/apis/a4" {
				t.Errorf("ids = %v", ids)
			}
		})
	}
}

func TestListRefusesForeignNextLink(t *testing.T) {
	f, srv := newFake(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("credential sent to another origin: %q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	f.nextLinkBase = other.URL
	for i := 0; i < 3; i++ {
		f.items[fmt.Sprintf("/apis/a%d", i)] = map[string]any{}
	}
	_, err := newClient(t, srv).List(context.Background(), "/apis", nil)
	if err == nil || !strings.Contains(err.Error(), "points outside") {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorBody(t *testing.T) {
	_, srv := newFake(t)
	c := newClient(t, srv)
	_, _, err := c.Put(context.Background(), "/apis/bad", map[string]any{"path": ""}, "")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v", err, err)
	}
	if e.Status != 400 || e.Code != "ValidationError" || len(e.Details) != 1 || e.Details[0].Target != "path" || e.Details[0].Message != "is required" {
		t.Errorf("error = %+v", e)
	}
	if !strings.Contains(e.Error(), "path: is required") {
		t.Errorf("Error() = %q", e.Error())
	}

	_, _, err = c.Get(context.Background(), "/proxy-error")
	if !errors.As(err, &e) || e.Status != 502 || !strings.Contains(e.Message, "bad gateway") {
		t.Errorf("non-JSON error = %v", err)
	}
}

func TestBadCredential(t *testing.T) {
	_, srv := newFake(t)
	c, err := client.New(srv.URL, "wrong", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kinds(context.Background()); !isStatus(err, 401) {
		t.Fatalf("err = %v", err)
	}
}

func TestKinds(t *testing.T) {
	_, srv := newFake(t)
	ks, err := newClient(t, srv).Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[1].Name != "subscriptions" || ks[1].ApplyKind != "subscription" || ks[1].Secrets[0] != "primaryKey" || ks[1].ReadOnly[0] != "createdDate" || ks[0].Pattern != "/apis/{}" {
		t.Errorf("kinds = %+v", ks)
	}
}

func TestBaseURLWithPrefix(t *testing.T) {
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		io.WriteString(w, `{"id":"/apis/x"}`)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL+"/mgmt/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(context.Background(), "/apis/x"); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/mgmt/apis/x" {
		t.Errorf("path = %q", gotPath)
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8001", "ftp://x", "http://"} {
		if _, err := client.New(u, cred, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

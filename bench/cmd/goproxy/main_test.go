package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestForwardsToBackend(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		_, _ = io.WriteString(w, "from backend")
	}))
	defer backend.Close()
	target, err := parseBackend(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, pool := range []bool{false, true} {
		proxy := httptest.NewServer(newProxy(target, newTransport(), pool, slog.New(slog.DiscardHandler)))
		for range 3 { // several requests, so pooled buffers are reused
			resp, err := http.Get(proxy.URL + "/bench/x?y=1")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != "from backend" {
				t.Fatalf("pool=%v: GET = %d %q", pool, resp.StatusCode, got)
			}
			if p := resp.Header.Get("X-Seen-Path"); p != "/bench/x?y=1" {
				t.Errorf("pool=%v: backend saw %q, want /bench/x?y=1", pool, p)
			}
		}
		proxy.Close()
	}
}

func TestBackendDownIs502(t *testing.T) {
	backend := httptest.NewServer(http.NotFoundHandler())
	target, _ := parseBackend(backend.URL)
	backend.Close()
	proxy := httptest.NewServer(newProxy(target, newTransport(), false, slog.New(slog.DiscardHandler)))
	defer proxy.Close()
	resp, err := http.Get(proxy.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("GET = %d, want 502", resp.StatusCode)
	}
}

func TestParseBackendRejectsRelative(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:80", "ftp://x", "http://"} {
		if _, err := parseBackend(s); err == nil {
			t.Errorf("parseBackend(%q) accepted", s)
		}
	}
}

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServePortal: serve runs the developer portal on its listener, with
// the default products, and its sign-in goes to the identity listener;
// --portal-addr empty turns it off (the other serve tests).
func TestServePortal(t *testing.T) {
	srv, out := testServer(t, t.TempDir(), "--portal-addr", "127.0.0.1:0")
	u, ok := srv.urls["portal"]
	if !ok || !strings.Contains(out.String(), "portal      "+u) {
		t.Fatalf("no portal URL in the banner:\n%s", out.String())
	}
	status, h, body := call(t, http.MethodGet, u+"/products", "")
	if status != http.StatusOK || !strings.Contains(string(body), "Starter") || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /products: %d %v\n%s", status, h, body)
	}
	req, _ := http.NewRequest(http.MethodGet, u+"/signin", nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, srv.urls["identity"]+"/") || !strings.Contains(loc, "code_challenge=") {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, loc)
	}
}

// TestServePortalNeedsAUsableURL: a portal on every interface without a
// public URL cannot register its redirect URIs; serve says what to set.
func TestServePortalNeedsAUsableURL(t *testing.T) {
	cfg, err := loadServeConfig([]string{"--data-dir", t.TempDir(), "--gateway-addr", "127.0.0.1:0", "--management-addr", "127.0.0.1:0",
		"--identity-addr", "127.0.0.1:0", "--portal-addr", "0.0.0.0:0", "--log-level", "warn"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(t.Context(), cfg, io.Discard)
	if err == nil {
		srv.shutdown()
		t.Fatal("serve started a portal whose redirect URIs the identity provider refuses")
	}
	if !strings.Contains(err.Error(), "public URL") || !strings.Contains(err.Error(), "redirect URI") {
		t.Fatalf("error does not say what to set: %v", err)
	}
}

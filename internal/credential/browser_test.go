package credential_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/store/teststores"
)

// TestConsentInBrowser follows a login link in a real (headless) Chromium:
// the confirmation page, the provider's sign-in and consent, the callback,
// and the page the link was made for.
func TestConsentInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	var chrome string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	if chrome == "" {
		t.Skip("no Chromium installed")
	}
	e := newEnv(t, teststores.SQLite(t))
	clientID, secret, scope := e.seedAuthCode()
	e.must(http.StatusCreated, "PUT", "/authorizationProviders/saas", map[string]any{"identityProvider": "tollgate", "displayName": "SaaS",
		"oauth2": map[string]any{"grantTypes": map[string]any{"authorizationCode": map[string]any{"clientId": clientID, "clientSecret": secret, "scopes": scope}}}}, nil)
	conn := "/authorizationProviders/saas/authorizations/alice"
	e.must(http.StatusCreated, "PUT", conn, map[string]any{"authorizationType": "OAuth2", "oauth2grantType": "AuthorizationCode"}, nil)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<html><body><p id="done">connected</p></body></html>`))
	}))
	t.Cleanup(app.Close)
	newLink := func() string {
		var link struct {
			LoginLink string `json:"loginLink"`
		}
		e.must(http.StatusOK, "POST", conn+"/getLoginLinks", map[string]any{"postLoginRedirectUrl": app.URL + "/done"}, &link)
		return link.LoginLink
	}

	// Chromium sometimes hangs at start on a loaded machine (several
	// browser tests at once under -race): such a browser is given up after
	// a while and a new one started, with a new login link.
	var ctx context.Context
	for attempt := 1; ctx == nil; attempt++ {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1100, 800))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		bctx, cancelTimeout := context.WithTimeout(bctx, 120*time.Second)
		t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
		err := chromedp.Do(bctx) // starts the browser, bound to bctx
		if err == nil {
			octx, cancelOpen := context.WithTimeout(bctx, 40*time.Second)
			err = chromedp.Do(octx, chromedp.Navigate(newLink()), chromedp.WaitVisible("h1"))
			cancelOpen()
		}
		if err == nil {
			ctx = bctx
			break
		}
		lctx, cancelLoc := context.WithTimeout(context.WithoutCancel(bctx), 5*time.Second)
		loc, _ := chromedp.Run(lctx, chromedp.Location())
		cancelLoc()
		if attempt == 3 {
			t.Fatalf("open the link: %v (browser at %q)", err, loc)
		}
		t.Logf("attempt %d: open the link: %v (browser at %q); starting a new browser", attempt, err, loc)
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	}
	heading, err := chromedp.Run(ctx, chromedp.Text("h1"))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`button[value="continue"]`),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice@example.com"),
		chromedp.SendKeys(`input[name="password"]`, "correct horse battery"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`button[value="accept"]`),
		chromedp.Click(`button[value="accept"]`),
		chromedp.WaitVisible(`#done`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	done, err := chromedp.Run(ctx, chromedp.Text(`#done`))
	if err != nil {
		t.Fatal(err)
	}
	final, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if heading != "Connect SaaS?" || done != "connected" || final != app.URL+"/done" {
		t.Fatalf("heading %q, ended at %q (%q)", heading, final, done)
	}
	var c connView
	e.must(http.StatusOK, "GET", conn, nil, &c)
	if c.Status != "Connected" {
		t.Fatalf("status %q", c.Status)
	}
}

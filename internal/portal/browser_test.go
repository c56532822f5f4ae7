package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/store/teststores"
)

// The browser tests drive Debian's chromium through chromedp: the seeds'
// developer journeys, end to end, with JavaScript. Each page is checked
// with axe-core (no serious or critical violation) and photographed.
//
// Screenshots go to a temporary directory, or to TOLLGATE_PORTAL_SCREENSHOTS
// when set; docs/portal.md's images are refreshed with
//
//	TOLLGATE_PORTAL_SCREENSHOTS=$PWD/docs/images/portal go test -run TestBrowser ./internal/portal/

type bt struct {
	t     *testing.T
	e     *env
	ctx   context.Context
	shots string
	axe   string
}

func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func newBrowserTest(t *testing.T) *bt {
	path := chromium()
	if path == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it): the portal's browser tests did not run")
	}
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Skip("axe-core is missing: run npm ci in internal/portal/testdata/axe (.ci/run does)")
	}
	shots := os.Getenv("TOLLGATE_PORTAL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, teststores.SQLite(t), nil)
	e.seed()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1100, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return &bt{t: t, e: e, ctx: ctx, shots: shots, axe: string(axe)}
}

func (b *bt) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("browser at %s: %v\npage text:\n%s", loc, err, body)
	}
}

func (b *bt) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitText waits until the element's text contains want.
func (b *bt) waitText(sel, want string) string {
	b.t.Helper()
	expr := `(document.querySelector(` + jsString(sel) + `) || {}).textContent || ""`
	// Polling survives navigations: a poll cut short by one is retried.
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for {
		_, err = chromedp.Run(b.ctx, chromedp.Poll[bool](`(`+expr+`).indexOf(`+jsString(want)+`) >= 0`, chromedp.WithPollingTimeout(20*time.Second)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := b.eval(expr)
	if err != nil {
		b.t.Fatalf("%s never showed %q; it shows %q", sel, want, got)
	}
	return got
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// check runs axe-core on the page and saves a screenshot as name.png.
func (b *bt) check(name string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
		b.t.Fatalf("inject axe-core: %v", err)
	}
	violations, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		["passes " + r.passes.length].concat(r.violations.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", "))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe.run on %s: %v", name, err)
	}
	if len(violations) == 0 || !strings.HasPrefix(violations[0], "passes ") || violations[0] == "passes 0" {
		b.t.Fatalf("axe-core did not run on %s: %v", name, violations)
	}
	for _, v := range violations[1:] {
		if strings.HasPrefix(v, "serious ") || strings.HasPrefix(v, "critical ") {
			b.t.Errorf("accessibility (%s): %s", name, v)
		} else {
			b.t.Logf("accessibility note (%s): %s", name, v)
		}
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in through the identity provider's page.
func (b *bt) signIn(user string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.e.url+"/"), chromedp.Click(chromedp.CSS(`.account a[href*="/signin"]`)),
		chromedp.WaitVisible(chromedp.ID("password")))
	b.do(chromedp.SetValue(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")))
	b.do(chromedp.WaitVisible(chromedp.CSS(`.account button`)))
}

func (b *bt) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`.account button`)))
	b.do(chromedp.WaitVisible(chromedp.CSS(`.account a[href*="/signin"]`)))
}

// postFrom sends, from the current page, a form with the page's CSRF
// token to a portal path: a direct URL typed by a curious developer.
func (b *bt) postFrom(path string) {
	b.t.Helper()
	b.eval(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = ` + jsString(path) + `;
		const i = document.createElement("input"); i.type = "hidden"; i.name = "csrf"; i.value = document.querySelector("input[name=csrf]").value;
		f.appendChild(i); document.body.appendChild(f); f.submit(); return "" })()`)
}

func (b *bt) chooseAuth(v string) {
	b.t.Helper()
	b.eval(`(() => { const s = document.getElementById("auth"); s.value = ` + jsString(v) + `; s.dispatchEvent(new Event("change")); return s.value })()`)
}

// TestBrowser walks the developer journeys of the seeds in chromium.
func TestBrowser(t *testing.T) {
	b := newBrowserTest(t)
	e := b.e

	// Anonymous pages. Keyboard: the first Tab reaches the skip link,
	// which moves focus to the content.
	b.do(chromedp.Navigate(e.url+"/"), chromedp.KeyEvent("\t"))
	if got := b.eval(`document.activeElement.className`); got != "skip" {
		t.Fatalf("first Tab focuses %q, not the skip link", got)
	}
	b.do(chromedp.KeyEvent("\r"))
	if got := b.eval(`document.activeElement.id`); got != "main" {
		t.Fatalf("the skip link moved focus to %q", got)
	}
	b.check("home")
	b.do(chromedp.Navigate(e.url + "/signup"))
	b.check("signup")

	// Seed authorization-code-developer-console: sign in, open the Colors
	// API, get a token with PKCE through its authorization server, call.
	b.signIn("alice@example.com")
	b.do(chromedp.Navigate(e.url + "/products"))
	b.check("products")
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/products/colors"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href$="/apis/colors"]`)))
	b.check("product")
	b.do(chromedp.Navigate(e.url + "/apis"))
	b.check("apis")
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/apis/colors"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href$="/operations/list-colors"]`)))
	b.check("api")
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/operations/list-colors"]`)), chromedp.WaitVisible(chromedp.ID("get-token")))
	b.chooseAuth("code")
	b.do(chromedp.Click(chromedp.ID("get-token")))
	b.waitText("#token-status", "Token received")
	b.do(chromedp.Click(chromedp.ID("send")))
	b.waitText("#status", "200")
	sent := b.eval(`document.getElementById("request-sent").textContent`)
	if !strings.Contains(sent, "Authorization: Bearer ") || !strings.Contains(sent, "••••") {
		t.Fatalf("request shown without a masked token: %q", sent)
	}
	if curl := b.eval(`document.getElementById("curl").textContent`); !strings.Contains(curl, "curl -i -X GET '"+e.gwURL+"/colors/colors'") {
		t.Fatalf("curl: %q", curl)
	}
	b.check("console")
	// A token for another scope of the API is refused by validate-jwt.
	b.do(chromedp.SetValue(chromedp.ID("scope"), "api://colors/Colors.Write"), chromedp.Click(chromedp.ID("get-token")))
	b.waitText("#token-status", "Colors.Write")
	b.do(chromedp.Click(chromedp.ID("send")))
	b.waitText("#status", "401")

	// Responsive: the operation page on a phone has no horizontal scroll.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(e.url+"/apis/colors/operations/get-color"),
		chromedp.WaitVisible(chromedp.ID("send")))
	if wide := b.eval(`String(document.documentElement.scrollWidth > window.innerWidth + 1)`); wide != "false" {
		t.Fatalf("the operation page scrolls sideways at 390 px")
	}
	b.check("operation-mobile")
	b.do(chromedp.EmulateViewport(1100, 800))

	// Subscribe to Starter and call the echo API with the key.
	b.do(chromedp.Navigate(e.url+"/products/starter"), chromedp.Click(chromedp.ID("accept")), chromedp.Click(chromedp.CSS(`form[action$="/subscribe"] button`)))
	b.waitText(".notice", "You are subscribed")
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/keys"] button`)), chromedp.WaitVisible(chromedp.CSS(`code.secret`)))
	b.check("subscriptions")
	b.do(chromedp.Navigate(e.url+"/apis/echo/operations/get"), chromedp.WaitVisible(chromedp.ID("send")))
	b.chooseAuth("key")
	b.do(chromedp.Click(chromedp.ID("send")))
	b.waitText("#status", "200")
	if sent := b.eval(`document.getElementById("request-sent").textContent`); !strings.Contains(sent, "Ocp-Apim-Subscription-Key: ") || !strings.Contains(sent, "••••") {
		t.Fatalf("key not masked: %q", sent)
	}

	// CSRF: a form whose token was tampered with is refused.
	b.do(chromedp.Navigate(e.url + "/products/gold"))
	b.eval(`(() => { document.querySelector('form[action$="/subscribe"] input[name=csrf]').value = "forged"; return "" })()`)
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/subscribe"] button`)))
	b.waitText("h1", "Form refused")
	b.check("refused")
	aliceSub := b.eval(`""`)
	b.do(chromedp.Navigate(e.url + "/subscriptions"))
	aliceSub = b.eval(`document.querySelector(".subs li").id.slice(4)`)
	b.signOut()

	// Sign-up, then sign in as the new developer.
	b.do(chromedp.Navigate(e.url+"/signup"), chromedp.SendKeys(chromedp.ID("email"), "erin@example.com"),
		chromedp.SendKeys(chromedp.ID("firstName"), "Erin"), chromedp.SendKeys(chromedp.ID("lastName"), "Moe"),
		chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Submit(chromedp.ID("email")), chromedp.WaitVisible(chromedp.ID("username")))
	if hint := b.eval(`document.getElementById("username").value`); hint != "erin@example.com" {
		t.Fatalf("sign-in hint after sign-up: %q", hint)
	}
	b.do(chromedp.SendKeys(chromedp.ID("password"), password), chromedp.Submit(chromedp.ID("password")))
	b.waitText(".who", "Erin Moe")

	// Erin sees none of alice's subscriptions, not even by direct URL.
	b.do(chromedp.Navigate(e.url + "/subscriptions"))
	b.waitText("main", "no subscription yet")
	b.postFrom("/subscriptions/" + aliceSub + "/keys")
	b.waitText("h1", "Not found")
	if strings.Contains(b.eval(`document.body.innerHTML`), "secret") {
		t.Fatal("another developer's key page shows a secret")
	}
}

// TestBrowserProductApplications walks the developer's half of seed
// product-oauth-applications: an operator (through the management API)
// turns on OAuth access for the Starter product, makes a client
// application for alice and links it; alice sees it in the portal,
// reveals its secret, gets a token with it in the console and calls the
// product's API; bob sees none of it, not even by direct URL.
func TestBrowserProductApplications(t *testing.T) {
	b := newBrowserTest(t)
	e := b.e
	// The operator's half, over HTTP with the admin key.
	for _, step := range []struct{ method, path, body string }{
		{http.MethodPatch, "/products/starter", `{"authenticationType":["subscriptionKey","oauth2Token"]}`},
		{http.MethodPut, "/clientApplications/alice-starter", `{"displayName":"Alice's starter app","ownerId":"/users/alice"}`},
		{http.MethodPut, "/clientApplications/alice-starter/productLinks/starter", `{"productId":"/products/starter"}`},
	} {
		if status, body := e.mgmtCall(step.method, step.path, step.body); status >= 300 {
			t.Fatalf("%s %s: %d %s", step.method, step.path, status, body)
		}
	}
	var a struct {
		ApplicationID string `json:"applicationId"`
	}
	_ = json.Unmarshal(e.get("/clientApplications/alice-starter"), &a)

	// The developer's: the application, its client id, product and scope.
	b.signIn("alice@example.com")
	b.do(chromedp.Navigate(e.url + "/applications"))
	card := b.waitText("#app-alice-starter", a.ApplicationID)
	for _, want := range []string{"Starter", "/.default", "active"} {
		if !strings.Contains(card, want) {
			t.Fatalf("the application's card lacks %q: %s", want, card)
		}
	}
	// Reveal the secret: a deliberate POST.
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/alice-starter/secret"] button`)))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#app-alice-starter code.secret`)))
	if secret := b.eval(`document.querySelector("#app-alice-starter code.secret").textContent`); len(secret) < 20 {
		t.Fatalf("secret shown: %q", secret)
	}
	b.check("applications")

	// A token by client credentials in the console, then the product's API.
	b.do(chromedp.Navigate(e.url+"/apis/echo/operations/get"), chromedp.WaitVisible(chromedp.ID("send")))
	b.chooseAuth("client")
	if scope := b.eval(`document.getElementById("scope").value`); !strings.HasPrefix(scope, "api://") || !strings.HasSuffix(scope, "/.default") {
		t.Fatalf("the console's scope for the application: %q", scope)
	}
	b.do(chromedp.Click(chromedp.ID("get-token")))
	b.waitText("#token-status", "Token received")
	b.do(chromedp.Click(chromedp.ID("send")))
	b.waitText("#status", "200")
	if sent := b.eval(`document.getElementById("request-sent").textContent`); !strings.Contains(sent, "Authorization: Bearer ") || strings.Contains(sent, "Ocp-Apim") {
		t.Fatalf("request sent: %q", sent)
	}
	b.signOut()

	// Another developer sees nothing of it, even by direct URL.
	b.signIn("bob@example.com")
	b.do(chromedp.Navigate(e.url + "/applications"))
	b.waitText("main", "You have no client application")
	b.postFrom("/applications/alice-starter/secret")
	b.waitText("h1", "Not found")
	if body := b.eval(`document.body.innerHTML`); strings.Contains(body, "secret") || strings.Contains(body, a.ApplicationID) {
		t.Fatal("another developer's secret page shows the application")
	}
}

// TestBrowserOperationContract: an imported operation's page passes the
// accessibility check, and its console, started from the contract (the
// parameters' defaults, the headers, the request's example), sends them.
func TestBrowserOperationContract(t *testing.T) {
	b := newBrowserTest(t)
	e := b.e
	op := e.importPets()
	b.do(chromedp.Navigate(e.url+"/apis/pets/operations/"+op), chromedp.WaitVisible(chromedp.ID("send")))
	b.check("operation-contract")
	if got := b.eval(`document.getElementById("body").value`); !strings.Contains(got, `"name": "<script>alert(1)</script>"`) {
		t.Fatalf("console body starts as %q", got)
	}
	b.chooseAuth("none")
	b.do(chromedp.SetValue(chromedp.ID("p-petId"), "7"), chromedp.Click(chromedp.ID("send")))
	b.waitText("#status", "200")
	sent := b.eval(`document.getElementById("request-sent").textContent`)
	for _, want := range []string{"PUT " + e.gwURL + "/pets-api/pets/7?verbose=false", "X-Trace: on", "Content-Type: application/json", `"tag": "cat"`} {
		if !strings.Contains(sent, want) {
			t.Fatalf("request sent %q lacks %q", sent, want)
		}
	}
}

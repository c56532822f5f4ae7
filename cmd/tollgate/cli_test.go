package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

const cliAdminKey = "cli-test-admin-key-0123456789"

// cliServer is a real management API on a real SQLite store.
type cliServer struct {
	url string
	// env is what the CLI sees: the server's URL and admin key in the
	// environment, and an empty data dir.
	env map[string]string
}

func newCLIServer(t *testing.T) *cliServer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newCLIServerOn(t, st, resource.NewRegistry())
}

// cliBackends runs fn against a management API on SQLite, and on
// PostgreSQL when TOLLGATE_TEST_POSTGRES is set (in a schema of its own).
func cliBackends(t *testing.T, fn func(t *testing.T, s *cliServer)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newCLIServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("TOLLGATE_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("TOLLGATE_TEST_POSTGRES is not set")
		}
		ctx := context.Background()
		b := make([]byte, 6)
		rand.Read(b)
		schema := "tg_cli_" + hex.EncodeToString(b)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		})
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		st, err := postgres.Open(ctx, dsn+sep+"search_path="+schema)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, newCLIServerOn(t, st, resource.NewRegistry()))
	})
}

func newCLIServerOn(t *testing.T, st store.Store, reg *resource.Registry) *cliServer {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, err := keyring.NewLocalKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := management.New(management.Options{
		Store: st, Registry: reg, Keyring: keyring.New(kek),
		Hasher: keyring.NewHasher([]byte("lookup-key-for-tests")), AdminKey: cliAdminKey,
	})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return &cliServer{url: srv.URL, env: map[string]string{
		"TOLLGATE_MANAGEMENT_URL": srv.URL,
		"TOLLGATE_ADMIN_KEY":      cliAdminKey,
		"TOLLGATE_DATA_DIR":       t.TempDir(),
	}}
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs a verb in process, as main would.
func (s *cliServer) cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, cliEnv{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv:     fakeEnv(s.env),
		httpClient: &http.Client{Timeout: 30 * time.Second},
	})
	return cliResult{out.String(), errb.String(), code}
}

// ok runs a verb that must succeed and returns its stdout.
func (s *cliServer) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := s.cli(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("tollgate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func writeCLIFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A configuration spread over files whose order puts children before
// parents: apply must sort it out.
var sampleConfig = map[string]string{
	// Hidden files are not configuration: apply skips them.
	".git/config.yaml": "kind: api\nid: hidden\npath: hidden\n",
	".hidden.yaml":     "kind: api\nid: hidden\npath: hidden\n",
	"a-subscriptions.yaml": `
kind: subscription
id: alice-starter
displayName: Alice on Starter
scope: /products/starter
ownerId: /users/alice
primaryKey: alice-primary-key-0001
secondaryKey: alice-secondary-key-0001
`,
	"b-operations.yaml": `
# operations of the orders API
kind: operation
id: /apis/orders/operations/list
method: GET
urlTemplate: /orders
---
kind: operation
id: orders/create
method: POST
urlTemplate: /orders
displayName: Create an order
---
kind: policy
id: /apis/orders/policies/policy
value: <policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>
`,
	"c-apis.json": `[
  {"kind": "api", "id": "orders", "displayName": "Orders", "path": "orders", "serviceUrl": "http://127.0.0.1:9/orders",
   "subscriptionKeyParameterNames": {"header": "X-Key", "query": "key"}},
  {"kind": "api", "id": "/apis/inventory", "path": "inventory", "serviceUrl": "tollgate:echo", "subscriptionRequired": false}
]`,
	"d-products.yml": `
kind: product
id: starter
displayName: Starter
subscriptionRequired: true
subscriptionsLimit: 1
state: published
---
kind: productApi
id: /products/starter/apis/orders
---
kind: user
id: alice
email: alice@example.com
firstName: Alice
lastName: Liddell
---
kind: namedValue
id: backend-token
secret: true
value: s3cr3t-value
---
kind: namedValue
id: region
value: eu-west
secret: false
tags: []
`,
}

func TestApplyCreatesUpdatesAndIsIdempotent(t *testing.T) {
	s := newCLIServer(t)
	dir := writeCLIFiles(t, sampleConfig)

	out := s.ok(t, "", "apply", "-f", dir)
	wantCreated := []string{
		"api/orders created", "api/inventory created", "product/starter created", "user/alice created",
		"subscription/alice-starter created", "namedValue/backend-token created", "namedValue/region created",
		"operation /apis/orders/operations/list created", "operation /apis/orders/operations/create created",
		"productApi /products/starter/apis/orders created", "policy /apis/orders/policies/policy created",
	}
	for _, w := range wantCreated {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("first apply output lacks %q:\n%s", w, out)
		}
	}
	// Parents first: the API before its operations, the product and user
	// before the subscription.
	if strings.Index(out, "api/orders") > strings.Index(out, "operation /apis/orders/operations/list") ||
		strings.Index(out, "user/alice") > strings.Index(out, "subscription/alice-starter") {
		t.Errorf("not applied parents first:\n%s", out)
	}

	// Again: nothing changes, secrets included (compared via listSecrets).
	if strings.Contains(out, "hidden") {
		t.Errorf("apply read hidden files:\n%s", out)
	}
	out = s.ok(t, "", "apply", "-f", dir)
	if strings.Count(out, " unchanged\n") != len(wantCreated) || strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("second apply is not all unchanged:\n%s", out)
	}

	// A changed field and a changed secret are updates; the rest stays.
	changed := writeCLIFiles(t, map[string]string{"x.yaml": `
kind: api
id: orders
displayName: Orders v2
---
kind: subscription
id: alice-starter
primaryKey: alice-primary-key-0002
---
kind: api
id: inventory
path: inventory
`})
	out = s.ok(t, "", "apply", "-f", changed)
	for _, w := range []string{"api/orders updated", "subscription/alice-starter updated", "api/inventory unchanged"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	var api map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "", "get", "api", "orders", "-o", "json")), &api); err != nil {
		t.Fatal(err)
	}
	// The update merged: fields the document left out kept their values.
	if api["displayName"] != "Orders v2" || api["serviceUrl"] != "http://127.0.0.1:9/orders" {
		t.Errorf("api after update: %v", api)
	}
	exp := s.ok(t, "", "export", "--include-secrets")
	if !strings.Contains(exp, "primaryKey: alice-primary-key-0002") || !strings.Contains(exp, "secondaryKey: alice-secondary-key-0001") {
		t.Errorf("keys after update not as applied:\n%s", exp)
	}
}

func TestApplyStdinAndErrors(t *testing.T) {
	s := newCLIServer(t)
	input := `
kind: api
id: good
path: good
---
kind: api
id: bad
path: "a b"
protocols: [ftp]
---
kind: operation
id: /apis/missing/operations/x
method: GET
urlTemplate: /x
---
kind: gizmo
id: g1
---
kind: api
path: noid
`
	r := s.cli(t, input, "apply", "-f", "-")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "api/good created") {
		t.Errorf("good document not applied:\n%s", r.stdout)
	}
	for _, w := range []string{
		"stdin: document 2 (api/bad): 400", "path:", "protocols[0]:",
		"stdin: document 3 (operation /apis/missing/operations/x):",
		`stdin: document 4: unknown kind "gizmo"`,
		`stdin: document 5: missing "id"`,
		"4 of 5 documents failed",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

// TestApplyJSONObjectAndReadOnly: a JSON file may be one object; fields
// the server sets (read-only) and a matching name are ignored, so a
// resource copied from get -o json applies.
func TestApplyJSONObjectAndReadOnly(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))
	var sub map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "", "get", "subscription", "alice-starter", "-o", "json")), &sub); err != nil {
		t.Fatal(err)
	}
	if sub["createdDate"] == nil {
		t.Fatalf("no createdDate to ignore: %v", sub)
	}
	sub["kind"] = "subscription"
	sub["createdDate"] = "2001-01-01T00:00:00Z"
	b, _ := json.Marshal(sub)
	if out := s.ok(t, string(b), "apply", "-f", "-"); out != "subscription/alice-starter unchanged\n" {
		t.Errorf("apply of get output: %q", out)
	}
	sub["name"] = "someone-else"
	b, _ = json.Marshal(sub)
	if r := s.cli(t, string(b), "apply", "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "does not match id") {
		t.Errorf("mismatched name: exit %d %q", r.code, r.stderr)
	}
	one := `{"kind": "users", "id": "bob", "email": "bob@example.com", "firstName": "Bob", "lastName": "B"}`
	if out := s.ok(t, "", "apply", "-f", filepath.Join(writeCLIFiles(t, map[string]string{"bob.json": one}), "bob.json")); out != "user/bob created\n" {
		t.Errorf("apply one JSON object: %q", out)
	}
}

func TestApplyInputErrors(t *testing.T) {
	s := newCLIServer(t)
	dir := writeCLIFiles(t, map[string]string{
		"bad.yaml":  "kind: api\nid: a\n---\nkind: [\n",
		"list.yaml": "- a\n- b\n",
		"num.json":  `{"kind": "api", "id": 7}`,
	})
	cases := []struct{ file, want string }{
		{"bad.yaml", "bad.yaml: document 2"},
		{"list.yaml", "list.yaml: document 1: must be a mapping"},
		{"num.json", `num.json: document 1: "id" must be a string`},
		{"missing.yaml", "missing.yaml"},
	}
	for _, c := range cases {
		r := s.cli(t, "", "apply", "-f", filepath.Join(dir, c.file))
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.file, r.code, r.stderr, c.want)
		}
	}
	if r := s.cli(t, "", "apply"); r.code != 2 {
		t.Errorf("apply without -f: exit %d", r.code)
	}
}

// TestExportRoundTrip is issue 2's round trip: apply, export, delete
// everything, apply the export, export again: the same text.
func TestExportRoundTrip(t *testing.T) {
	for _, secrets := range []bool{false, true} {
		name := "without secrets"
		if secrets {
			name = "with secrets"
		}
		t.Run(name, func(t *testing.T) {
			cliBackends(t, func(t *testing.T, s *cliServer) { testRoundTrip(t, s, secrets) })
		})
	}
}

// secretNamedValueDoc is sampleConfig's secret named value: an export
// without secrets cannot recreate it (its value is not exported), so the
// round trip without secrets leaves it out, and TestExportWithoutSecrets
// checks that applying such an export says what is missing.
const secretNamedValueDoc = `---
kind: namedValue
id: backend-token
secret: true
value: s3cr3t-value
`

func testRoundTrip(t *testing.T, s *cliServer, secrets bool) {
	config := map[string]string{}
	for name, text := range sampleConfig {
		if !secrets {
			text = strings.Replace(text, secretNamedValueDoc, "", 1)
		}
		config[name] = text
	}
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, config))
	args := []string{"export"}
	if secrets {
		args = append(args, "--include-secrets")
	}
	first := s.ok(t, "", args...)
	if strings.Contains(first, "createdDate") || strings.Contains(first, "\nname:") {
		t.Errorf("export has read-only fields:\n%s", first)
	}
	if secrets != strings.Contains(first, "alice-primary-key-0001") || strings.Contains(first, "s3cr3t-value") != secrets {
		t.Errorf("secrets in export = %v, want %v:\n%s", !secrets, secrets, first)
	}
	if !strings.Contains(first, "value: eu-west") {
		t.Errorf("a plain named value is missing:\n%s", first)
	}
	checkExportOrder(t, first)

	s.deleteEverything(t)
	if rest := s.ok(t, "", "export"); rest != "" {
		t.Fatalf("something survived deletion:\n%s", rest)
	}

	out := s.ok(t, first, "apply", "-f", "-")
	if strings.Contains(out, "unchanged") || strings.Contains(out, "updated") {
		t.Errorf("apply after delete did not only create:\n%s", out)
	}
	second := s.ok(t, "", args...)
	if second != first {
		t.Errorf("export differs after the round trip:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if out := s.ok(t, first, "apply", "-f", "-"); strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("re-applying the export changed something:\n%s", out)
	}
}

// TestExportWithoutSecrets: a secret named value exported without its
// value cannot be applied to an empty server; apply says which field is
// missing rather than creating a secret with no value.
func TestExportWithoutSecrets(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))
	exported := s.ok(t, "", "export")
	s.deleteEverything(t)
	r := s.cli(t, exported, "apply", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "namedValue/backend-token") || !strings.Contains(r.stderr, "value: is required") {
		t.Fatalf("apply of an export without secrets: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// deleteEverything deletes every exported resource, children first.
func (s *cliServer) deleteEverything(t *testing.T) {
	t.Helper()
	docs := exportedDocs(t, s.ok(t, "", "export"))
	for i := len(docs) - 1; i >= 0; i-- {
		r := s.cli(t, "", "delete", docs[i]["kind"].(string), docs[i]["id"].(string), "--delete-subscriptions")
		// Deleting a parent may already have removed a child.
		if r.code != 0 && !strings.Contains(r.stderr, "404") {
			t.Fatalf("delete %v: exit %d: %s", docs[i]["id"], r.code, r.stderr)
		}
	}
}

func exportedDocs(t *testing.T, text string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("export is not YAML: %v\n%s", err, text)
		}
		docs = append(docs, d)
	}
}

// checkExportOrder: kind and id lead each document, kinds come parents
// first, ids ascend within a kind.
func checkExportOrder(t *testing.T, text string) {
	t.Helper()
	for _, doc := range strings.Split(text, "---\n") {
		if !strings.HasPrefix(doc, "kind: ") || !strings.Contains(strings.SplitN(doc, "\n", 3)[1], "id: ") {
			t.Errorf("document does not start with kind and id:\n%s", doc)
		}
	}
	docs := exportedDocs(t, text)
	rank := map[string]int{"api": 1, "product": 1, "user": 1, "subscription": 1, "namedValue": 1, "operation": 2, "productApi": 2, "policy": 2}
	for i := 1; i < len(docs); i++ {
		a, b := docs[i-1], docs[i]
		ka, kb := a["kind"].(string), b["kind"].(string)
		if rank[ka] > rank[kb] {
			t.Errorf("%s %v exported before its parent kind %s %v", ka, a["id"], kb, b["id"])
		}
		if ka == kb && a["id"].(string) > b["id"].(string) {
			t.Errorf("ids out of order: %v before %v", a["id"], b["id"])
		}
	}
}

func TestExportToFile(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))
	p := filepath.Join(t.TempDir(), "out.yaml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := s.ok(t, "", "export", "--include-secrets", "-o", p); out != "" {
		t.Errorf("stdout not empty: %q", out)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("export with secrets has mode %v", st.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if !bytes.Contains(b, []byte("alice-primary-key-0001")) {
		t.Errorf("file lacks the secrets:\n%s", b)
	}
}

func TestGet(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))

	table := s.ok(t, "", "get", "apis")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "DISPLAY NAME") ||
		!strings.Contains(lines[0], "SERVICE URL") || !strings.HasPrefix(lines[1], "inventory") || !strings.HasPrefix(lines[2], "orders") {
		t.Errorf("get apis:\n%s", table)
	}
	// Columns are aligned: the PATH column starts at the same offset.
	if i, j := strings.Index(lines[0], "PATH"), strings.Index(lines[2], "orders "); i < 0 || !strings.HasPrefix(lines[2][i:], "orders") || j < 0 {
		t.Errorf("columns not aligned:\n%s", table)
	}

	// Every way to name the kind and the item.
	for _, args := range [][]string{
		{"get", "operations", "orders"},
		{"get", "operation", "/apis/orders/operations"},
		{"get", "apis/operations", "orders"},
	} {
		out := s.ok(t, "", args...)
		if !strings.Contains(out, "/apis/orders/operations/create") || !strings.Contains(out, "/apis/orders/operations/list") || !strings.Contains(out, "METHOD") {
			t.Errorf("%v:\n%s", args, out)
		}
	}
	for _, args := range [][]string{
		{"get", "operation", "orders/create", "-o", "json"},
		{"get", "-o", "json", "operations", "/apis/orders/operations/create"},
	} {
		var op map[string]any
		if err := json.Unmarshal([]byte(s.ok(t, "", args...)), &op); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if op["method"] != "POST" || op["id"] != "/apis/orders/operations/create" {
			t.Errorf("%v: %v", args, op)
		}
	}

	// Every operation of every API, when no parent is given.
	if out := s.ok(t, "", "get", "operations"); strings.Count(out, "/apis/orders/operations/") != 2 {
		t.Errorf("get operations:\n%s", out)
	}
	var subs []map[string]any
	if err := yaml.Unmarshal([]byte(s.ok(t, "", "get", "subscriptions", "-o", "yaml")), &subs); err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0]["scope"] != "/products/starter" || subs[0]["primaryKey"] != nil {
		t.Errorf("get subscriptions -o yaml: %v", subs)
	}
	if out := s.ok(t, "", "get", "namedValues"); !strings.Contains(out, "eu-west") || strings.Contains(out, "s3cr3t") {
		t.Errorf("get namedValues:\n%s", out)
	}
	if out := s.ok(t, "", "get", "policy"); !strings.Contains(out, "/apis/orders/policies/policy") {
		t.Errorf("get policy:\n%s", out)
	}
	if out := s.ok(t, "", "get", "products/apis", "starter"); !strings.Contains(out, "/products/starter/apis/orders") {
		t.Errorf("get products/apis starter:\n%s", out)
	}
	if out := s.ok(t, "", "get", "users", "-o", "json"); !strings.HasPrefix(out, "[") || !strings.Contains(out, "alice@example.com") {
		t.Errorf("get users -o json:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"get", "gizmos"}, 2, `unknown kind "gizmos"`},
		{[]string{"get", "api", "nope"}, 1, "404"},
		{[]string{"get", "operation", "a/b/c"}, 2, "does not fit"},
		{[]string{"get", "policy", "orders"}, 2, "ambiguous"},
		{[]string{"get", "apis", "-o", "xml"}, 2, "-o must be"},
		// `get` without a kind lists the kinds (TestFirstHour).
		{[]string{"get", "a", "b", "c"}, 2, "Usage: tollgate get"},
		{[]string{"get", "api", "../x"}, 2, "bad id segment"},
	} {
		r := s.cli(t, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q, want exit %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}

func TestGetEmpty(t *testing.T) {
	s := newCLIServer(t)
	if out := s.ok(t, "", "get", "apis"); out != "No resources found.\n" {
		t.Errorf("table: %q", out)
	}
	if out := s.ok(t, "", "get", "apis", "-o", "json"); out != "[]\n" {
		t.Errorf("json: %q", out)
	}
}

func TestDelete(t *testing.T) {
	s := newCLIServer(t)
	s.ok(t, "", "apply", "-f", writeCLIFiles(t, sampleConfig))

	if out := s.ok(t, "", "delete", "operation", "orders/list"); out != "operation /apis/orders/operations/list deleted\n" {
		t.Errorf("delete operation: %q", out)
	}
	r := s.cli(t, "", "delete", "product", "starter")
	if r.code != 1 || !strings.Contains(r.stderr, "409") {
		t.Errorf("delete product with subscriptions: exit %d %s", r.code, r.stderr)
	}
	if out := s.ok(t, "", "delete", "product", "starter", "--delete-subscriptions"); out != "product/starter deleted\n" {
		t.Errorf("delete product: %q", out)
	}
	if out := s.ok(t, "", "get", "subscriptions"); !strings.Contains(out, "No resources found") {
		t.Errorf("subscriptions survived:\n%s", out)
	}
	if r := s.cli(t, "", "delete", "api", "nope"); r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Errorf("delete missing: exit %d %s", r.code, r.stderr)
	}
	if r := s.cli(t, "", "delete", "operations", "orders"); r.code != 2 {
		t.Errorf("delete of a collection: exit %d %s", r.code, r.stderr)
	}
}

func TestBadCredentialFails(t *testing.T) {
	s := newCLIServer(t)
	s.env["TOLLGATE_ADMIN_KEY"] = "wrong-key-0123456789"
	r := s.cli(t, "", "get", "apis")
	if r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

// TestCredentialFromDataDir: no flags or environment, only what a local
// serve wrote into its data dir.
func TestCredentialFromDataDir(t *testing.T) {
	s := newCLIServer(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "admin.key"), []byte(cliAdminKey+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "management.url"), []byte(s.url+"\n"), 0o644)
	s.env = map[string]string{}
	if out := s.ok(t, "", "get", "apis", "--data-dir", dir); !strings.Contains(out, "No resources") {
		t.Errorf("get: %q", out)
	}
}

func TestResolveConnection(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	empty := t.TempDir()
	withKey := t.TempDir()
	os.WriteFile(filepath.Join(withKey, "admin.key"), []byte("file-key\n"), 0o600)
	os.WriteFile(filepath.Join(withKey, "management.url"), []byte("http://10.0.0.1:8001\n"), 0o644)
	os.WriteFile(filepath.Join(withKey, "cli-token.json"), []byte(`{"access_token":"tok","expires_at":"2026-11-21T13:00:00Z"}`), 0o600)
	withToken := t.TempDir()
	os.WriteFile(filepath.Join(withToken, "cli-token.json"), []byte(`{"access_token":"tok","expires_at":"2026-11-21T13:00:00Z"}`), 0o600)
	expired := t.TempDir()
	os.WriteFile(filepath.Join(expired, "cli-token.json"), []byte(`{"access_token":"old","expires_at":"2026-11-21T11:59:59Z"}`), 0o600)
	_ = dir

	cases := []struct {
		name     string
		flags    connFlags
		env      map[string]string
		url, key string
		err      string
	}{
		{name: "flags win", flags: connFlags{managementURL: "http://f:1", adminKey: "flag-key", dataDir: withKey},
			env: map[string]string{"TOLLGATE_MANAGEMENT_URL": "http://e:1", "TOLLGATE_ADMIN_KEY": "env-key"}, url: "http://f:1", key: "flag-key"},
		{name: "env over data dir", flags: connFlags{dataDir: withKey},
			env: map[string]string{"TOLLGATE_MANAGEMENT_URL": "http://e:1", "TOLLGATE_ADMIN_KEY": "env-key"}, url: "http://e:1", key: "env-key"},
		{name: "data dir files", flags: connFlags{dataDir: withKey}, url: "http://10.0.0.1:8001", key: "file-key"},
		{name: "data dir from env", env: map[string]string{"TOLLGATE_DATA_DIR": withKey}, url: "http://10.0.0.1:8001", key: "file-key"},
		{name: "login token", flags: connFlags{dataDir: withToken}, url: defaultManagementURL, key: "tok"},
		{name: "expired token", flags: connFlags{dataDir: expired}, err: "no credential"},
		{name: "nothing", flags: connFlags{dataDir: empty}, err: "no credential"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := resolveConnection(c.flags, fakeEnv(c.env), now)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if conn.URL != c.url || conn.Credential != c.key {
				t.Errorf("got %s %s, want %s %s", conn.URL, conn.Credential, c.url, c.key)
			}
		})
	}
}

func TestVersionAndUsage(t *testing.T) {
	s := &cliServer{env: map[string]string{}}
	if out := s.ok(t, "", "version"); !strings.HasPrefix(out, "tollgate ") || !strings.Contains(out, "go       go1.") {
		t.Errorf("version: %q", out)
	}
	help := s.ok(t, "", "help")
	for _, verb := range []string{"serve", "get KIND", "delete KIND", "apply -f", "export", "version", "help"} {
		if !strings.Contains(help, verb) {
			t.Errorf("usage lacks %q", verb)
		}
	}
	if r := s.cli(t, "", "help", "apply"); r.code != 0 || !strings.Contains(r.stdout, "Usage: tollgate apply") {
		t.Errorf("help apply: exit %d %q", r.code, r.stdout)
	}
	if r := s.cli(t, ""); r.code != 2 {
		t.Errorf("no verb: exit %d", r.code)
	}
	if r := s.cli(t, "", "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown verb "frobnicate"`) {
		t.Errorf("unknown verb: exit %d %q", r.code, r.stderr)
	}
	if r := s.cli(t, "", "get", "-h"); r.code != 0 || !strings.Contains(r.stdout, "-management-url") {
		t.Errorf("get -h: exit %d %q", r.code, r.stdout)
	}
	if r := s.cli(t, "", "get", "--bogus"); r.code != 2 || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("get --bogus: exit %d %q", r.code, r.stderr)
	}
}

// TestKindsFromServer: kinds the CLI has never heard of (as other packages
// add them) work through GET /kinds: get, apply in parent order, export.
func TestKindsFromServer(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := resource.NewRegistry()
	reg.Register(resource.Kind{Name: "gadgets", Pattern: "/gadgets/{}", ApplyKind: "gadget",
		New: func() resource.Resource { return &resource.NamedValue{} }})
	reg.Register(resource.Kind{Name: "gadgets/parts", Pattern: "/gadgets/{}/parts/{}", ApplyKind: "gadgetPart",
		New: func() resource.Resource { return &resource.Operation{} }})
	s := newCLIServerOn(t, st, reg)

	docs := `
kind: gadgetPart
id: widget/knob
method: GET
urlTemplate: /knob
---
kind: gadget
id: widget
displayName: Widget
value: blue
tags: [a, b]
`
	out := s.ok(t, docs, "apply", "-f", "-")
	if out != "gadget/widget created\ngadgetPart /gadgets/widget/parts/knob created\n" {
		t.Errorf("apply:\n%s", out)
	}
	table := s.ok(t, "", "get", "gadgets")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	// Generic columns: display name, then the first plain fields by name
	// (tags, a list, is not one).
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME DISPLAY NAME VALUE" ||
		strings.Join(strings.Fields(lines[1]), " ") != "widget Widget blue" {
		t.Errorf("get gadgets:\n%s", table)
	}
	if out := s.ok(t, "", "get", "parts", "widget"); !strings.Contains(out, "/gadgets/widget/parts/knob") {
		t.Errorf("get parts widget:\n%s", out)
	}
	exp := s.ok(t, "", "export")
	if !strings.Contains(exp, "kind: gadget\nid: /gadgets/widget\n") || strings.Index(exp, "kind: gadget\n") > strings.Index(exp, "kind: gadgetPart\n") {
		t.Errorf("export:\n%s", exp)
	}
}

// TestExportToAnotherInstallation: an export applies to a fresh
// installation, whose built-in resources (the management application)
// have their own generated ids and are not exported.
func TestExportToAnotherInstallation(t *testing.T) {
	a, _ := testServer(t, t.TempDir())
	b, _ := testServer(t, t.TempDir())
	code, exported, errs := runCLI(t, "export", "--management-url", a.urls["management"], "--admin-key", a.adminKey)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if strings.Contains(exported, "tollgate-management") {
		t.Errorf("export holds the built-in management application:\n%s", exported)
	}
	if !strings.Contains(exported, "echo-api") {
		t.Fatalf("export lacks the Echo API:\n%s", exported)
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), []string{"apply", "-f", "-", "--management-url", b.urls["management"], "--admin-key", b.adminKey},
		cliEnv{stdin: strings.NewReader(exported), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, httpClient: http.DefaultClient})
	if code != 0 {
		t.Fatalf("apply to another installation: %d\n%s%s", code, out.String(), errb.String())
	}
}

// TestExportLeavesOutThePortalApplication: the developer portal's
// registration is made by every installation's portal, so export leaves
// it out.
func TestExportLeavesOutThePortalApplication(t *testing.T) {
	a, _ := testServer(t, t.TempDir(), "--portal-addr", "127.0.0.1:0")
	code, out, errs := runCLI(t, "get", "applications", "--management-url", a.urls["management"], "--admin-key", a.adminKey)
	if code != 0 || !strings.Contains(out, "tollgate-portal") {
		t.Fatalf("the portal did not register itself: %d %s%s", code, out, errs)
	}
	code, exported, errs := runCLI(t, "export", "--management-url", a.urls["management"], "--admin-key", a.adminKey)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if strings.Contains(exported, "tollgate-portal") {
		t.Errorf("export holds the portal's built-in application:\n%s", exported)
	}
}

// TestApplyArrayItemsWithServerFields: an application whose app roles
// leave out their ids (the server generates them) applies as unchanged the
// second time.
func TestApplyArrayItemsWithServerFields(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	doc := `kind: application
id: /directory/applications/noid-app
displayName: No ids
appRoles:
  - value: APIAccess
    displayName: API access
    allowedMemberTypes: [Application]
    isEnabled: true
`
	apply := func() string {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"apply", "-f", "-", "--management-url", srv.urls["management"], "--admin-key", srv.adminKey},
			cliEnv{stdin: strings.NewReader(doc), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, httpClient: http.DefaultClient})
		if code != 0 {
			t.Fatalf("apply: %d %s%s", code, out.String(), errb.String())
		}
		return out.String()
	}
	if out := apply(); !strings.Contains(out, "created") {
		t.Fatalf("first apply: %s", out)
	}
	if out := apply(); !strings.Contains(out, "unchanged") {
		t.Fatalf("second apply: %s", out)
	}
}

package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each example's README is a walkthrough a user follows with curl. This test
// runs it exactly as written: it starts `tollgate serve` on free ports in a
// temporary directory (so the README's `tollgate-data/admin.key` is there),
// takes the README's ```sh blocks in order and runs them as one bash script
// with -euo pipefail. The READMEs carry their own checks (`test`, `jq -e`,
// `curl --fail-with-body`), so any step that goes wrong fails the test, and the
// failure names the README line.
//
// Only ```sh blocks run; ```console blocks (such as `tollgate serve` itself)
// are for reading. The README's default addresses (127.0.0.1:8000, :8001,
// :8003) are replaced by the test server's, in the blocks and in the files
// copied next to the script (tollgate.yaml).

type example struct {
	dir string
	// prelude is the section whose blocks every run starts with.
	prelude string
	// apply is the section showing the `tollgate apply` way. The walkthrough
	// is every section before it; the apply run, on a fresh server, is the
	// prelude, this section, then the sections in then.
	apply string
	then  []string
}

var examples = []example{
	{
		dir:     "client-credentials",
		prelude: "Before you start",
		apply:   "The same with `tollgate apply`",
		then:    []string{"Get a token (seed steps 10–12)", "Call the API (seed steps 15–18)"},
	},
	{
		dir:     "credential-manager",
		prelude: "Before you start",
		apply:   "The same with `tollgate apply`",
		then:    []string{"Providers and connections", "Connect Alice's account", "Call the API"},
	},
	{
		dir:     "authorization-code",
		prelude: "Before you start",
		apply:   "The same with `tollgate apply`",
		then:    []string{"Sign in and call the API (the test console)"},
	},
	{
		dir:     "product-applications",
		prelude: "Before you start",
		apply:   "The same with `tollgate apply`",
		then:    []string{"Create token and use with API call", "List applications and get secrets in the developer portal"},
	},
}

// defaultAddrs are the listener addresses the READMEs and files use.
const (
	defaultGateway    = "127.0.0.1:8000"
	defaultManagement = "127.0.0.1:8001"
	defaultIdentity   = "127.0.0.1:8003"
	defaultPortal     = "127.0.0.1:8002"
)

func TestExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the examples' READMEs need %s, which is not installed (.ci/run installs it)", tool)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above examples/: %v", err)
	}
	bin := buildTollgate(t, root)

	for _, ex := range examples {
		t.Run(ex.dir, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(ex.dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			sections := parseReadme(string(readme))
			walk, apply, err := ex.scripts(sections)
			if err != nil {
				t.Fatalf("%s/README.md: %v", ex.dir, err)
			}
			t.Run("walkthrough", func(t *testing.T) { runScript(t, bin, ex.dir, ex.dir+"/README.md", walk) })
			t.Run("apply", func(t *testing.T) { runScript(t, bin, ex.dir, ex.dir+"/README.md", apply) })
		})
	}
}

// buildTollgate builds the binary the READMEs call `tollgate`.
func buildTollgate(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tollgate")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/tollgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tollgate: %v\n%s", err, out)
	}
	return dir
}

// block is one ```sh block: its lines and the README line of the first.
// A block whose info string is `sh norun REASON` is shown to readers but not
// run (it needs something the test machine has not: a cloud account, docker,
// a browser); norun holds the reason, and "-" when the marker has none.
type block struct {
	line  int
	lines []string
	norun string
	// info is the fence's info string after "sh", when it is not a norun
	// marker (a mistyped marker, which the docs test refuses).
	info string
}

type section struct {
	title  string
	blocks []block
}

// fence is a code fence's first line, at the margin or indented (inside a
// list item): its indentation, language and the rest of its info string.
var fence = regexp.MustCompile("^( {0,8})```\\s*(\\S*)\\s*(.*)")

// parseReadme splits a README into its level-2 sections and their ```sh
// blocks. Text before the first heading is a section with an empty title.
func parseReadme(text string) []section {
	sections := []section{{}}
	var cur *block
	inFence := false
	indent := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if m := fence.FindStringSubmatch(line); m != nil {
			if !inFence {
				inFence = true
				indent = len(m[1])
				if m[2] == "sh" {
					cur = &block{line: n + 1}
					switch rest := strings.TrimSpace(m[3]); {
					case rest == "norun":
						cur.norun = "-"
					case strings.HasPrefix(rest, "norun "):
						cur.norun = strings.TrimSpace(strings.TrimPrefix(rest, "norun "))
					default:
						cur.info = rest
					}
				}
				continue
			}
			if strings.TrimSpace(line) == "```" {
				inFence = false
				if cur != nil {
					s := &sections[len(sections)-1]
					s.blocks = append(s.blocks, *cur)
					cur = nil
				}
				continue
			}
		}
		switch {
		case cur != nil:
			// A block in a list item is indented like its fence.
			cut := 0
			for cut < indent && cut < len(line) && line[cut] == ' ' {
				cut++
			}
			cur.lines = append(cur.lines, line[cut:])
		case !inFence && strings.HasPrefix(line, "## "):
			sections = append(sections, section{title: strings.TrimSpace(line[3:])})
		}
	}
	return sections
}

// script is bash text with, for each of its lines, the README line it came
// from (0 for lines the test adds).
type script struct {
	text   strings.Builder
	source []int
}

func (s *script) add(line string, readmeLine int) {
	s.text.WriteString(line)
	s.text.WriteByte('\n')
	s.source = append(s.source, readmeLine)
}

func (s *script) addSection(sec section) {
	for _, b := range sec.blocks {
		if b.norun != "" {
			continue
		}
		for i, l := range b.lines {
			s.add(l, b.line+i)
		}
	}
}

// scripts assembles the two runs of an example from its README's sections.
func (ex example) scripts(sections []section) (walk, apply *script, err error) {
	byTitle := map[string]section{}
	applyAt := -1
	for i, s := range sections {
		byTitle[s.title] = s
		if s.title == ex.apply {
			applyAt = i
		}
	}
	if applyAt < 0 {
		return nil, nil, fmt.Errorf("no section %q", ex.apply)
	}
	prelude, ok := byTitle[ex.prelude]
	if !ok || len(prelude.blocks) == 0 {
		return nil, nil, fmt.Errorf("no section %q with a sh block", ex.prelude)
	}
	walk, apply = newScript(), newScript()
	for _, s := range sections[:applyAt] {
		walk.addSection(s)
	}
	apply.addSection(prelude)
	apply.addSection(sections[applyAt])
	for _, title := range ex.then {
		s, ok := byTitle[title]
		if !ok || len(s.blocks) == 0 {
			return nil, nil, fmt.Errorf("no section %q with a sh block", title)
		}
		apply.addSection(s)
	}
	return walk, apply, nil
}

// failedMarker is what the script's ERR trap prints, with the failing line.
const failedMarker = "__EXAMPLE_STEP_FAILED__"

var (
	failedLine = regexp.MustCompile(failedMarker + ` (\d+): (.*)`)
	// defaultPorts finds Tollgate's default ports left in a script or file.
	defaultPorts = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0):800[0-3]\b`)
)

func newScript() *script {
	s := &script{}
	// -E: the trap also fires for failures inside functions and $(...).
	s.add("set -E", 0)
	s.add(fmt.Sprintf(`trap 'echo "%s $LINENO: $BASH_COMMAND" >&2' ERR`, failedMarker), 0)
	return s
}

// server is a running `tollgate serve`.
type server struct {
	gateway, management, identity, portal string // host:port
}

// runScript starts a fresh server in a temporary directory, copies the
// example's files there and runs the script in it.
// name is the file the script's lines come from, for messages.
func runScript(t *testing.T, binDir, exampleDir, name string, sc *script) {
	work := t.TempDir()
	srv, logs := startServer(t, binDir, work)
	rewrite := strings.NewReplacer(
		"http://"+defaultGateway, "http://"+srv.gateway,
		"http://"+defaultManagement, "http://"+srv.management,
		"http://"+defaultIdentity, "http://"+srv.identity,
		"http://"+defaultPortal, "http://"+srv.portal,
	)
	copyFiles(t, exampleDir, work, rewrite)
	text := rewrite.Replace(sc.text.String())
	// An address spelled differently would reach whatever Tollgate the
	// machine runs on the default ports, not the test's.
	if m := defaultPorts.FindString(text); m != "" {
		t.Fatalf("%s: %q is not one of the addresses the test replaces (http://%s, http://%s, http://%s, http://%s)",
			name, m, defaultGateway, defaultManagement, defaultIdentity, defaultPortal)
	}
	path := filepath.Join(work, "example.sh")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", path)
	cmd.Dir = work
	cmd.Env = cleanEnv(binDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return
	}
	where := "(no step reported)"
	if m := failedLine.FindStringSubmatch(out.String()); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n >= 1 && n <= len(sc.source) && sc.source[n-1] > 0 {
			where = fmt.Sprintf("%s:%d: %s", name, sc.source[n-1], m[2])
		} else {
			where = "script line " + m[1] + ": " + m[2]
		}
	}
	t.Errorf("step failed: %v\nat %s\n--- script output:\n%s\n--- server log:\n%s", err, where, out.String(), logs.String())
}

// startServer runs `tollgate serve` with its data in work/tollgate-data on
// free ports, waits until it is ready, and stops it when the test ends.
func startServer(t *testing.T, binDir, work string) (server, *syncBuffer) {
	t.Helper()
	srv := server{gateway: freeAddr(t), management: freeAddr(t), identity: freeAddr(t), portal: freeAddr(t)}
	logs := &syncBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "tollgate"), "serve",
		"--data-dir", "tollgate-data",
		"--gateway-addr", srv.gateway,
		"--management-addr", srv.management,
		"--identity-addr", srv.identity,
		"--portal-addr", srv.portal,
		"--log-level", "warn",
	)
	cmd.Dir = work
	cmd.Env = cleanEnv("")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tollgate serve: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("tollgate serve exited: %v\n%s", err, logs.String())
		default:
		}
		if ready(client, "http://"+srv.management+"/ready") &&
			exists(filepath.Join(work, "tollgate-data", "admin.key")) &&
			listening(srv.gateway) && listening(srv.identity) {
			return srv, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate serve not ready after 30s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// freeAddr finds a free loopback port by listening on port 0. Another process
// could take it before the server does; that is rare and shows as a start
// failure.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cleanEnv is the test's environment without TOLLGATE_* variables, which
// would point the server or the CLI somewhere else, and with binDir (if not
// empty) first in PATH.
func cleanEnv(binDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TOLLGATE_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	path := os.Getenv("PATH")
	if binDir != "" {
		path = binDir + string(os.PathListSeparator) + path
	}
	return append(env, "PATH="+path)
}

// copyFiles copies the example's files other than README.md into work,
// rewriting the default addresses.
func copyFiles(t *testing.T, from, to string, rewrite *strings.Replacer) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if rel == "README.md" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := rewrite.Replace(string(data))
		if m := defaultPorts.FindString(text); m != "" {
			return fmt.Errorf("%s: %q is not one of the addresses the test replaces", rel, m)
		}
		return os.WriteFile(filepath.Join(to, rel), []byte(text), 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// syncBuffer collects the server's output from its two pipes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

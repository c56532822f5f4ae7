// Command tollgate is Tollgate's single binary: `tollgate serve` runs the
// gateway, management API, developer portal and identity provider; the other
// verbs are a command-line client of the management API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	tgserver "github.com/tollgate/tollgate/internal/server"
)

const usageText = `Usage: tollgate VERB [flags] [args]

Server:
  serve              run Tollgate (gateway, management API, portal, identity provider)

Client of the management API:
  get KIND [ID]      show resources (table, -o json or -o yaml)
  delete KIND ID     delete a resource
  apply -f FILE|DIR  create or update resources from YAML/JSON documents (-f - for stdin)
  export             print every resource as apply-able YAML
  import openapi FILE|URL --api ID
                     create or update an API and its operations from an OpenAPI document
  import apim DIR    import an Azure APIM configuration extracted by APIOps
  audit              show the audit log of management changes (--filter, -o jsonl)
  policy check FILE...
                     check policy documents offline, like a compiler
  login              get a management API token with an application's client credentials
  keys rotate-signing
                     rotate the identity provider's token signing key
  keys show subscription ID
                     print a subscription's keys (--primary for scripts)
  keys rotate [--drop-old] | keys drop-old
                     rotate the master key and re-wrap every sealed value

Other:
  version            print the version
  health [URL]       exit 0 if the management listener's /health answers (container health checks)
  help               print this help

Run 'tollgate help VERB' or 'tollgate VERB -h' for a verb's flags. Exit codes: 0 ok, 1 failure, 2 usage error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling so a second
		// Ctrl-C ends a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], cliEnv{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		// Generous: exports of large installations page through many lists.
		httpClient: &http.Client{Timeout: 60 * time.Second},
	})
	stop()
	os.Exit(code)
}

// cliEnv is what a verb may touch of the outside world, passed in so tests
// run verbs in process.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	httpClient     *http.Client
}

// usageError is a mistake in the command line (exit code 2), or, with
// help set, the usage text asked for with -h (exit code 0).
type usageError struct {
	msg  string
	help bool
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run dispatches a verb and turns its error into an exit code.
func run(ctx context.Context, args []string, env cliEnv) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usageText)
		return 2
	}
	verb, rest := args[0], args[1:]
	var err error
	switch verb {
	case "serve":
		err = runServe(ctx, rest)
	case "version", "--version":
		err = runVersion(env.stdout)
	case "health":
		err = runHealth(ctx, rest, env)
	case "get":
		err = runGet(ctx, rest, env)
	case "delete":
		err = runDelete(ctx, rest, env)
	case "apply":
		err = runApply(ctx, rest, env)
	case "export":
		err = runExport(ctx, rest, env)
	case "import":
		err = runImport(ctx, rest, env)
	case "audit":
		err = runAudit(ctx, rest, env)
	case "login":
		return runLogin(ctx, rest, env.stdout, env.stderr)
	case "keys":
		if len(rest) > 0 && rest[0] == "show" {
			err = runKeysShow(ctx, rest[1:], env)
			break
		}
		return runKeys(ctx, rest, env.stdout, env.stderr)
	case "policy":
		return runPolicy(rest, env.stdout, env.stderr)
	case "help", "-h", "--help":
		if len(rest) > 0 && rest[0] != "help" && rest[0] != "-h" && rest[0] != "--help" {
			// "help get" is "get -h".
			return run(ctx, []string{rest[0], "-h"}, env)
		}
		fmt.Fprint(env.stdout, usageText)
		return 0
	default:
		fmt.Fprintf(env.stderr, "tollgate: unknown verb %q\n\n%s", verb, usageText)
		return 2
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) && ue.help:
		fmt.Fprintln(env.stdout, ue.msg)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(env.stderr, ue.msg)
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(env.stderr, "tollgate %s: %v\n", verb, err)
		return 1
	}
}

// errReported means the verb already printed what went wrong; exit 1
// without printing more.
var errReported = errors.New("failed (reported above)")

// runVersion prints the module version, the VCS revision when the binary
// was built from a checkout, and the Go version.
func runVersion(w io.Writer) error {
	version, commit, modified := tgserver.Version(), "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	fmt.Fprintf(w, "tollgate %s\n", version)
	if commit != "" {
		if modified {
			commit += " (modified)"
		}
		fmt.Fprintf(w, "commit   %s\n", commit)
	}
	fmt.Fprintf(w, "go       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

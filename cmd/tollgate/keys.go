package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/tollgate/tollgate/internal/client"
)

const keysUsage = `Usage: tollgate keys rotate-signing [--publish-delay DURATION] [connection flags]
       tollgate keys show subscription ID [--primary | --secondary]
       tollgate keys rotate [--drop-old] [connection flags]
       tollgate keys drop-old [connection flags]

rotate-signing adds a new signing key to the identity provider. The key is
published in the JWKS at once and starts signing after the publish delay
(default: the server's, one hour), so relying parties that cache keys see it
first; the old key stays published until the tokens it signed have expired.

rotate adds a new master key to the server's key file, seals with it from
now on, and re-wraps every sealed value in the store (configuration secrets,
credential manager tokens, signing keys) while the server keeps serving.
With --drop-old, or later with drop-old, the older keys are removed from the
key file once no stored value needs them.`

// runKeys implements `tollgate keys`.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w, code := stderr, 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprintln(w, keysUsage)
		return code
	}
	if args[0] == "rotate" || args[0] == "drop-old" {
		return runMasterKeys(ctx, args, stdout, stderr)
	}
	if args[0] != "rotate-signing" { // "show" is dispatched by run
		fmt.Fprintf(stderr, "tollgate keys: unknown subcommand %q\n\n%s\n", args[0], keysUsage)
		return 2
	}
	fs := flag.NewFlagSet("keys rotate-signing", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	// A Func flag, so the help shows no sentinel default; -1: the server's.
	delay := new(time.Duration(-1))
	fs.Func("publish-delay", "how long the new key is published before it signs, a `duration` such as 1h or 0s (default: the server's)", func(s string) (err error) {
		if *delay, err = time.ParseDuration(s); err == nil && *delay < 0 {
			err = errors.New("must not be negative")
		}
		return err
	})
	c, code := keysClient(fs, &cf, args[1:], 60*time.Second, stdout, stderr)
	if c == nil {
		return code
	}
	body := map[string]any{}
	if *delay >= 0 {
		body["publishDelaySeconds"] = int64(*delay / time.Second)
	}
	out, err := c.Post(ctx, "/directory/signingKeys", "rotate", body)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys rotate-signing: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "New signing key %v (%v), published now, signing from %v.\n", out["kid"], out["alg"], out["activeFrom"])
	return 0
}

// runMasterKeys implements `tollgate keys rotate` and `tollgate keys
// drop-old` (the master key).
func runMasterKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	dropOld := false
	if args[0] == "rotate" {
		fs.BoolVar(&dropOld, "drop-old", false, "remove the older keys from the key file once every value is re-wrapped")
	}
	// Re-wrapping a large store takes a while.
	c, code := keysClient(fs, &cf, args[1:], 10*time.Minute, stdout, stderr)
	if c == nil {
		return code
	}
	action, body := "rotate", map[string]any{"dropOld": dropOld}
	if args[0] == "drop-old" {
		action, body = "dropOld", map[string]any{}
	}
	out, err := c.Post(ctx, "/keys", action, body)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys %s: %v\n", args[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "Master key %v is the primary; %v sealed values re-wrapped.\n", out["primaryKeyId"], out["rewrapped"])
	if d, ok := out["dropped"].([]any); ok && len(d) > 0 {
		fmt.Fprintf(stdout, "Dropped %d older keys: %v.\n", len(d), d)
	} else if ids, ok := out["keyIds"].([]any); ok && len(ids) > 1 {
		fmt.Fprintf(stdout, "Older keys still in the key file: %v (tollgate keys drop-old removes them).\n", ids[1:])
	}
	return 0
}

// keysClient parses a keys subcommand's flags (fs holds them, cf the
// connection's) and returns a management client; nil with the exit code
// when the command ends here (help, bad usage, no connection).
func keysClient(fs *flag.FlagSet, cf *connFlags, args []string, timeout time.Duration, stdout, stderr io.Writer) (*client.Client, int) {
	pos, err := parseFlags(fs, args, keysUsage)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.help {
			fmt.Fprintln(stdout, ue.msg)
			return nil, 0
		}
		fmt.Fprintln(stderr, ue.msg)
		return nil, 2
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, keysUsage)
		return nil, 2
	}
	conn, err := resolveConnection(*cf, os.Getenv, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys: %v\n", err)
		return nil, 1
	}
	c, err := client.New(conn.URL, conn.Credential, &http.Client{Timeout: timeout})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys: %v\n", err)
		return nil, 1
	}
	return c, 0
}

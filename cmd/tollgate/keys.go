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

Adds a new signing key to the identity provider. The key is published in the
JWKS at once and starts signing after the publish delay (default: the
server's, one hour), so relying parties that cache keys see it first; the old
key stays published until the tokens it signed have expired.`

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
	pos, err := parseFlags(fs, args[1:], keysUsage)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.help {
			fmt.Fprintln(stdout, ue.msg)
			return 0
		}
		fmt.Fprintln(stderr, ue.msg)
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, keysUsage)
		return 2
	}
	conn, err := resolveConnection(cf, os.Getenv, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys: %v\n", err)
		return 1
	}
	c, err := client.New(conn.URL, conn.Credential, &http.Client{Timeout: 60 * time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keys: %v\n", err)
		return 1
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

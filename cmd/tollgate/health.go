package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

const healthUsage = `Usage: tollgate health [URL]

Exits 0 when URL (default http://127.0.0.1:8001/health, the management
listener's liveness path) answers 200 within 3 seconds, 1 otherwise. It is
the container image's HEALTHCHECK, which has no shell or curl.`

// runHealth checks a health URL.
func runHealth(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	pos, err := parseFlags(fs, args, healthUsage)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("%s", healthUsage)
	}
	u := "http://127.0.0.1:8001/health"
	if len(pos) == 1 {
		u = pos[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return usageErrorf("bad URL %q: %v", u, err)
	}
	resp, err := env.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"text/tabwriter"
)

const auditUsage = `Usage: tollgate audit [--filter EXPR] [-o table|jsonl]

Shows the audit log of management changes, oldest first. EXPR is an OData
$filter over time, actor, app, kind, path, action and remote, e.g.
  --filter "actor eq 'admin' and startswith(path, '/apis/')"
  --filter "time ge '2026-12-01T00:00:00Z'"
-o jsonl prints one JSON object a line (with before/after), for export.`

// runAudit lists the audit log.
func runAudit(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	filter := fs.String("filter", "", "OData `expression` selecting entries")
	output := fs.String("o", "table", "output `format`: table or jsonl")
	pos, err := parseFlags(fs, args, auditUsage)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("%s", auditUsage)
	}
	if *output != "table" && *output != "jsonl" {
		return usageErrorf("-o must be table or jsonl, got %q", *output)
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	q := url.Values{"$top": {"1000"}}
	if *filter != "" {
		q.Set("$filter", *filter)
	}
	entries, err := c.List(ctx, "/auditLog", q)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	if *output == "jsonl" {
		enc := json.NewEncoder(env.stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tAPP\tACTION\tPATH\tFROM")
	for _, e := range entries {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", e["time"], e["actor"], e["app"], e["action"], e["path"], e["remote"])
	}
	return tw.Flush()
}

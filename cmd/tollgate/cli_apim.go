package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/tollgate/tollgate/internal/apimimport"
	"github.com/tollgate/tollgate/internal/client"
)

// runImportAPIM applies what maps of an APIOps-extracted APIM tree and
// reports the rest.
func runImportAPIM(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("import apim", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	dryRun := fs.Bool("dry-run", false, "print the plan and change nothing")
	pos, err := parseFlags(fs, args, importUsage)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("import apim needs one DIR\n\n%s", importUsage)
	}
	plan, err := apimimport.Read(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("read %s: %w", pos[0], err)
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(env.stderr, "not imported: %s: %s\n", s.Source, s.Why)
	}
	if *dryRun {
		for _, w := range plan.Warnings {
			unless := ""
			if w.Unless != "" {
				unless = " (unless the server has " + w.Unless + ")"
			}
			fmt.Fprintf(env.stderr, "warning: %s: %s%s\n", w.Source, w.Why, unless)
		}
		for _, it := range plan.Items {
			fmt.Fprintf(env.stdout, "put %s  (from %s)\n", it.Path, it.Source)
		}
		fmt.Fprintf(env.stdout, "dry run: %d resources would be written, %d things not imported; nothing changed\n", len(plan.Items), len(plan.Skipped))
		return nil
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	// A warning about something the server already holds (a backend or
	// certificate created before) is moot.
	for _, w := range plan.Warnings {
		if w.Unless != "" {
			if _, _, err := c.Get(ctx, w.Unless); err == nil {
				continue
			} else if !client.IsNotFound(err) {
				return err
			}
		}
		fmt.Fprintf(env.stderr, "warning: %s: %s\n", w.Source, w.Why)
	}
	failed := 0
	for _, it := range plan.Items {
		if _, _, err := c.Put(ctx, it.Path, it.Body, ""); err != nil {
			failed++
			fmt.Fprintf(env.stderr, "failed: %s (from %s): %v\n", it.Path, it.Source, err)
			continue
		}
		fmt.Fprintf(env.stdout, "put %s\n", it.Path)
	}
	fmt.Fprintf(env.stdout, "%d resources written, %d failed, %d things not imported\n", len(plan.Items)-failed, failed, len(plan.Skipped))
	if failed > 0 {
		return errReported
	}
	return nil
}

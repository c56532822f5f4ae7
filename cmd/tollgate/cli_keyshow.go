package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

const keysShowUsage = `Usage: tollgate keys show subscription ID [--primary | --secondary]

Prints a subscription's keys (as POST /subscriptions/ID/listSecrets does):
both, labelled, or only the one asked for, for scripts:
  KEY=$(tollgate keys show subscription admin-unlimited --primary)`

// runKeysShow prints a subscription's keys.
func runKeysShow(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("keys show", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	primary := fs.Bool("primary", false, "print only the primary key")
	secondary := fs.Bool("secondary", false, "print only the secondary key")
	pos, err := parseFlags(fs, args, keysShowUsage)
	if err != nil {
		return err
	}
	if len(pos) != 2 || !strings.EqualFold(pos[0], "subscription") || (*primary && *secondary) {
		return usageErrorf("%s", keysShowUsage)
	}
	id := strings.TrimPrefix(pos[1], "/subscriptions/")
	if _, _, ok := resource.NewRegistry().Resolve("/subscriptions/" + id); !ok {
		return usageErrorf("%q is not a subscription id", pos[1])
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	keys, err := c.Post(ctx, "/subscriptions/"+id, "listSecrets", nil)
	if err != nil {
		return fmt.Errorf("keys of subscription %s: %w", id, err)
	}
	switch {
	case *primary:
		fmt.Fprintln(env.stdout, keys["primaryKey"])
	case *secondary:
		fmt.Fprintln(env.stdout, keys["secondaryKey"])
	default:
		fmt.Fprintf(env.stdout, "primary    %v\nsecondary  %v\n", keys["primaryKey"], keys["secondaryKey"])
	}
	return nil
}

package main

import (
	"context"
	"os"

	tgserver "github.com/tollgate/tollgate/internal/server"
)

// runServe loads the serve configuration (flags, environment, file) and
// runs the server until ctx ends.
func runServe(ctx context.Context, args []string) error {
	cfg, err := loadServeConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	return tgserver.Run(ctx, cfg, os.Stdout)
}

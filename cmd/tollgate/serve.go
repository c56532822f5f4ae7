package main

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"

	tgserver "github.com/tollgate/tollgate/internal/server"
)

// runServe loads the serve configuration (flags, environment, file) and
// runs the server until ctx ends.
func runServe(ctx context.Context, args []string) error {
	cfg, err := loadServeConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	if !cfg.Pprof {
		// Only --pprof serves the heap profile. Without it nothing reads
		// the runtime's allocation sampling, which costs a stack walk per
		// 512 KiB allocated and keeps every sampled stack for good.
		runtime.MemProfileRate = 0
	}
	switch {
	case cfg.MemoryLimit > 0:
		debug.SetMemoryLimit(cfg.MemoryLimit)
	case cfg.MemoryLimit < 0: // off: also GOMEMLIMIT's
		debug.SetMemoryLimit(math.MaxInt64)
	}
	return tgserver.Run(ctx, cfg, os.Stdout)
}

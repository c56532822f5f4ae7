package main

import (
	"context"
)

func runImportAPIM(ctx context.Context, args []string, env cliEnv) error {
	return usageErrorf("import apim: not available yet")
}

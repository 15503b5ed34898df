// Command rotatord keeps the credentials of Power BI gateway data sources
// fresh. See internal/cli for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rotatord/rotatord/internal/cli"
)

func main() {
	// SIGINT/SIGTERM cancel ctx; commands drain and return instead of dying mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

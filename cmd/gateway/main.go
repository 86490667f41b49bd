// Command gateway is Linegate's one binary: serve, migrate, apikey, sim,
// bench and version. It only wires; the work lives in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

const usage = `usage: gateway <command> [flags]

commands:
  serve                      run the HTTP API and background jobs
  migrate up|down|status     apply, roll back (one step) or list migrations
  apikey create --name N --scopes send,signup,ops:read,ops:write
  apikey list
  apikey revoke PREFIX|ID     (eight hex digits are a prefix; --id ID for an id)
  sim [flags]                run the Linq simulator (no real message leaves the machine)
  bench [flags]              benchmark the whole stack against its baselines
  version                    print the version

Configuration comes from the environment; see README.md.`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, getenv, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, args[1:], getenv, stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], stdout, newLogger(stderr, "info", "text"))
	case "bench":
		return runBench(ctx, args[1:], stdout, newLogger(stderr, "warn", "text"))
	case "version":
		fmt.Fprintln(stdout, "gateway", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

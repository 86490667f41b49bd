// Command soak is Linegate's chaos run: it builds the gateway, starts a
// private Postgres, the Linq simulator and two gateway replicas on one
// database, drives signups, sends, reactions, inbound messages and line
// flags through them while it kills a replica with SIGKILL, crashes and
// restarts Postgres (an immediate shutdown), injects Linq faults and takes the product event endpoint down,
// then reconciles what the simulator, the database and the clients saw and
// prints a table. It exits non-zero on any violation.
//
//	go run ./test/soak -d 60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "d", 60*time.Second, "how long to drive traffic and faults")
	flag.DurationVar(&o.drain, "drain", 0, "how long to wait for the gateway to settle afterwards (default: max(2m, d/2))")
	flag.BoolVar(&o.keep, "keep", false, "keep the run's folder (logs, Postgres data) even when it passes")
	flag.IntVar(&o.workers, "workers", 12, "concurrent clients")
	flag.Parse()
	if o.duration < 10*time.Second {
		fmt.Fprintln(os.Stderr, "soak: -d must be at least 10s")
		os.Exit(2)
	}
	if o.drain == 0 {
		o.drain = max(2*time.Minute, o.duration/2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, os.Stdout)
	switch {
	case errors.Is(err, errViolations):
		fmt.Fprintln(os.Stderr, "soak: FAILED:", err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

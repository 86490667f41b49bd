package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/linegate/linegate/internal/bench"
)

// runBench runs `gateway bench` (`make bench`): the whole stack in this
// process, measured against its baselines; see package bench.
func runBench(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	lines := fs.Int("lines", 20, "lines to seed")
	users := fs.Int("users", 4000, "users to seed (sends go to random users)")
	clients := fs.Int("c", 4, "concurrent clients in the send phases")
	signupClients := fs.Int("signup-c", 32, "concurrent clients in the signup phase")
	dur := fs.Duration("d", 8*time.Second, "duration of each send phase")
	signups := fs.Duration("signups", 5*time.Second, "duration of the signup phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *lines <= 0 || *users <= 0 || *clients <= 0 || *signupClients <= 0 || *dur <= 0 || *signups <= 0 {
		return fmt.Errorf("bench: -lines, -users, -c, -signup-c, -d and -signups must be positive")
	}
	return bench.Run(ctx, bench.Config{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		Lines:       *lines, Users: *users, Concurrency: *clients, SignupConcurrency: *signupClients, Duration: *dur, SignupFor: *signups,
		Logger: logger,
	}, stdout)
}

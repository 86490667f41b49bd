package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
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
	clients := fs.Int("c", 4, "concurrent clients in the send phases (the first run)")
	clientsHigh := fs.Int("c-high", 8, "concurrent clients in the second run of the send phases")
	signupClients := fs.Int("signup-c", 32, "concurrent clients in the signup phase")
	dur := fs.Duration("d", 6*time.Second, "duration of each send phase")
	signups := fs.Duration("signups", 5*time.Second, "duration of the signup phase")
	scale := fs.Bool("scale", false, "the scale run: seed -scale-lines lines and -scale-users users, then measure sends, signups, ops reads, jobs and a failover")
	scaleLines := fs.Int("scale-lines", 10_000, "lines of the scale run")
	scaleUsers := fs.Int("scale-users", 1_000_000, "users of the scale run")
	baseline := fs.Duration("baseline-p99", 0, "send p99 of the small run for the scale run to compare with (0: measure it first)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (gateway, simulator and clients) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *lines <= 0 || *users <= 0 || *clients <= 0 || *clientsHigh <= 0 || *signupClients <= 0 || *dur <= 0 || *signups <= 0 {
		return fmt.Errorf("bench: -lines, -users, -c, -c-high, -signup-c, -d and -signups must be positive")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	cfg := bench.Config{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		Lines:       *lines, Users: *users, Concurrency: *clients, HighConcurrency: *clientsHigh, SignupConcurrency: *signupClients, Duration: *dur, SignupFor: *signups,
		Logger: logger,
	}
	if *scale {
		if *scaleLines < 3 || *scaleUsers < 100 || *baseline < 0 {
			return fmt.Errorf("bench: -scale-lines must be at least 3, -scale-users at least 100, -baseline-p99 not negative")
		}
		return bench.RunScale(ctx, bench.ScaleConfig{Config: cfg, ScaleLines: *scaleLines, ScaleUsers: *scaleUsers, BaselineP99: *baseline}, stdout)
	}
	return bench.Run(ctx, cfg, stdout)
}

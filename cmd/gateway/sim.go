package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/linegate/linegate/internal/linqsim"
)

// lineFlags collects repeated --line values.
type lineFlags []string

func (l *lineFlags) String() string { return strings.Join(*l, ",") }

func (l *lineFlags) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*l = append(*l, n)
		}
	}
	return nil
}

// runSim runs `gateway sim`: the in-memory Linq simulator on a local
// address until ctx is done, then shuts it down gracefully.
func runSim(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	webhookURL := fs.String("webhook-url", "", "URL that receives every webhook (like a subscription to all events)")
	webhookSecret := fs.String("webhook-secret", "", "whsec_… secret signing deliveries to --webhook-url (generated when empty)")
	apiKey := fs.String("api-key", "", "bearer token the API accepts (empty: any non-empty token)")
	count := fs.Int("lines", 3, "number of lines to seed when no --line is given")
	var lines lineFlags
	fs.Var(&lines, "line", "E.164 number of a line to seed (repeatable, or comma-separated)")
	seed := fs.Int64("seed", 0, "seed for fault injection (0: random)")
	latency := fs.Duration("latency", 0, "latency added to every API request")
	retryBase := fs.Duration("webhook-retry-base", linqsim.DefaultRetryBase, "webhook retry backoff base (attempt n waits base·2^(n-1))")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected arguments %q", fs.Args())
	}
	if *count < 0 {
		return errors.New("sim: --lines must not be negative")
	}
	for _, n := range lines {
		if !strings.HasPrefix(n, "+") || len(n) < 8 {
			return fmt.Errorf("sim: --line %q is not an E.164 number", n)
		}
	}

	sim := linqsim.New(linqsim.Config{
		APIKey:        *apiKey,
		WebhookURL:    *webhookURL,
		WebhookSecret: *webhookSecret,
		Lines:         lines,
		LineCount:     *count,
		Latency:       *latency,
		RetryBase:     *retryBase,
		Seed:          *seed,
		Logger:        logger,
	})
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim: listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Linq simulator listening on %s — a simulator: no real message leaves this machine.\n", base)
	for _, l := range sim.Lines() {
		fmt.Fprintf(stdout, "  line %s (id %s)\n", l.PhoneNumber, l.ID)
	}
	if *webhookURL != "" {
		fmt.Fprintf(stdout, "  webhooks to %s, signing secret %s\n", *webhookURL, sim.WebhookSecret())
	} else {
		fmt.Fprintln(stdout, "  no webhook URL: create subscriptions with POST /v3/webhook-subscriptions")
	}
	fmt.Fprintf(stdout, "  API base URL %s (also %s/api/partner); admin API %s/_sim/\n", base, base, base)
	logger.Info("linq simulator started", slog.String("addr", ln.Addr().String()), slog.Int("lines", len(sim.Lines())))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}

	// Release requests held by timeout faults and stop webhook delivery,
	// then let in-flight requests finish.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("sim: shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim: serve: %w", err)
	}
	logger.Info("linq simulator stopped")
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/config"
)

func newLogger(w io.Writer, level, format string) *slog.Logger {
	lvl, err := config.ParseLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func loadConfig(getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func runServe(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	logger.Info("starting linegate", slog.String("version", version), slog.Any("config", cfg))
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	if cfg.SimulatedLinq() {
		logger.Warn("no LINQ_API_KEY: talking to the Linq simulator; no real message leaves the machine",
			slog.String("linq_base_url", cfg.LinqBaseURL))
	}

	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close() // stops background work, closes the pool last

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	mln, err := listenMetrics(cfg, getenv("METRICS_ADDR") != "", logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	// The metrics listener stops with the main one, however that ends.
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone := make(chan struct{})
	if mln != nil {
		go func() {
			defer close(metricsDone)
			if err := a.ServeMetrics(mctx, mln); err != nil {
				logger.Error("metrics listener stopped", slog.Any("error", err))
			}
		}()
	} else {
		close(metricsDone)
	}
	logger.Info("listening", slog.String("url", "http://"+ln.Addr().String()))
	err = a.Serve(ctx, ln)
	stopMetrics()
	<-metricsDone
	return err
}

// listenMetrics opens the METRICS_ADDR listener, or returns nil when
// /metrics is on the main router. A taken default address only warns (a
// second gateway on one machine, a local Prometheus on 9090); an address set
// on purpose must be free.
func listenMetrics(cfg config.Config, explicit bool, logger *slog.Logger) (net.Listener, error) {
	addr := cfg.MetricsListenAddr()
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		logger.Info("metrics listening", slog.String("url", "http://"+ln.Addr().String()+"/metrics"))
		return ln, nil
	case explicit:
		return nil, fmt.Errorf("listen on METRICS_ADDR %s: %w", addr, err)
	default:
		logger.Warn("metrics not served: the default METRICS_ADDR is taken; set METRICS_ADDR to another address or to \"router\"",
			slog.String("addr", addr), slog.Any("error", err))
		return nil, nil
	}
}

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
	if err := a.Start(ctx); err != nil {
		return err
	}
	logger.Info("listening", slog.String("url", "http://"+ln.Addr().String()))
	return a.Serve(ctx, ln)
}

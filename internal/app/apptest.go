package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/linegate/linegate/internal/config"
)

// TestConfig is a valid configuration for tests on databaseURL.
func TestConfig(databaseURL string) config.Config {
	env := map[string]string{"DATABASE_URL": databaseURL, "AUTH_CACHE_TTL": "0s"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		panic(err)
	}
	return cfg
}

// NewForTest builds an App for a test and closes it when the test ends.
func NewForTest(t testing.TB, cfg config.Config, opts ...Option) *App {
	t.Helper()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), opts...)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

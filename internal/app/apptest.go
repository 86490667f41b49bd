package app

import (
	"context"
	"testing"

	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/testkit"
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
	a, err := New(context.Background(), cfg, testkit.Logger(t), opts...)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

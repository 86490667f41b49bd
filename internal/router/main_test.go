package router_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).triggerHealthCheck.func1"),
	)
}

func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
}

// stack is one gateway instance's pool services.
type stack struct {
	pool    *pgxpool.Pool
	lines   *lines.Service
	router  *router.Service
	metrics *metrics.Metrics
}

type stackConfig struct {
	lines  lines.Config
	router router.Config
}

// defaultStackConfig makes cap equal the budget override (headroom 0.5,
// 0.5 messages per user per day, no warm-up), so tests read caps off the
// budgets they set.
func defaultStackConfig(c *testkit.Clock) stackConfig {
	rc := router.DefaultConfig()
	rc.Now = c.Now
	return stackConfig{
		lines:  lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.5, MsgsPerUserPerDay: 0.5, SignupRampPerHour: 100_000, Now: c.Now},
		router: rc,
	}
}

// newStack builds an independent instance (own pool) on databaseURL.
func newStack(t *testing.T, databaseURL string, cfg stackConfig) *stack {
	t.Helper()
	return newBenchStack(t, databaseURL, cfg)
}

func newBenchStack(t testing.TB, databaseURL string, cfg stackConfig) *stack {
	t.Helper()
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: databaseURL, MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m := metrics.New()
	ls := lines.New(pool, nil, slog.New(slog.DiscardHandler), cfg.lines)
	return &stack{pool: pool, lines: ls, metrics: m, router: router.New(pool, ls, slog.New(slog.DiscardHandler), m, cfg.router)}
}

// seedLine inserts a line whose warm-up is long over.
func seedLine(t *testing.T, pool *pgxpool.Pool, n int, budget int) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, linq_id, budget_override, warmup_started_at) VALUES ($1, $2, $3, '2020-01-01T00:00:00Z') RETURNING id`,
		fmt.Sprintf("+1555010%04d", n), fmt.Sprintf("linq-%d", n), budget).Scan(&id)
	require.NoError(t, err)
	return id
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// exactSlots fails unless line_backup_slots matches a recount from users
// and user_lines row for row (and there is something to count).
func exactSlots(t *testing.T, pool *pgxpool.Pool, after string) {
	t.Helper()
	require.Zero(t, count(t, pool, `
		SELECT count(*)
		FROM line_backup_slots s
		FULL JOIN (SELECT u.home_line_id, ul.line_id, count(*)::int AS n
		           FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.position > 0
		           GROUP BY u.home_line_id, ul.line_id) c
		  ON c.home_line_id = s.home_line_id AND c.line_id = s.line_id
		WHERE s.slots IS DISTINCT FROM c.n`), "line_backup_slots differs from a recount after %s", after)
	require.Positive(t, count(t, pool, `SELECT count(*) FROM line_backup_slots`))
}

// exactUserCounts fails unless every line's user_count is the number of
// users whose current line it is.
func exactUserCounts(t *testing.T, pool *pgxpool.Pool, after string) {
	t.Helper()
	require.Zero(t, count(t, pool, `
		SELECT count(*) FROM lines l
		WHERE l.user_count <> (SELECT count(*) FROM users u WHERE u.current_line_id = l.id)`),
		"lines.user_count differs from a recount after %s", after)
}

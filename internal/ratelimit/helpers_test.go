package ratelimit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

var seq atomic.Int64

// t0 is a fixed fake "now" in the middle of a minute.
var t0 = time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)

// limits is DefaultConfig changed by mod.
func limits(mod func(c *ratelimit.Config)) ratelimit.Config {
	c := ratelimit.DefaultConfig()
	if mod != nil {
		mod(&c)
	}
	return c
}

// admitAt sets the database clock to at and admits req.
func admitAt(t *testing.T, clock *pgtest.Clock, lim *ratelimit.Limiter, req ratelimit.Request, at time.Time) ratelimit.Decision {
	t.Helper()
	clock.Set(at)
	d, err := lim.Admit(context.Background(), req)
	require.NoError(t, err)
	return d
}

// insertLine adds a line with an optional budget override; its warm-up
// started long ago unless warm is set.
func insertLine(t *testing.T, pool *pgxpool.Pool, override int, warm time.Time) int64 {
	t.Helper()
	if warm.IsZero() {
		warm = t0.Add(-365 * 24 * time.Hour)
	}
	var ov *int
	if override > 0 {
		ov = &override
	}
	var id int64
	err := pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, budget_override, warmup_started_at) VALUES ($1, $2, $3) RETURNING id`,
		fmt.Sprintf("+1555%07d", seq.Add(1)), ov, warm).Scan(&id)
	require.NoError(t, err)
	return id
}

// insertUser adds a user on line with a handle.
func insertUser(t *testing.T, pool *pgxpool.Pool, line int64) (int64, string) {
	t.Helper()
	n := seq.Add(1)
	handle := fmt.Sprintf("+1666%07d", n)
	var id int64
	err := pool.QueryRow(context.Background(),
		`INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
		fmt.Sprintf("u%d", n), handle, fmt.Sprintf("C%d", n), line).Scan(&id)
	require.NoError(t, err)
	return id, handle
}

func volume(t *testing.T, pool *pgxpool.Pool, line int64) (in, out int) {
	t.Helper()
	err := pool.QueryRow(context.Background(),
		`SELECT coalesce(sum(inbound), 0), coalesce(sum(outbound), 0) FROM line_volume WHERE line_id = $1`, line).Scan(&in, &out)
	require.NoError(t, err)
	return in, out
}

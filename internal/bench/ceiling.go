package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// physicalCeiling is (h) with c clients: one autocommit one-row INSERT
// per op into a bench-only table, through the gateway's pool. A send
// commits at least once, so this is what Postgres on this machine allows any
// send path at all; the gateway's ratio to it says how much of the machine
// its own work takes.
func physicalCeiling(ctx context.Context, pool *pgxpool.Pool, c int, d time.Duration) (result, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_ceiling (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)`); err != nil {
		return result{}, fmt.Errorf("physical ceiling: create table: %w", err)
	}
	return load(ctx, phaseName("(h) physical ceiling", c), c, d, func(ctx context.Context, _ *rand.Rand) (string, error) {
		_, err := pool.Exec(ctx, `INSERT INTO bench_ceiling (note) VALUES ($1)`, "bench message")
		return "", err
	}), nil
}

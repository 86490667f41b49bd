package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// SeqScans is the sequential scans of each table matching one of the
// patterns (LIKE) counted so far, the work of pool's idle connections
// included: a connection's counts reach the statistics only once it has
// been idle a while, and pg_stat_force_next_flush on each makes that
// immediate.
//
// Tests use it to hold a path to finding its rows by key: the plans
// PL/pgSQL caches for a connection are made from the statistics of the
// moment, and one made while a table looked empty scans it for good.
func SeqScans(t testing.TB, pool *pgxpool.Pool, patterns ...string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	for _, c := range pool.AcquireAllIdle(ctx) {
		_, err := c.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
		c.Release()
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, `
		SELECT relname, seq_scan FROM pg_stat_user_tables
		 WHERE relname LIKE ANY ($1)`, patterns)
	require.NoError(t, err)
	out := map[string]int64{}
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	})
	require.NoError(t, err)
	return out
}

// NewSeqScans is the scans counted in after that were not in before, by
// table.
func NewSeqScans(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for table, n := range after {
		if n != before[table] {
			out[table] = n - before[table]
		}
	}
	return out
}

package router_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

// The backup-slot count triggers run with plans PL/pgSQL caches for the
// connection, made from the statistics of the moment (a trigger's
// statement has no parameters, so its first plan is the one it keeps): one
// made while users looked small must still find users by key once there
// are many, or every signup batch reads the whole table. A connection
// writes line sets while users is small, users grows (no ANALYZE, as
// between two autovacuum runs), and the connection's next write must not
// scan it.
func TestBackupSlotCountPlansHoldAsUsersGrow(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	open := func() *pgxpool.Pool {
		p, err := store.Open(context.Background(), store.PoolConfig{URL: url, MaxConns: 1})
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	conn, other := open(), open()
	var lines []int64
	for i := range 4 {
		lines = append(lines, seedLine(t, other, i, 1000))
	}
	const users = `INSERT INTO users (user_ref, code, home_line_id, current_line_id)
		SELECT $1 || g, $1 || g, l.id, l.id FROM generate_series(1, $2::int) AS g
		  JOIN lines AS l ON l.id = ($3::bigint[])[1 + g % 4]`
	exec(t, other, users, "small-", 60, lines)
	var ids []int64
	require.NoError(t, other.QueryRow(context.Background(),
		`SELECT array_agg(id ORDER BY id) FROM users WHERE user_ref LIKE 'small-%'`).Scan(&ids))
	// Each user's first backup, six users a statement (reading no users:
	// the trigger alone does).
	lineSets := func(pool *pgxpool.Pool, from, to int) {
		exec(t, pool, `
			INSERT INTO user_lines (user_id, position, line_id)
			SELECT u, 1, ($2::bigint[])[1 + u % 4] FROM unnest($1::bigint[]) AS u`, ids[from:to], lines)
	}
	for i := range 8 {
		lineSets(conn, 6*i, 6*i+6)
	}
	exec(t, other, users, "grown-", 50_000, lines)

	tables := []string{"users", "user_lines", "line_backup_slots"}
	before := pgtest.SeqScans(t, conn, tables...)
	lineSets(conn, 54, 60)
	require.Empty(t, pgtest.NewSeqScans(before, pgtest.SeqScans(t, conn, tables...)), "sequential scans by one write of line sets, by table")
}

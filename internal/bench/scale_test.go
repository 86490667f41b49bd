package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
)

// TestScalePlan checks the scale run's layout: the failover line holds its
// users, the others share the rest evenly, and every line set is three
// distinct lines.
func TestScalePlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		lines, users int
		failover     int
	}{
		{"FullScale", 10_000, 1_000_000, 10_000},
		{"ValidationSize", 1000, 100_000, 10_000},
		{"SmallPoolTakesATenthOnTheFailoverLine", 3, 1000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newScalePlan(tc.lines, tc.users)
			require.Equal(t, tc.failover, p.FailoverUsers)
			perLine := make([]int, p.Lines)
			for g := 1; g <= p.Users; g++ {
				h := p.home(g)
				b1, b2 := p.backups(g)
				require.Len(t, map[int]bool{h: true, b1: true, b2: true}, 3, "user %d", g)
				for _, l := range []int{h, b1, b2} {
					require.True(t, l >= 0 && l < p.Lines, "user %d: line %d", g, l)
				}
				perLine[h]++
			}
			require.Equal(t, p.FailoverUsers, perLine[0])
			rest := (p.Users - p.FailoverUsers) / (p.Lines - 1)
			for i, n := range perLine[1:] {
				require.InDelta(t, rest, n, 1, "line %d", i+1)
			}
			require.LessOrEqual(t, p.working(p.WorkingSet-1), p.Users)
		})
	}
}

// TestWithoutIndexesRestoresTheSchema loads through withoutIndexes and
// checks every index and constraint of the bulk tables is back as it was,
// partitioned tables included.
func TestWithoutIndexesRestoresTheSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	schema := func(table string) []string {
		rows, err := conn.Query(ctx, `
			SELECT pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid
			     || ' parts=' || (SELECT count(*) FROM pg_inherits AS h WHERE h.inhparent = i.indexrelid)
			FROM pg_index AS i WHERE i.indrelid = $1::regclass
			UNION ALL
			SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass
			ORDER BY 1`, table)
		require.NoError(t, err)
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return defs
	}
	for _, table := range []string{"users", "user_lines", "chats", "contact_card_shares", "line_volume", "messages"} {
		t.Run(table, func(t *testing.T) {
			before := schema(table)
			loaded := false
			_, err := withoutIndexes(ctx, conn.Conn(), table, func() (int64, error) { loaded = true; return 0, nil })
			require.NoError(t, err)
			require.True(t, loaded)
			require.Equal(t, before, schema(table))
		})
	}
}

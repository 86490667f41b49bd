package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

// A move's user counts lock the lines by id, whatever order their input
// and the table's pages are in. Shown by holding the third of four lines:
// the statement then holds the two below it and not the one above.
func TestManyLinesLockedByID(t *testing.T) {
	t.Parallel()
	q := store.New()
	cases := []struct {
		name string
		run  func(ctx context.Context, db store.DBTX, ids []int64) error
	}{
		{"UserCountDeltas", func(ctx context.Context, db store.DBTX, ids []int64) error {
			return q.LineBumpCounts(ctx, db, store.LineBumpCountsParams{Now: time.Now(), LineIds: ids, Deltas: make([]int32, len(ids))})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			ctx := context.Background()
			ids := make([]int64, 4)
			for i := range ids {
				require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lines (number) VALUES ($1) RETURNING id`,
					fmt.Sprintf("+1555000%04d", i)).Scan(&ids[i]))
			}
			// New versions of the two lowest: a scan of the table now meets
			// them last.
			_, err := pool.Exec(ctx, `UPDATE lines SET updated_at = now() WHERE id = ANY ($1)`, ids[:2])
			require.NoError(t, err)

			hold, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = hold.Rollback(ctx) }()
			_, err = hold.Exec(ctx, `SELECT 1 FROM lines WHERE id = $1 FOR NO KEY UPDATE`, ids[2])
			require.NoError(t, err)

			done := make(chan error, 1)
			go func() {
				done <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					return c.run(ctx, tx, []int64{ids[3], ids[1], ids[2], ids[0]})
				})
			}()
			require.Eventually(t, func() bool {
				var waiting int
				err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
				return err == nil && waiting == 1
			}, 10*time.Second, 5*time.Millisecond, "the statement waits for the held line")

			held := func(id int64) bool {
				tx, err := pool.Begin(ctx)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback(ctx) }()
				_, err = tx.Exec(ctx, `SELECT 1 FROM lines WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, id)
				return err != nil
			}
			require.True(t, held(ids[0]), "the lowest line is locked first")
			require.True(t, held(ids[1]), "then the next")
			require.False(t, held(ids[3]), "the line above the held one waits its turn")

			require.NoError(t, hold.Rollback(ctx))
			require.NoError(t, <-done)
		})
	}
}

// The health poll's confirmations take no pool lock, so they must not wait
// for a line's row while holding others: a failover holds its failing
// line's row before it locks its targets'. They skip a held line (the poll
// applies it on its own) and confirm the rest.
func TestHealthPollConfirmationsSkipHeldLines(t *testing.T) {
	t.Parallel()
	q := store.New()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	ids := make([]int64, 4)
	for i := range ids {
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lines (number) VALUES ($1) RETURNING id`,
			fmt.Sprintf("+1555000%04d", i)).Scan(&ids[i]))
	}
	hold, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT 1 FROM lines WHERE id = $1 FOR NO KEY UPDATE`, ids[2])
	require.NoError(t, err)

	n := len(ids)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	confirmed, err := q.LineHealthConfirmMany(waitCtx, pool, store.LineHealthConfirmManyParams{
		ListedAt: time.Now(), Now: time.Now(), Ids: []int64{ids[3], ids[1], ids[2], ids[0]},
		ServiceStatuses: slices.Repeat([]string{"ACTIVE"}, n), Reputations: slices.Repeat([]string{"HEALTHY"}, n),
		Ineligible: make([]bool, n), Missing: make([]bool, n), HealthStates: slices.Repeat([]string{"ok"}, n),
		StatusSeen: slices.Repeat([]bool{true}, n), StatusAts: slices.Repeat([]time.Time{time.Now()}, n),
		ReputationSeen: slices.Repeat([]bool{true}, n),
	})
	require.NoError(t, err, "the confirmations waited for the held line")
	require.ElementsMatch(t, []int64{ids[0], ids[1], ids[3]}, confirmed)
}

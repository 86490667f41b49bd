package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// Backup spreading reads a running count of the backup slots each line
// holds for each home line's users (line_backup_slots); these tests check
// it against a recount after every kind of write to users' line sets and
// home lines.
func TestBackupSlotCount(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*stack
		lines []int64
	}
	setup := func(t *testing.T, budgets ...int) *bundle {
		t.Helper()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(newClock()))
		b := &bundle{stack: s}
		for i, budget := range budgets {
			b.lines = append(b.lines, seedLine(t, s.pool, i, budget))
		}
		return b
	}
	signup := func(t *testing.T, s *stack, prefix string, n int) {
		t.Helper()
		for i := range n {
			_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("%s%d", prefix, i)})
			require.NoError(t, err)
		}
	}
	t.Run("SignupsOnTwoInstancesCountEverySlot", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		cfg := defaultStackConfig(newClock())
		cfg.router.MaxBatch = 4
		a, b := newStack(t, url, cfg), newStack(t, url, cfg)
		for i := range 6 {
			seedLine(t, a.pool, i, 1000)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for inst, s := range []*stack{a, b} {
			for i := range 100 {
				wg.Go(func() {
					_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("u-%d-%d", inst, i)})
					errs <- err
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 400, count(t, a.pool, `SELECT sum(slots) FROM line_backup_slots`))
		exactSlots(t, a.pool, "signups")
	})

	t.Run("RetireAndOpsMovesCarryTheCountToTheNewHomes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1000, 1000, 1000, 1000, 1000, 1000)
		signup(t, b.stack, "u", 60)
		exactSlots(t, b.pool, "signups")
		res, err := b.router.Retire(context.Background(), b.lines[2])
		require.NoError(t, err)
		require.Positive(t, res.Rehomed)
		exactSlots(t, b.pool, "retire")
		res, err = b.router.MoveUsersOff(context.Background(), b.lines[4], router.LedgerOps)
		require.NoError(t, err)
		require.Positive(t, res.Rehomed)
		exactSlots(t, b.pool, "ops move")
		require.Zero(t, count(t, b.pool, `SELECT count(*) FROM line_backup_slots WHERE $1 IN (home_line_id, line_id)`, b.lines[2]))
	})

	t.Run("FailoverOntoThePoolAndRecoveryKeepTheCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1000, 1000, 1000, 1000)
		signup(t, b.stack, "u", 40)
		down := b.lines[0]
		// Two of the three other lines take nobody: users whose backups
		// are those two go to the third, which joins their set.
		exec(t, b.pool, `UPDATE lines SET service_status = 'FLAGGED' WHERE id = $1`, down)
		exec(t, b.pool, `UPDATE lines SET admin_state = 'draining' WHERE id = ANY($1)`, b.lines[1:3])
		before := count(t, b.pool, `SELECT count(*) FROM user_lines`)
		res, err := b.router.MoveUsersOff(context.Background(), down, router.LedgerFailover)
		require.NoError(t, err)
		require.Positive(t, res.Moved)
		require.Greater(t, count(t, b.pool, `SELECT count(*) FROM user_lines`), before, "no pool placement grew a set")
		exactSlots(t, b.pool, "failover")

		exec(t, b.pool, `UPDATE lines SET service_status = 'ACTIVE' WHERE id = $1`, down)
		moves, err := store.WithTxV(context.Background(), b.pool, func(ctx context.Context, tx pgx.Tx) ([]router.Move, error) {
			return b.router.RecoverTx(ctx, tx, map[int64]int{down: 100})
		})
		require.NoError(t, err)
		require.NotEmpty(t, moves)
		exactSlots(t, b.pool, "recovery")
	})

	t.Run("DirectWritesKeepTheCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1000, 1000, 1000, 1000, 1000)
		signup(t, b.stack, "u", 30)
		ref := func(i int) string { return fmt.Sprintf("u%d", i) }
		for _, tt := range []struct {
			name, sql string
			args      []any
		}{
			{"NewHomeWithTheSetInPlace",
				`UPDATE users SET home_line_id = CASE WHEN home_line_id = $1 THEN $2 ELSE $1 END WHERE user_ref = $3`,
				[]any{b.lines[0], b.lines[1], ref(0)}},
			{"BackupReplacedInPlace",
				`UPDATE user_lines SET line_id = $1 WHERE position = 2 AND user_id = (SELECT id FROM users WHERE user_ref = $2)
				   AND $1 <> ALL (SELECT line_id FROM user_lines WHERE user_id = (SELECT id FROM users WHERE user_ref = $2))`,
				[]any{b.lines[4], ref(1)}},
			{"SetShortened",
				`DELETE FROM user_lines WHERE position = 2 AND user_id = (SELECT id FROM users WHERE user_ref = $1)`,
				[]any{ref(2)}},
			{"UserDeletedWithTheSet", `DELETE FROM users WHERE user_ref = ANY($1)`, []any{[]string{ref(3), ref(4), ref(5)}}},
		} {
			exec(t, b.pool, tt.sql, tt.args...)
			exactSlots(t, b.pool, tt.name)
		}
		exec(t, b.pool, `TRUNCATE users CASCADE`)
		require.Zero(t, count(t, b.pool, `SELECT count(*) FROM line_backup_slots`))
	})
}

package router_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

func TestMoveUsersOff(t *testing.T) {
	t.Parallel()

	type userState struct {
		home, current int64
		set           []int64
	}
	type testBundle struct {
		*stack
		lines []int64
	}
	setup := func(t *testing.T, nLines, nUsers int) *testBundle {
		t.Helper()
		c := newClock()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(c))
		b := &testBundle{stack: s}
		for i := range nLines {
			b.lines = append(b.lines, seedLine(t, s.pool, i, 1000))
		}
		for i := range nUsers {
			_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("u%d", i)})
			require.NoError(t, err)
		}
		return b
	}
	states := func(t *testing.T, b *testBundle) map[string]userState {
		t.Helper()
		rows, err := b.pool.Query(context.Background(), `
			SELECT u.user_ref, u.home_line_id, u.current_line_id, array_agg(ul.line_id ORDER BY ul.position)
			FROM users u JOIN user_lines ul ON ul.user_id = u.id GROUP BY u.id`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]userState{}
		for rows.Next() {
			var ref string
			var st userState
			require.NoError(t, rows.Scan(&ref, &st.home, &st.current, &st.set))
			out[ref] = st
		}
		require.NoError(t, rows.Err())
		return out
	}
	countsConsistent := func(t *testing.T, b *testBundle) {
		t.Helper()
		require.Zero(t, count(t, b.pool, `SELECT count(*) FROM lines l WHERE user_count <> (SELECT count(*) FROM users u WHERE u.current_line_id = l.id)`))
	}

	t.Run("RetireMovesUsersToTheirFirstBackupWithLedger", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 5, 40)
		retired := b.lines[2]
		before := states(t, b)
		status := lines.AdminRetired
		_, err := b.stack.lines.Update(context.Background(), retired, lines.Update{AdminState: &status})
		require.NoError(t, err)
		res, err := b.router.MoveUsersOff(context.Background(), retired, router.LedgerRetire)
		require.NoError(t, err)
		after := states(t, b)

		homed := 0
		for ref, was := range before {
			now := after[ref]
			require.NotContains(t, now.set, retired, "user %s keeps the retired line", ref)
			require.Len(t, now.set, 3, "user %s lost backups", ref)
			require.Equal(t, now.home, now.set[0])
			if was.home == retired {
				homed++
				require.Equal(t, was.set[1], now.home, "user %s did not move to the first backup", ref)
				require.Equal(t, now.home, now.current)
				require.Equal(t, 1, count(t, b.pool, `
					SELECT count(*) FROM line_ledger g JOIN users u ON u.id = g.user_id
					WHERE u.user_ref = $1 AND g.reason = 'retire' AND g.from_line_id = $2 AND g.to_line_id = $3 AND g.line_set = $4`,
					ref, retired, now.home, now.set))
			} else {
				require.Equal(t, was.home, now.home)
				require.Equal(t, was.current, now.current)
			}
		}
		require.Positive(t, homed)
		require.Equal(t, homed, res.Rehomed)
		require.Equal(t, homed, res.Moved)
		require.Zero(t, res.Stranded)
		require.Zero(t, count(t, b.pool, `SELECT user_count FROM lines WHERE id = $1`, retired))
		countsConsistent(t, b)

		// The retired line takes nothing afterwards.
		for i := range 10 {
			a, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("later%d", i)})
			require.NoError(t, err)
			require.NotEqual(t, retired, a.Home.ID)
			for _, bk := range a.Backups {
				require.NotEqual(t, retired, bk.ID)
			}
		}
	})

	t.Run("FailoverMovesCurrentLineOnlyAndKeepsTheSet", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 4, 20)
		down := b.lines[0]
		exec(t, b.pool, `UPDATE lines SET service_status = 'FLAGGED' WHERE id = $1`, down)
		before := states(t, b)
		res, err := b.router.MoveUsersOff(context.Background(), down, router.LedgerFailover)
		require.NoError(t, err)
		after := states(t, b)
		moved := 0
		for ref, was := range before {
			now := after[ref]
			require.Equal(t, was.home, now.home)
			require.Equal(t, was.set, now.set)
			if was.current == down {
				moved++
				require.Equal(t, was.set[1], now.current, "user %s", ref)
			} else {
				require.Equal(t, was.current, now.current)
			}
		}
		require.Equal(t, moved, res.Moved)
		require.Equal(t, moved, count(t, b.pool, `SELECT count(*) FROM line_ledger WHERE reason = 'failover' AND from_line_id = $1`, down))
		countsConsistent(t, b)
	})

	t.Run("UnknownReasonOrLineIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2, 0)
		_, err := b.router.MoveUsersOff(context.Background(), b.lines[0], "whim")
		require.ErrorContains(t, err, "unknown reason")
		_, err = b.router.MoveUsersOff(context.Background(), 999999, router.LedgerRetire)
		require.True(t, apperr.IsCode(err, "line_not_found"), "got %v", err)
		_, err = b.router.Retire(context.Background(), 999999)
		require.True(t, apperr.IsCode(err, "line_not_found"), "got %v", err)
	})
}

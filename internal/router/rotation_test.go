package router_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

func TestRotation(t *testing.T) {
	t.Parallel()

	t.Run("PredictsTheNextSignupsExactly", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		cfg := defaultStackConfig(c)
		cfg.lines.SignupRampPerHour = 6
		s := newStack(t, pgtest.NewURL(t), cfg)
		var ids []int64
		for i, budget := range []int{10, 20, 30, 15, 40} {
			ids = append(ids, seedLine(t, s.pool, i, budget))
		}
		exec(t, s.pool, `UPDATE lines SET admin_state = 'draining' WHERE id = $1`, ids[4])
		// Some history: users already on lines, some lines assigned before.
		for i := range 7 {
			_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("old%d", i)})
			require.NoError(t, err)
		}
		const n = 12 // enough for the ramp (6 an hour) to bind on some lines
		rot, err := s.router.Rotation(context.Background(), n)
		require.NoError(t, err)
		require.Len(t, rot.Picks, n)
		for i, p := range rot.Picks {
			a, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("new%d", i)})
			require.NoError(t, err)
			require.Equal(t, p.Line, a.Home, "signup %d", i+1)
			require.Equal(t, p.Reason, a.Reason, "signup %d", i+1)
			require.NotEqual(t, ids[4], a.Home.ID)
		}
	})

	t.Run("StopsWhereThePoolRunsOut", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(c))
		seedLine(t, s.pool, 0, 2)
		seedLine(t, s.pool, 1, 1)
		rot, err := s.router.Rotation(context.Background(), 10)
		require.NoError(t, err)
		require.Len(t, rot.Picks, 3)
		require.Equal(t, router.PoolExhausted, rot.Unavailable)
		require.Equal(t, router.ReasonLowestID, rot.Picks[0].Reason)
		require.Zero(t, count(t, s.pool, `SELECT count(*) FROM users`), "a preview writes nothing")
	})
}

package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/ratelimit"
)

func TestPairGuard(t *testing.T) {
	t.Parallel()

	guarded := gwOptions{limits: func(c *ratelimit.Config) { c.PairGuard = time.Second }}

	// The answer's time against the admission's: within the guard the
	// stamp stays (the record writes no pair row), past it the stamp moves
	// to the answer, a time Linq cannot have stamped the send after.
	for _, tc := range []struct {
		name    string
		latency time.Duration
		moved   bool
	}{
		{"AnAnswerWithinTheGuardKeepsTheAdmissionStamp", 300 * time.Millisecond, false},
		{"AnAnswerPastTheGuardIsStampedWithItsTime", 1500 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, ft := clockEnv(t)
			gw := e.newGateway(t, guarded)
			line, _ := e.addLine(t)
			ref, _ := e.addUser(t, line)
			ctx := context.Background()
			ft.latency = []time.Duration{tc.latency}
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: "k"})
			require.NoError(t, err)
			gw.svc.Settle()

			var stamp, admitted time.Time
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT p.sends[1], m.admitted_at FROM pair_state p, messages m
				WHERE p.line_id = $1 AND m.idempotency_key = $2`, line, "k").Scan(&stamp, &admitted))
			if tc.moved {
				require.False(t, stamp.Before(admitted.Add(tc.latency)), "stamp %s, admitted %s", stamp, admitted)
			} else {
				require.True(t, stamp.Equal(admitted), "stamp %s, admitted %s", stamp, admitted)
			}
		})
	}

	// The window edge of TestDatabaseClock with a guard: the first send
	// reaches Linq 300 ms after its admission and keeps its admission
	// stamp, which counts for 61 s; Linq never answers 429.
	t.Run("WindowEdgeWithLinqLatencyGetsNo429", func(t *testing.T) {
		t.Parallel()
		e, ft := clockEnv(t)
		gw := e.newGateway(t, guarded)
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		send := func() error {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("tick")})
			return err
		}
		start := ft.db.Now()
		ft.latency = []time.Duration{300 * time.Millisecond}
		for i := range 30 {
			require.NoError(t, send(), "send %d", i)
		}
		gw.svc.Settle()
		ft.db.Set(start.Add(60310 * time.Millisecond)) // past Linq's window, inside the guarded one
		requireCode(t, send(), apperr.RateLimited, ratelimit.OutcomePairLimit)
		ft.db.Set(start.Add(61 * time.Second))
		requireCode(t, send(), apperr.RateLimited, ratelimit.OutcomePairLimit)
		ft.db.Set(start.Add(61*time.Second + time.Millisecond))
		require.NoError(t, send())

		require.Zero(t, e.sim.Count429())
		require.Zero(t, counterValue(t, gw.metrics.Upstream429))
		require.Len(t, e.sim.SendLog(), 31)
	})
}

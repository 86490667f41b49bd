package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/router"
)

func TestRecovery(t *testing.T) {
	t.Parallel()
	cfg := health.Config{RecoveryDwell: 6 * time.Hour, RecoveryPerMinute: 10, FlapLimit: 3, FlapWindow: 7 * 24 * time.Hour}

	t.Run("UsersComeHomeAfterTheDwellGraduallyAndManualMovesStay", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		home, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 25, home, backup)
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Equal(t, 25, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))
		// Ops move one user by hand afterwards: it stays where ops put it.
		b.exec(t, `INSERT INTO line_ledger (user_id, reason, from_line_id, to_line_id, line_set, created_at)
			SELECT id, 'ops', current_line_id, current_line_id, ARRAY[$1::bigint, $2::bigint], $3 FROM users WHERE user_ref = 'a-1'`, home, backup, t0.Add(time.Minute))

		b.clock.Advance(time.Hour)
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: b.clock.Now(), ServiceStatus: "ACTIVE"})
		require.Equal(t, health.StateOK, b.state(t, home))

		n, err := b.inst.health.Recover(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "no user comes back before the dwell")

		b.clock.Advance(6*time.Hour - time.Second)
		n, err = b.inst.health.Recover(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "no user comes back before the dwell")

		b.clock.Advance(time.Second)
		total := 0
		for range 3 {
			n, err = b.inst.health.Recover(context.Background())
			require.NoError(t, err)
			require.LessOrEqual(t, n, 10, "at most RecoveryPerMinute per tick")
			total += n
			b.clock.Advance(time.Minute)
		}
		require.Equal(t, 24, total)
		require.Equal(t, 24, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, home))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM users WHERE user_ref = 'a-1' AND current_line_id = $1`, backup))
		require.Equal(t, 24, b.count(t, `SELECT count(*) FROM line_ledger WHERE reason = $1`, router.LedgerRecovery))
		require.Equal(t, 24, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'user.line_changed' AND data->>'reason' = 'recovery'`))
		b.invariants(t)
	})

	// The tick reads the recoverable lines before it gets the pool lock; a
	// line that fails while it waits (the failing input holds the lock)
	// keeps its users away.
	t.Run("LineThatFailsWhileTheTickWaitsTakesNobodyBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		ctx := context.Background()
		home, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 5, home, backup)
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: t0.Add(time.Minute), ServiceStatus: "ACTIVE"})
		require.Equal(t, 5, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))
		b.clock.Advance(7 * time.Hour) // past the dwell

		flag, err := b.inst.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = flag.Rollback(ctx) }()
		_, err = b.inst.health.ApplyOutcome(ctx, flag, health.Input{LineID: home, Source: health.SourceWebhook, At: b.clock.Now(), ServiceStatus: "FLAGGED"})
		require.NoError(t, err)

		n, err := afterWaiting(t, b, flag, func() (int, error) { return b.inst.health.Recover(ctx) })
		require.NoError(t, err)

		require.Equal(t, health.StateDown, b.state(t, home))
		require.Zero(t, n, "users came home to a down line")
		require.Zero(t, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, home))
		require.Zero(t, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'user.line_changed' AND data->>'reason' = 'recovery'`))
		b.invariants(t)
	})

	t.Run("FlappingLineIsHeldUntilOpsReactivateIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		home, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 5, home, backup)
		at := t0
		for i := range 3 {
			at = at.Add(time.Hour)
			b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: at, ServiceStatus: "FLAGGED"})
			held := b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND held_at IS NOT NULL`, home)
			require.Equal(t, map[bool]int{true: 1, false: 0}[i == 2], held, "down %d times", i+1)
			at = at.Add(time.Hour)
			b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: at, ServiceStatus: "ACTIVE"})
		}
		l, err := b.inst.lines.Get(context.Background(), home)
		require.NoError(t, err)
		require.False(t, l.MaySignup, "a held line takes no signups")
		require.Zero(t, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND recovery_at IS NOT NULL`, home),
			"a held line has no recovery time until ops re-activate it")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'line.status_changed'
			AND data->>'to' = 'ok' AND (data->>'held')::boolean`), "back to ok, still held, says so")

		b.clock.Set(at.Add(24 * time.Hour))
		n, err := b.inst.health.Recover(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "a held line takes nobody back")

		require.NoError(t, b.inst.health.RecoverNow(context.Background(), home))
		n, err = b.inst.health.Recover(context.Background())
		require.NoError(t, err)
		require.Equal(t, 5, n)
		b.invariants(t)
	})

	t.Run("RecoverNowSkipsTheDwellButNeedsAnOKLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		home, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 5, home, backup)
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Error(t, b.inst.health.RecoverNow(context.Background(), home))
		b.apply(t, b.inst, health.Input{LineID: home, Source: health.SourceWebhook, At: t0.Add(time.Minute), ServiceStatus: "ACTIVE"})
		require.NoError(t, b.inst.health.RecoverNow(context.Background(), home))
		n, err := b.inst.health.Recover(context.Background())
		require.NoError(t, err)
		require.Equal(t, 5, n)
	})

	t.Run("RecoverNowRefusesARetiredLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		line, _ := b.addLine(t, 100)
		b.exec(t, `UPDATE lines SET admin_state = 'retired' WHERE id = $1`, line)
		err := b.inst.health.RecoverNow(context.Background(), line)
		require.True(t, apperr.IsCode(err, "line_retired"), "%v", err)
		require.Zero(t, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND recovery_at IS NOT NULL`, line))
	})
}

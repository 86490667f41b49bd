package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
)

func TestFailover(t *testing.T) {
	t.Parallel()

	t.Run("FlaggedLineMovesEveryUserOnceWithinCaps", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		down, _ := b.addLine(t, 3000)
		b1, _ := b.addLine(t, 1500) // first backup of everyone: fills up
		b2, _ := b.addLine(t, 1500) // second backup: takes the rest of its share
		spare, _ := b.addLine(t, 1000)
		b.seedUsers(t, "a", 1000, down, b1, b2)
		b.seedUsers(t, "b", 1000, down, b2, b1)
		b.seedUsers(t, "c", 1000, b1, spare) // b1 holds 1,000 already: 500 left
		b.seedUsers(t, "d", 1000, b2, spare) // b2 likewise

		out := b.apply(t, b.inst, health.Input{LineID: down, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Equal(t, health.StateDown, out.To)
		require.NotNil(t, out.Failover)
		require.Equal(t, 2000, out.Failover.Moved)
		require.Zero(t, out.Failover.Stranded)

		require.Zero(t, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, down))
		require.Empty(t, b.overCap(t))
		// Backups first (500 room each), the rest to any healthy line with
		// room, which joins the user's set.
		require.Equal(t, 1500, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, b1))
		require.Equal(t, 1500, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, b2))
		require.Equal(t, 1000, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, spare))
		require.Equal(t, 1000, b.count(t, `SELECT count(*) FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.line_id = $1 WHERE u.user_ref LIKE 'a-%' OR u.user_ref LIKE 'b-%'`, spare))
		// Home line and the original set are kept.
		require.Equal(t, 2000, b.count(t, `SELECT count(*) FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.position = 0 AND ul.line_id = $1 WHERE u.home_line_id = $1`, down))
		// Exactly one event and one ledger row per moved user.
		require.Equal(t, 2000, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'user.line_changed'`))
		require.Equal(t, 2000, b.count(t, `SELECT count(DISTINCT data->>'user_ref') FROM test_events WHERE type = 'user.line_changed' AND data->>'reason' = 'failover' AND (data->>'from_line_id')::bigint = $1`, down))
		require.Equal(t, 2000, b.count(t, `SELECT count(*) FROM line_ledger WHERE reason = 'failover' AND from_line_id = $1`, down))
		b.invariants(t)

		fs, err := b.inst.health.Failovers(context.Background(), 0, 10)
		require.NoError(t, err)
		require.Len(t, fs, 1)
		require.Equal(t, 2000, fs[0].UsersMoved)
		require.Len(t, fs[0].To, 3)
	})

	t.Run("PoolTooSmallStrandsTheRestAndMovesNobodyHalfway", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		down, _ := b.addLine(t, 1000)
		small, _ := b.addLine(t, 300)
		b.seedUsers(t, "a", 500, down, small)

		out := b.apply(t, b.inst, health.Input{LineID: down, Source: health.SourcePoll, At: t0, Reputation: "CRITICAL"})
		require.Equal(t, health.StateCritical, out.To)
		require.Equal(t, 300, out.Failover.Moved)
		require.Equal(t, 200, out.Failover.Stranded)
		require.Equal(t, 200, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, down))
		require.Equal(t, 300, b.count(t, `SELECT count(*) FROM line_ledger WHERE reason = 'failover'`))
		require.Empty(t, b.overCap(t))
		b.invariants(t)

		ph, err := b.inst.health.Pool(context.Background())
		require.NoError(t, err)
		require.Equal(t, 200, ph.Stranded)
		// The gauge says so at once, before any sweep, on this replica and
		// on one that took no part.
		require.Equal(t, 200.0, testutil.ToFloat64(b.inst.metrics.StrandedUsers))
		other := b.newInstance(t)
		require.Equal(t, 200.0, testutil.ToFloat64(other.metrics.StrandedUsers))
		// The failed line is not a failure to come; the full one is.
		require.False(t, ph.SingleFailure.OK)
		require.Len(t, ph.SingleFailure.WouldStrand, 1)
		require.Equal(t, small, ph.SingleFailure.WouldStrand[0].LineID)

		// Room appears: the sweep places the stranded users.
		b.exec(t, `UPDATE lines SET budget_override = 600 WHERE id = $1`, small)
		moved, stranded, err := b.inst.health.Sweep(context.Background())
		require.NoError(t, err)
		require.Equal(t, 200, moved)
		require.Zero(t, stranded)
		require.Zero(t, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, down))
		b.invariants(t)
	})

	// The sweep reads the failing lines before it gets the pool lock; a
	// line that comes back while it waits (that input holds the lock)
	// keeps its users.
	t.Run("SweepLeavesTheUsersOfALineThatCameBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		ctx := context.Background()
		down, _ := b.addLine(t, 100)
		small, _ := b.addLine(t, 10)
		b.seedUsers(t, "a", 20, down, small)
		out := b.apply(t, b.inst, health.Input{LineID: down, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Equal(t, 10, out.Failover.Stranded)
		b.exec(t, `UPDATE lines SET budget_override = 100 WHERE id = $1`, small) // room appears

		back, err := b.inst.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = back.Rollback(ctx) }()
		_, err = b.inst.health.ApplyOutcome(ctx, back, health.Input{LineID: down, Source: health.SourceWebhook, At: t0.Add(time.Minute), ServiceStatus: "ACTIVE"})
		require.NoError(t, err)

		moved, err := afterWaiting(t, b, back, func() (int, error) {
			moved, _, err := b.inst.health.Sweep(ctx)
			return moved, err
		})
		require.NoError(t, err)

		require.Equal(t, health.StateOK, b.state(t, down))
		require.Zero(t, moved, "the sweep failed over the users of an ok line")
		require.Equal(t, 10, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, down))
		b.invariants(t)
	})

	t.Run("OpsFailoverMovesUsersOfAHealthyLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 40, line, backup)
		res, err := b.inst.health.Failover(context.Background(), line)
		require.NoError(t, err)
		require.Equal(t, 40, res.Moved)
		require.Equal(t, 40, b.count(t, `SELECT count(*) FROM line_ledger WHERE reason = 'ops'`))
		require.Equal(t, 40, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'user.line_changed' AND data->>'reason' = 'ops'`))
		b.invariants(t)
	})

	// Each event names the row it stands for, from which the events
	// service derives its id (unique per database: see events.Row).
	t.Run("EventsNameTheirRows", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 1, line, backup)
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM test_events e JOIN line_health_history h ON e.id = 'line_health_history/' || h.id
			WHERE e.type = 'line.status_changed'`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM test_events e JOIN line_ledger l ON e.id = 'line_ledger/' || l.id
			WHERE e.type = 'user.line_changed'`))
	})

	t.Run("SingleFailureCheckNamesLinesThatWouldStrandUsers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		big, _ := b.addLine(t, 1000)
		small, _ := b.addLine(t, 200)
		b.seedUsers(t, "a", 900, big, small)
		b.seedUsers(t, "b", 50, small, big)
		ph, err := b.inst.health.Pool(context.Background())
		require.NoError(t, err)
		sf := ph.SingleFailure
		require.False(t, sf.OK)
		require.Len(t, sf.WouldStrand, 1)
		require.Equal(t, big, sf.WouldStrand[0].LineID)
		require.Equal(t, 900-150, sf.WouldStrand[0].Stranded)
		require.Positive(t, sf.LinesToAdd)
		require.GreaterOrEqual(t, sf.LinesToAdd*sf.NewLineCap, 750)
	})

	t.Run("StaleLinesAreShown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{StaleAfter: 10 * time.Minute})
		line, _ := b.addLine(t, 100)
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourcePoll, At: t0, ServiceStatus: "ACTIVE", Reputation: "HEALTHY"})
		ph, err := b.inst.health.Pool(context.Background())
		require.NoError(t, err)
		require.False(t, ph.Lines[0].Stale)
		b.clock.Advance(11 * time.Minute)
		ph, err = b.inst.health.Pool(context.Background())
		require.NoError(t, err)
		require.True(t, ph.Lines[0].Stale)
		require.Equal(t, 1, ph.Stale)
	})
}

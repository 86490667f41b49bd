package health_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linqsim"
)

func TestPoll(t *testing.T) {
	t.Parallel()
	cfg := health.Config{ProbeFlags: true}

	t.Run("CatchesAFlagWhoseWebhookWasDropped", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		line, number := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 30, line, backup)
		b.sim.SetFaults(linqsim.Faults{DropWebhooks: 1})
		require.NoError(t, b.sim.FlagLine(number))

		res, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, res.Transitions)
		require.Equal(t, 30, res.Moved)
		require.Equal(t, health.StateDown, b.state(t, line))
		require.Equal(t, 30, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))
	})

	t.Run("CriticalFailsOverAndAtRiskOnlyStopsSignups", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		critical, cNumber := b.addLine(t, 100)
		atRisk, rNumber := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 20, critical, backup)
		b.seedUsers(t, "b", 20, atRisk, backup)
		require.NoError(t, b.sim.SetReputation(cNumber, "CRITICAL"))
		require.NoError(t, b.sim.SetReputation(rNumber, "AT_RISK"))

		res, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 20, res.Moved)
		require.Equal(t, health.StateCritical, b.state(t, critical))
		require.Equal(t, health.StateAtRisk, b.state(t, atRisk))
		require.Zero(t, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, critical))
		require.Equal(t, 20, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, atRisk))
		l, err := b.inst.lines.Get(context.Background(), critical)
		require.NoError(t, err)
		require.False(t, l.MaySendProactive, "proactive sends of a critical line are paused")
		require.True(t, l.MaySend, "replies still go")
	})

	t.Run("LineLinqNoLongerListsIsMissingAndComesBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		line, _ := b.addLine(t, 100)
		b.exec(t, `INSERT INTO lines (number, budget_override) VALUES ('+15550109999', 100)`)
		_, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.StateOK, b.state(t, line))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE number = '+15550109999' AND health_state = 'missing' AND linq_missing_at IS NOT NULL`))

		b.sim.AddLine("+15550109999")
		b.clock.Advance(60e9)
		_, err = b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE number = '+15550109999' AND health_state = 'ok' AND linq_missing_at IS NULL`))
	})
}

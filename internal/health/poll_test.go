package health_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
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

	// Linq flags the line at flaggedAt; its webhook is delayed (Linq
	// retries for about 25 minutes). A poll meanwhile whose check of the
	// line fails knows nothing of its status, so the webhook still applies.
	t.Run("DelayedFlagAppliesAfterAPollThatCouldNotCheckTheLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		line, number := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 10, line, backup)
		flaggedAt := b.clock.Now()
		b.clock.Advance(30 * time.Second)
		res, err := b.withLinq(t, failingLinq{Linq: b.linq, number: number}).Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, res.ProbeErrors)

		b.clock.Advance(30 * time.Second)
		out := b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: flaggedAt, ServiceStatus: "FLAGGED"})
		require.False(t, out.Stale, "the flag was dropped as older than a poll that never saw the status")
		require.Equal(t, health.StateDown, b.state(t, line))
		require.Equal(t, 10, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))
	})

	// A line's status is as old as its check, not as the end of the poll:
	// a flag after the check, delivered after the poll, still applies.
	t.Run("StatusIsStampedWhenTheLineWasChecked", func(t *testing.T) {
		t.Parallel()
		b := setup(t, cfg)
		line, number := b.addLine(t, 100)
		checkedAt := b.clock.Now()
		_, err := b.withLinq(t, slowLinq{Linq: b.linq, number: number, clock: b.clock}).Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND status_input_at = $2`, line, checkedAt))

		out := b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: checkedAt.Add(time.Second), ServiceStatus: "FLAGGED"})
		require.False(t, out.Stale, "the flag was dropped as older than the poll's check")
		require.Equal(t, health.StateDown, b.state(t, line))
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

// failingLinq is the simulator's client with one line's (or chat's) calls
// answered by an error.
type failingLinq struct {
	health.Linq
	number, chatID string
}

var errLinqDown = errors.New("linq unreachable")

func (f failingLinq) CheckIMessage(ctx context.Context, req linq.CapabilityCheckRequest) (*linq.CapabilityCheckResponse, error) {
	if req.From == f.number {
		return nil, errLinqDown
	}
	return f.Linq.CheckIMessage(ctx, req)
}

func (f failingLinq) CreateContactCard(ctx context.Context, req linq.CreateContactCardRequest) (*linq.ContactCard, error) {
	if req.PhoneNumber == f.number {
		return nil, errLinqDown
	}
	return f.Linq.CreateContactCard(ctx, req)
}

func (f failingLinq) ShareContactCard(ctx context.Context, chatID string) (*linq.Ack, error) {
	if chatID == f.chatID {
		return nil, errLinqDown
	}
	return f.Linq.ShareContactCard(ctx, chatID)
}

// slowLinq is the simulator's client whose check of one line takes a
// minute of the clock.
type slowLinq struct {
	health.Linq
	number string
	clock  *testkit.Clock
}

func (s slowLinq) CheckIMessage(ctx context.Context, req linq.CapabilityCheckRequest) (*linq.CapabilityCheckResponse, error) {
	resp, err := s.Linq.CheckIMessage(ctx, req)
	if req.From == s.number {
		s.clock.Advance(time.Minute)
	}
	return resp, err
}

// withLinq is inst's health service calling l instead of the simulator.
func (b *bundle) withLinq(t *testing.T, l health.Linq) *health.Service {
	t.Helper()
	cfg := b.cfg
	cfg.Now = b.clock.Now
	return health.New(b.inst.pool, b.inst.lines, b.inst.router, l, recorder{}, testkit.Logger(t), b.inst.metrics, cfg)
}

func TestPollManyLines(t *testing.T) {
	t.Parallel()
	const n = 20 // more lines than checks in flight

	// addLines adds n lines: every third at risk, the 5th and 11th flagged.
	addLines := func(t *testing.T, b *bundle) ([]int64, []string, map[int64]string) {
		t.Helper()
		ids, numbers, want := make([]int64, n), make([]string, n), map[int64]string{}
		for i := range n {
			ids[i], numbers[i] = b.addLine(t, 100)
			want[ids[i]] = health.StateOK
			switch {
			case i == 5 || i == 11:
				require.NoError(t, b.sim.FlagLine(numbers[i]))
				want[ids[i]] = health.StateDown
			case i%3 == 0:
				require.NoError(t, b.sim.SetReputation(numbers[i], "AT_RISK"))
				want[ids[i]] = health.StateAtRisk
			}
		}
		return ids, numbers, want
	}
	states := func(t *testing.T, b *bundle, ids []int64) map[int64]string {
		t.Helper()
		got := map[int64]string{}
		for _, id := range ids {
			got[id] = b.state(t, id)
		}
		return got
	}

	t.Run("AppliesEveryLineAndConfirmsUnchangedOnesOnTheNextPoll", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{ProbeFlags: true})
		ids, _, want := addLines(t, b)

		res, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.PollResult{Listed: n, Applied: n, Transitions: 2 + 7}, res)
		require.Equal(t, want, states(t, b, ids))
		require.Equal(t, n, b.count(t, `SELECT count(*) FROM lines WHERE health_confirmed_at = $1`, t0))

		b.clock.Advance(time.Minute)
		res, err = b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.PollResult{Listed: n, Applied: n}, res)
		require.Equal(t, want, states(t, b, ids))
		require.Equal(t, n, b.count(t, `SELECT count(*) FROM lines WHERE health_confirmed_at = $1
			AND status_input_at = $1 AND reputation_input_at = $1 AND listing_input_at = $1`, t0.Add(time.Minute)))
	})

	t.Run("AFailedCheckOfOneLineDoesNotStopTheOthers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{ProbeFlags: true})
		ids, numbers, want := addLines(t, b)
		svc := b.withLinq(t, failingLinq{Linq: b.linq, number: numbers[5]})

		res, err := svc.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, res.ProbeErrors)
		require.Equal(t, n, res.Applied, "the failed line still gets its reputation")
		want[ids[5]] = health.StateOK // its flag is unknown without the check
		require.Equal(t, want, states(t, b, ids))
	})

	t.Run("ALineWithANewerInputIsLeftAlone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{ProbeFlags: true})
		ids, _, _ := addLines(t, b)
		_, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		later := t0.Add(time.Hour)
		b.exec(t, `UPDATE lines SET status_input_at = $2, reputation_input_at = $2, listing_input_at = $2 WHERE id = $1`, ids[1], later)

		b.clock.Advance(time.Minute)
		res, err := b.inst.health.Poll(context.Background())
		require.NoError(t, err)
		require.Equal(t, n-1, res.Applied)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND status_input_at = $2 AND health_confirmed_at = $3`, ids[1], later, t0))
	})
}

// The poll confirms many lines in one statement without the pool lock. A
// move holds one line's row before it updates the user counts of the others
// (a failover its failing line's, a retire the retired line's): when one of
// those has a lower id, a poll that waited for the moving line's row while
// holding the lower one would deadlock with it.
func TestPollDoesNotDeadlockWithAMove(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		move func(ctx context.Context, b *bundle, line int64) error
		want func(t *testing.T, b *bundle, line int64)
	}{
		{
			name: "Failover",
			move: func(ctx context.Context, b *bundle, line int64) error {
				_, err := store.WithTxV(ctx, b.inst.pool, func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
					return b.inst.health.ApplyOutcome(ctx, tx, health.Input{LineID: line, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
				})
				return err
			},
			want: func(t *testing.T, b *bundle, line int64) {
				t.Helper()
				require.Equal(t, health.StateDown, b.state(t, line))
			},
		},
		{
			name: "Retire",
			move: func(ctx context.Context, b *bundle, line int64) error {
				_, err := b.inst.router.Retire(ctx, line)
				return err
			},
			want: func(t *testing.T, b *bundle, line int64) {
				t.Helper()
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND admin_state = 'retired'`, line))
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, health.Config{})
			ctx := context.Background()
			backup, _ := b.addLine(t, 100) // the lower id
			line, _ := b.addLine(t, 100)
			b.seedUsers(t, "a", 10, line, backup)

			// Something holds one user's row for a moment (a send, a
			// webhook batch): the move stops there, holding the line's row.
			hold, err := b.inst.pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = hold.Rollback(ctx) }()
			_, err = hold.Exec(ctx, `SELECT 1 FROM users WHERE user_ref = 'a-1' FOR UPDATE`)
			require.NoError(t, err)
			moved := make(chan error, 1)
			go func() { moved <- c.move(ctx, b, line) }()
			b.waitForLockWaiter(t, "transactionid")

			// The poll reads both lines as they were and waits for the
			// moving line's row.
			polled := make(chan error, 1)
			go func() { _, err := b.inst.health.Poll(ctx); polled <- err }()
			require.Eventually(t, func() bool {
				return b.lockWaiters(t, "") >= 2
			}, 10*time.Second, 10*time.Millisecond, "the poll does not wait for the moving line")
			require.NoError(t, hold.Rollback(ctx))

			require.NoError(t, <-moved, "the move")
			require.NoError(t, <-polled, "the poll")
			c.want(t, b, line)
			require.Equal(t, 10, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))
			b.invariants(t)
		})
	}
}

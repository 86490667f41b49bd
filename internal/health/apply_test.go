package health_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

func TestApply(t *testing.T) {
	t.Parallel()

	t.Run("TransitionIsStoredWithHistoryAndOneEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		out := b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourceWebhook, At: t0, Reputation: "AT_RISK", EventID: "evt_1"})
		require.Equal(t, health.StateOK, out.From)
		require.Equal(t, health.StateAtRisk, out.To)
		var since time.Time
		var cause string
		require.NoError(t, b.inst.pool.QueryRow(context.Background(), `SELECT health_since, health_cause FROM lines WHERE id = $1`, line).Scan(&since, &cause))
		require.True(t, since.Equal(t0))
		require.Equal(t, "webhook: reputation AT_RISK", cause)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM line_health_history WHERE line_id = $1 AND from_state = 'ok' AND to_state = 'at_risk' AND event_id = 'evt_1'`, line))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'line.status_changed' AND (data->>'line_id')::bigint = $1 AND data->>'to' = 'at_risk'`, line))

		// The same state again: nothing new in the history.
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourcePoll, At: t0.Add(time.Minute), Reputation: "AT_RISK"})
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM line_health_history WHERE line_id = $1`, line))
	})

	t.Run("StaleInputChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, number := b.addLine(t, 100)
		b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED"})
		require.Equal(t, health.StateDown, b.state(t, line))
		// An older event arriving late (webhook retries reorder) is stale.
		out := b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: t0.Add(-time.Second), ServiceStatus: "ACTIVE"})
		require.True(t, out.Stale)
		require.Equal(t, health.StateDown, b.state(t, line))
		out = b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: t0, ServiceStatus: "ACTIVE"})
		require.True(t, out.Stale, "an input with the applied time is the same input")
		out = b.apply(t, b.inst, health.Input{Number: number, Source: health.SourceWebhook, At: t0.Add(time.Second), ServiceStatus: "ACTIVE"})
		require.False(t, out.Stale)
		require.Equal(t, health.StateOK, b.state(t, line))
	})

	// Each signal is ordered on its own: an input older than the stored
	// value of a signal it saw leaves that signal alone, whatever newer
	// input of another signal came first.
	t.Run("EachSignalIsOrderedOnItsOwn", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
		apply := func(in health.Input) health.Outcome {
			t.Helper()
			in.LineID, in.Source = line, health.SourceWebhook
			return b.apply(t, b.inst, in)
		}

		require.False(t, apply(health.Input{At: at(2), Reputation: "AT_RISK"}).Stale)
		require.True(t, apply(health.Input{At: at(5)}).Stale, "an input that saw no signal changes nothing")
		out := apply(health.Input{At: at(1), ServiceStatus: "FLAGGED"})
		require.False(t, out.Stale, "a reputation seen later says nothing of the status")
		require.Equal(t, health.StateDown, out.To)
		require.True(t, apply(health.Input{At: at(1), Reputation: "CRITICAL"}).Stale)
		require.True(t, apply(health.Input{At: at(0), ServiceStatus: "ACTIVE"}).Stale)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND reputation = 'AT_RISK' AND service_status = 'FLAGGED'
			AND status_input_at = $2 AND reputation_input_at = $3`, line, at(1), at(2)))

		// A 2027 is a status: an ACTIVE seen before it does not clear it.
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourceSend, At: at(4), Ineligible: true})
		out = apply(health.Input{At: at(3), ServiceStatus: "ACTIVE", Reputation: "HEALTHY"})
		require.False(t, out.Stale, "its reputation is newer")
		require.Equal(t, health.StateDown, out.To, "the ACTIVE is older than the 2027")
		out = apply(health.Input{At: at(6), ServiceStatus: "ACTIVE"})
		require.Equal(t, health.StateOK, out.To)
	})

	t.Run("IneligibleIsClearedWhenLinqShowsTheLineActive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourceSend, At: t0, Ineligible: true})
		require.Equal(t, health.StateDown, b.state(t, line))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND ineligible_at IS NOT NULL`, line))
		// A reputation alone does not say the line may send again.
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourcePoll, At: t0.Add(time.Minute), Reputation: "HEALTHY"})
		require.Equal(t, health.StateDown, b.state(t, line))
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourcePoll, At: t0.Add(2 * time.Minute), ServiceStatus: "ACTIVE", Reputation: "HEALTHY"})
		require.Equal(t, health.StateOK, b.state(t, line))
		require.Zero(t, b.count(t, `SELECT count(*) FROM lines WHERE id = $1 AND ineligible_at IS NOT NULL`, line))
	})

	t.Run("AtRiskStopsSignupsButMovesNobody", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "u", 10, line, backup)
		b.apply(t, b.inst, health.Input{LineID: line, Source: health.SourcePoll, At: t0, Reputation: "AT_RISK"})
		l, err := b.inst.lines.Get(context.Background(), line)
		require.NoError(t, err)
		require.False(t, l.MaySignup, "an at-risk line takes no new users")
		require.True(t, l.MaySend, "an at-risk line still sends")
		require.Equal(t, 10, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, line))
	})

	// ok to at_risk takes only the line's row, not the pool lock: a signup
	// batch that read the line ok and then waits for its row plans again
	// instead of landing on it.
	t.Run("SignupPlannedBeforeAtRiskGoesToAnotherLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		ctx := context.Background()
		line, _ := b.addLine(t, 100) // empty: the signup's pick
		other, _ := b.addLine(t, 100)
		b.seedUsers(t, "a", 50, other, line)

		hold, err := b.inst.pool.Begin(ctx) // anything on the line's row for a moment
		require.NoError(t, err)
		defer func() { _ = hold.Rollback(ctx) }()
		_, err = hold.Exec(ctx, `SELECT 1 FROM lines WHERE id = $1 FOR UPDATE`, line)
		require.NoError(t, err)

		type applied struct {
			out health.Outcome
			err error
		}
		atRisk := make(chan applied, 1)
		go func() {
			out, err := store.WithTxV(ctx, b.inst.pool, func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
				return b.inst.health.ApplyOutcome(ctx, tx, health.Input{LineID: line, Source: health.SourcePoll, At: t0, Reputation: "AT_RISK"})
			})
			atRisk <- applied{out, err}
		}()
		b.waitForLockWaiter(t, "transactionid")
		type signed struct {
			a   router.Assignment
			err error
		}
		signup := make(chan signed, 1)
		go func() {
			a, err := b.inst.router.Assign(ctx, router.SignupRequest{UserRef: "new-1"})
			signup <- signed{a, err}
		}()
		// The signup read the line ok and waits for its row behind the
		// health change.
		require.Eventually(t, func() bool { return b.lockWaiters(t, "") >= 2 }, // of this test's database only
			10*time.Second, 10*time.Millisecond, "the input and the signup do not both wait")
		require.NoError(t, hold.Rollback(ctx))
		ap := <-atRisk
		require.NoError(t, ap.err)
		require.Equal(t, health.StateAtRisk, ap.out.To)
		s := <-signup
		require.NoError(t, s.err)
		require.Equal(t, other, s.a.Home.ID, "a new user was given an at_risk line as home")
		require.Zero(t, b.count(t, `SELECT count(*) FROM users WHERE home_line_id = $1 AND user_ref = 'new-1'`, line))
	})

	// An input read its line ok and takes no pool lock; the line fails
	// before it locks the row. Taking the pool lock with the row held would
	// deadlock with a move that holds the pool lock and then updates the
	// line: the users still on the line are left to the sweep.
	t.Run("InputThatFindsItsLineFailedMeanwhileTakesNoPoolLockAfterTheRow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		ctx := context.Background()
		line, _ := b.addLine(t, 100)
		backup, _ := b.addLine(t, 100)
		b.seedUsers(t, "u", 10, line, backup)

		failing, err := b.inst.pool.Begin(ctx) // the line goes down, not committed yet
		require.NoError(t, err)
		defer func() { _ = failing.Rollback(ctx) }()
		_, err = failing.Exec(ctx, `UPDATE lines SET service_status = 'FLAGGED', health_state = 'down' WHERE id = $1`, line)
		require.NoError(t, err)
		move, err := b.inst.pool.Begin(ctx) // a move holds the pool lock
		require.NoError(t, err)
		defer func() { _ = move.Rollback(ctx) }()
		_, err = move.Exec(ctx, `SET LOCAL deadlock_timeout = '50ms'`) // the victim when there is a deadlock
		require.NoError(t, err)
		_, err = move.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lines.PoolLockKey)
		require.NoError(t, err)

		applied := make(chan error, 1)
		go func() {
			_, err := store.WithTxV(ctx, b.inst.pool, func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
				return b.inst.health.ApplyOutcome(ctx, tx, health.Input{LineID: line, Source: health.SourcePoll, At: t0, Reputation: "AT_RISK"})
			})
			applied <- err
		}()
		b.waitForLockWaiter(t, "transactionid")
		require.NoError(t, failing.Commit(ctx))
		// The input commits, or (the defect) waits for the pool lock with
		// the line's row held.
		var applyErr error
		returned := false
		require.Eventually(t, func() bool {
			select {
			case applyErr = <-applied:
				returned = true
				return true
			default:
				return b.lockWaiters(t, "advisory") > 0
			}
		}, 10*time.Second, 10*time.Millisecond)

		_, err = move.Exec(ctx, `UPDATE lines SET updated_at = now() WHERE id = $1`, line)
		require.NoError(t, err, "the input holds the line's row and waits for the pool lock")
		require.NoError(t, move.Commit(ctx))
		if !returned {
			applyErr = <-applied
		}
		require.NoError(t, applyErr)
		require.Equal(t, health.StateDown, b.state(t, line))
		require.Equal(t, 10, b.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, line), "left to the sweep")
	})

	t.Run("SameInputOnTwoInstancesFailsOverOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, health.Config{})
		line, _ := b.addLine(t, 500)
		backup, _ := b.addLine(t, 500)
		b.seedUsers(t, "u", 200, line, backup)
		other := b.newInstance(t)
		in := health.Input{LineID: line, Source: health.SourceWebhook, At: t0, ServiceStatus: "FLAGGED", EventID: "evt_flag"}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, inst := range []*instance{b.inst, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = store.WithTx(context.Background(), inst.pool, func(ctx context.Context, tx pgx.Tx) error {
					return inst.health.Apply(ctx, tx, in)
				})
			}()
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM failovers WHERE line_id = $1`, line))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'line.status_changed'`))
		require.Equal(t, 200, b.count(t, `SELECT count(*) FROM test_events WHERE type = 'user.line_changed'`))
		require.Equal(t, 200, b.count(t, `SELECT count(DISTINCT data->>'user_ref') FROM test_events WHERE type = 'user.line_changed'`))
		b.invariants(t)
	})
}

package events

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// orphanEnv has one delivery that failed every attempt but the last, and
// whose last attempt was under way in River (the job row is up to the
// test).
type orphanEnv struct {
	deliveryEnv
	id int64
}

func newOrphanEnv(t *testing.T) orphanEnv {
	t.Helper()
	e := newDeliveryEnv(t)
	ctx := context.Background()
	_, _, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
	require.NoError(t, err)
	e.publish(t, "gone")
	args := e.jobs.all()[0]
	for attempt := 1; attempt < e.svc.attempts; attempt++ {
		require.Error(t, e.work(t, args, attempt)) // the receiver knows no secret
	}
	return orphanEnv{deliveryEnv: e, id: args.DeliveryID}
}

// job puts the delivery's River job on its last attempt in state, with
// what River's stuck-job rescuer writes when it discards one.
func (e orphanEnv) job(t *testing.T, state string) {
	t.Helper()
	_, err := e.svc.pool.Exec(context.Background(), `
		INSERT INTO river_job (args, kind, queue, state, attempt, max_attempts, attempted_at, finalized_at, errors)
		VALUES (jsonb_build_object('delivery_id', $1::bigint), 'event_delivery', $2::text, $3::text::river_job_state, $4::smallint, $4::smallint,
		        now() - interval '1 minute',
		        CASE WHEN $3::text IN ('completed', 'cancelled', 'discarded') THEN now() END,
		        ARRAY[jsonb_build_object('at', now(), 'attempt', $4::smallint, 'error', 'Stuck job rescued by JobRescuer')])`,
		e.id, Queue, state, e.svc.attempts)
	require.NoError(t, err)
}

// idleFor dates the delivery's last change back by d.
func (e orphanEnv) idleFor(t *testing.T, d time.Duration) {
	t.Helper()
	_, err := e.svc.pool.Exec(context.Background(),
		`UPDATE event_deliveries SET updated_at = lg_now() - $2::interval WHERE id = $1`, e.id, d.String())
	require.NoError(t, err)
}

func (e orphanEnv) delivery(t *testing.T) Delivery {
	t.Helper()
	ds, err := e.svc.Deliveries(context.Background(), DeliveryFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	return ds[0]
}

func TestOrphanedDelivery(t *testing.T) {
	t.Parallel()

	// A replica killed during a delivery's last attempt leaves its job
	// running; River's rescuer then discards it (no attempts left) and the
	// worker never records the outcome. The delivery must end dead, as if
	// the attempt had failed: counted, shown to ops, replayable, pruned.
	t.Run("DeliveryWhoseLastJobWasDiscardedByTheRescuerIsMarkedDead", func(t *testing.T) {
		t.Parallel()
		e := newOrphanEnv(t)
		ctx := context.Background()
		e.job(t, "discarded")
		e.idleFor(t, e.svc.orphanAfter()+time.Minute)
		require.Equal(t, StateRetrying, e.delivery(t).State)
		dead := testutil.ToFloat64(e.svc.metrics.EventDeliveries.WithLabelValues(StateDead))

		n, err := e.svc.MarkOrphansDead(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		d := e.delivery(t)
		require.Equal(t, StateDead, d.State)
		require.NotNil(t, d.LastError)
		require.Equal(t, orphanReason, *d.LastError)
		require.InDelta(t, 1, e.svc.metrics.EventDeliveriesDead.Value(), 0)
		require.InDelta(t, dead+1, testutil.ToFloat64(e.svc.metrics.EventDeliveries.WithLabelValues(StateDead)), 0)
		// Ops can send it again.
		require.NoError(t, e.svc.Retry(ctx, e.id))
		require.Equal(t, StatePending, e.delivery(t).State)
	})

	t.Run("DeliveryThatALiveJobWillStillSendIsLeftAlone", func(t *testing.T) {
		t.Parallel()
		for _, state := range []string{"available", "scheduled", "running", "retryable", "pending"} {
			t.Run(state, func(t *testing.T) {
				t.Parallel()
				e := newOrphanEnv(t)
				e.job(t, state)
				e.idleFor(t, e.svc.orphanAfter()+time.Minute)
				n, err := e.svc.MarkOrphansDead(context.Background())
				require.NoError(t, err)
				require.Zero(t, n)
				require.Equal(t, StateRetrying, e.delivery(t).State)
			})
		}
	})

	// The bound keeps the sweep off deliveries that changed lately.
	t.Run("DeliveryChangedLatelyIsLeftAlone", func(t *testing.T) {
		t.Parallel()
		e := newOrphanEnv(t)
		e.job(t, "discarded")
		e.idleFor(t, e.svc.orphanAfter()-time.Minute)
		n, err := e.svc.MarkOrphansDead(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, StateRetrying, e.delivery(t).State)
	})
}

package events

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

// recordedJobs stands in for River: it keeps the delivery jobs inserted,
// which the tests then work by hand.
type recordedJobs struct {
	mu   sync.Mutex
	args []DeliverArgs
}

func (r *recordedJobs) InsertManyTx(_ context.Context, _ pgx.Tx, ps []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		r.args = append(r.args, p.Args.(DeliverArgs))
	}
	return nil, nil
}

func (r *recordedJobs) all() []DeliverArgs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DeliverArgs(nil), r.args...)
}

// receiver is a product endpoint that verifies each delivery with the
// secrets it holds and counts the ones that verify.
type receiver struct {
	mu       sync.Mutex
	secrets  []string
	verified int
	hits     int
	// onHit, when set, runs as a request arrives.
	onHit func()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.onHit != nil {
		r.onHit()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if err := linq.VerifyWebhook(r.secrets, req.Header, body, time.Now(), 0); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.verified++
}

type deliveryEnv struct {
	svc  *Service
	jobs *recordedJobs
	recv *receiver
	url  string
}

func newDeliveryEnv(t *testing.T) deliveryEnv {
	t.Helper()
	pool := pgtest.NewPool(t)
	jobs := &recordedJobs{}
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	svc := New(pool, jobs, testkit.Logger(t), metrics.New(), Config{})
	return deliveryEnv{svc: svc, jobs: jobs, recv: recv, url: srv.URL}
}

// publish publishes one user.deleted event in its own transaction.
func (e deliveryEnv) publish(t *testing.T, ref string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, store.WithTx(ctx, e.svc.pool, func(ctx context.Context, tx pgx.Tx) error {
		return e.svc.Publish(ctx, tx, Event{
			ID: DeriveID(TypeUserDeleted, ref), Type: TypeUserDeleted, OccurredAt: time.Now(),
			Data: UserDeleted{UserRef: ref, DeletedAt: time.Now()},
		})
	}))
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()

	// A rotation retried after its answer was lost (or a second one within
	// the overlap) must not cut off the secret the product still verifies
	// with: that secret was promised to sign until its overlap ends.
	t.Run("SecondRotationKeepsTheFirstSecretSigningUntilItsOverlapEnds", func(t *testing.T) {
		t.Parallel()
		e := newDeliveryEnv(t)
		ctx := context.Background()
		sub, first, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
		require.NoError(t, err)
		_, second, err := e.svc.RotateSecret(ctx, sub.ID)
		require.NoError(t, err)
		_, third, err := e.svc.RotateSecret(ctx, sub.ID)
		require.NoError(t, err)

		for i, secret := range []string{first, second, third} {
			e.recv.mu.Lock()
			e.recv.secrets = []string{secret}
			e.recv.mu.Unlock()
			e.publish(t, "u"+string(rune('a'+i)))
			jobs := e.jobs.all()
			require.NoError(t, e.svc.deliver(ctx, jobs[len(jobs)-1], false), "secret %d", i+1)
		}
		require.Equal(t, 3, e.recv.verified)
	})

	t.Run("ASecretStopsSigningWhenItsOverlapEnds", func(t *testing.T) {
		t.Parallel()
		e := newDeliveryEnv(t)
		ctx := context.Background()
		now := time.Now()
		e.svc.cfg.Now = func() time.Time { return now }
		sub, first, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
		require.NoError(t, err)
		_, _, err = e.svc.RotateSecret(ctx, sub.ID)
		require.NoError(t, err)
		now = now.Add(DefaultSecretOverlap / 2)
		_, _, err = e.svc.RotateSecret(ctx, sub.ID)
		require.NoError(t, err)
		now = now.Add(DefaultSecretOverlap/2 + time.Minute)

		e.publish(t, "late")
		d, err := e.svc.q.EventDeliveryGetForSend(ctx, e.svc.pool, e.jobs.all()[0].DeliveryID)
		require.NoError(t, err)
		require.NotContains(t, signingSecrets(d, now), first)
		require.Len(t, signingSecrets(d, now), 2)
	})
}

// work runs one delivery job as River would, at the given attempt.
func (e deliveryEnv) work(t *testing.T, args DeliverArgs, attempt int) error {
	t.Helper()
	job := &river.Job[DeliverArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: e.svc.attempts}, Args: args}
	return e.svc.Worker().Work(context.Background(), job)
}

func TestRetryOfAFailingDelivery(t *testing.T) {
	t.Parallel()

	// A delivery that is retrying still has its River job, scheduled for
	// its next attempt; a retry (or replay) queues another. Only the new
	// one may send: else both keep attempting, the old one's last attempt
	// marks the delivery dead while the new one still tries, and the two
	// can post the event at once.
	t.Run("TheJobItReplacedSendsNothing", func(t *testing.T) {
		t.Parallel()
		e := newDeliveryEnv(t)
		ctx := context.Background()
		sub, secret, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
		require.NoError(t, err)
		e.publish(t, "gone")
		old := e.jobs.all()[0]
		// The receiver does not know the secret yet: the attempt fails.
		require.Error(t, e.work(t, old, 1))
		e.recv.mu.Lock()
		e.recv.secrets = []string{secret}
		e.recv.mu.Unlock()

		require.NoError(t, e.svc.Retry(ctx, old.DeliveryID))
		jobs := e.jobs.all()
		require.Len(t, jobs, 2)

		require.NoError(t, e.work(t, old, 2))
		require.Equal(t, 1, e.recv.hits, "the replaced job posted the event")
		ds, err := e.svc.Deliveries(ctx, DeliveryFilter{SubscriptionID: sub.ID})
		require.NoError(t, err)
		require.Equal(t, StatePending, ds[0].State)

		require.NoError(t, e.work(t, jobs[1], 1))
		require.Equal(t, 1, e.recv.verified)
		ds, err = e.svc.Deliveries(ctx, DeliveryFilter{SubscriptionID: sub.ID})
		require.NoError(t, err)
		require.Equal(t, StateDelivered, ds[0].State)
	})

	// An attempt of the replaced job that was under way when the retry
	// came does not mark the delivery failed or dead over the new job.
	t.Run("AnAttemptUnderWayDoesNotUndoTheRetry", func(t *testing.T) {
		t.Parallel()
		e := newDeliveryEnv(t)
		ctx := context.Background()
		sub, _, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
		require.NoError(t, err)
		e.publish(t, "gone")
		old := e.jobs.all()[0]
		require.Error(t, e.work(t, old, 1))
		d, err := e.svc.q.EventDeliveryGetForSend(ctx, e.svc.pool, old.DeliveryID)
		require.NoError(t, err)
		require.NoError(t, e.svc.Retry(ctx, old.DeliveryID))
		// The old job's last attempt, which read the row before the retry,
		// fails after it: the job ends (River does not try it again).
		require.NoError(t, e.svc.attempt(ctx, d, old, true))
		require.Equal(t, 2, e.recv.hits)
		ds, err := e.svc.Deliveries(ctx, DeliveryFilter{SubscriptionID: sub.ID})
		require.NoError(t, err)
		require.Equal(t, StatePending, ds[0].State)
	})
}

// A job that cannot read or record its delivery (Postgres restarting) is
// put off without spending an attempt: on the last attempt, failing would
// discard the job with the delivery left retrying, never dead, never tried
// again, and its body (message text too) never pruned.
func TestDeliveryWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// down closes the pool: before the job reads its delivery, or while
		// the endpoint answers, so that only the outcome is not recorded.
		whileSending bool
	}{
		{name: "CannotReadTheDelivery"},
		{name: "CannotRecordTheOutcome", whileSending: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newDeliveryEnv(t)
			ctx := context.Background()
			_, _, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
			require.NoError(t, err)
			e.publish(t, "gone")
			if tc.whileSending {
				e.recv.onHit = e.svc.pool.Close
			} else {
				e.svc.pool.Close()
			}
			err = e.work(t, e.jobs.all()[0], e.svc.attempts)
			var snooze *river.JobSnoozeError
			require.ErrorAs(t, err, &snooze)
			require.Positive(t, snooze.Duration)
		})
	}
}

// An attempt cut off because the gateway is shutting down (River cancels
// the jobs still running when the grace runs out) says nothing of the
// endpoint: it is not a failed attempt, and on the last attempt it must
// not make the delivery dead.
func TestDeliveryCutOffByShutdown(t *testing.T) {
	t.Parallel()
	e := newDeliveryEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	sub, _, err := e.svc.CreateSubscription(ctx, SubscriptionInput{URL: &e.url, EventTypes: []string{TypeUserDeleted}})
	require.NoError(t, err)
	e.publish(t, "gone")
	release := make(chan struct{})
	e.recv.onHit = func() { cancel(); <-release }
	defer close(release)
	job := &river.Job[DeliverArgs]{JobRow: &rivertype.JobRow{Attempt: e.svc.attempts, MaxAttempts: e.svc.attempts}, Args: e.jobs.all()[0]}
	err = e.svc.Worker().Work(ctx, job)
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	ds, err := e.svc.Deliveries(context.Background(), DeliveryFilter{SubscriptionID: sub.ID})
	require.NoError(t, err)
	require.Equal(t, StatePending, ds[0].State)
	require.Zero(t, ds[0].Attempts)
}

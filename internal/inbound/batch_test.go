package inbound_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

var errPoison = errors.New("poisoned line")

// failingRecorder counts like the real recorder except on one line, where
// every count fails: an event whose processing cannot succeed.
type failingRecorder struct {
	inbound.InboundRecorder
	line int64
}

func (r failingRecorder) RecordInboundTx(ctx context.Context, db store.DBTX, lineID int64, userID *int64, at time.Time) error {
	if lineID == r.line {
		return errPoison
	}
	return r.InboundRecorder.RecordInboundTx(ctx, db, lineID, userID, at)
}

// replica is one gateway's webhook processor.
type replica struct {
	pool *pgxpool.Pool
	svc  *inbound.Service
	m    *metrics.Metrics
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	numbers := []string{"+15550002000", "+15550002001", "+15550002002"}
	minute := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	type bundle struct {
		url   string
		pool  *pgxpool.Pool
		lines []int64 // by numbers' index
	}
	setup := func(t *testing.T) bundle {
		t.Helper()
		url := pgtest.NewURL(t)
		pool := open(t, url)
		b := bundle{url: url, pool: pool}
		for _, n := range numbers {
			var id int64
			require.NoError(t, pool.QueryRow(t.Context(), `INSERT INTO lines (number) VALUES ($1) RETURNING id`, n).Scan(&id))
			b.lines = append(b.lines, id)
		}
		for i := range 4 {
			_, err := pool.Exec(t.Context(), `INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
				VALUES ($1, $2, $3, $4, $4)`, fmt.Sprintf("u%d", i), sender(i), fmt.Sprintf("LG-USER000%d", i), b.lines[i%2])
			require.NoError(t, err)
		}
		return b
	}
	newReplica := func(t *testing.T, pool *pgxpool.Pool, wrap func(inbound.InboundRecorder) inbound.InboundRecorder) replica {
		t.Helper()
		svc, m := newService(t, pool, wrap, nil)
		return replica{pool: pool, svc: svc, m: m}
	}
	// messages stores n message.received events: event i comes from
	// sender(i) to numbers[i%2], in minute (i/2)%2 after `minute`.
	messages := func(t *testing.T, pool *pgxpool.Pool, prefix string, n int) []string {
		t.Helper()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s_%02d", prefix, i)
			storeMessage(t, pool, ids[i], numbers[i%2], sender(i), minute.Add(time.Duration(i/2%2)*time.Minute+time.Second))
		}
		return ids
	}
	processAll := func(reps []replica, ids []string, copies int) map[string][]error {
		var mu sync.Mutex
		errs := map[string][]error{}
		var wg sync.WaitGroup
		for _, r := range reps {
			for range copies {
				for _, id := range ids {
					wg.Go(func() {
						err := r.svc.Process(context.Background(), id)
						mu.Lock()
						errs[id] = append(errs[id], err)
						mu.Unlock()
					})
				}
			}
		}
		wg.Wait()
		return errs
	}

	t.Run("ConcurrentJobsShareBatchesAndCountEachEventOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := newReplica(t, b.pool, nil)
		ids := messages(t, b.pool, "evt", 40)
		release := occupyFlights(t, b.pool, []replica{r}, messages(t, b.pool, "evt_hold", 2))

		// Every event twice at once: a job and its retry.
		var errs map[string][]error
		done := make(chan struct{})
		go func() { errs = processAll([]replica{r}, ids, 2); close(done) }()
		require.NoError(t, release())
		<-done

		for _, id := range ids {
			require.Equal(t, []error{nil, nil}, errs[id], id)
		}
		// 40 events, 10 to each (line, minute), and the two held ones.
		require.Equal(t, map[string]int64{
			volumeKey(b.lines[0], minute): 11, volumeKey(b.lines[0], minute.Add(time.Minute)): 10,
			volumeKey(b.lines[1], minute): 11, volumeKey(b.lines[1], minute.Add(time.Minute)): 10,
		}, volumes(t, b.pool))
		require.Equal(t, map[string]int64{"counted": 42}, outcomes(t, b.pool))
		sizes := batchSizes(t, r.m)
		require.Greater(t, sizes.GetSampleCount(), sizes.GetBucket()[0].GetCumulativeCount(),
			"some batch held more than one event")
		require.Less(t, sizes.GetSampleCount(), uint64(len(ids)*2), "fewer transactions than jobs")
	})

	t.Run("PoisonedEventFailsOnlyItsJob", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name    string
			store   func(t *testing.T, b bundle) string
			wantErr string
		}{
			{
				name: "Unparsable",
				store: func(t *testing.T, b bundle) string {
					_, err := b.pool.Exec(t.Context(), `INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload)
						VALUES ('evt_bad', 'message.received', now(), now(), '{"event_id": "evt_bad", "event_type": "message.received"}')`)
					require.NoError(t, err)
					return "evt_bad"
				},
				wantErr: "data missing",
			},
			{
				name: "FailsWhileApplied",
				store: func(t *testing.T, b bundle) string {
					storeMessage(t, b.pool, "evt_bad", numbers[2], sender(9), minute)
					return "evt_bad"
				},
				wantErr: errPoison.Error(),
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				r := newReplica(t, b.pool, func(rec inbound.InboundRecorder) inbound.InboundRecorder {
					return failingRecorder{InboundRecorder: rec, line: b.lines[2]}
				})
				ids := append(messages(t, b.pool, "evt", 10), tc.store(t, b))
				release := occupyFlights(t, b.pool, []replica{r}, messages(t, b.pool, "evt_hold", 2))

				var errs map[string][]error
				done := make(chan struct{})
				go func() { errs = processAll([]replica{r}, ids, 1); close(done) }()
				require.NoError(t, release())
				<-done

				for _, id := range ids[:10] {
					require.Equal(t, []error{nil}, errs[id], id)
				}
				require.Len(t, errs["evt_bad"], 1)
				require.ErrorContains(t, errs["evt_bad"][0], tc.wantErr)
				require.Equal(t, map[string]int64{
					volumeKey(b.lines[0], minute): 4, volumeKey(b.lines[0], minute.Add(time.Minute)): 2,
					volumeKey(b.lines[1], minute): 4, volumeKey(b.lines[1], minute.Add(time.Minute)): 2,
				}, volumes(t, b.pool))
				require.Equal(t, map[string]int64{"counted": 12, "": 1}, outcomes(t, b.pool))
			})
		}
	})

	t.Run("TwoReplicasProcessingTheSameEventsCountEachOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		reps := []replica{newReplica(t, b.pool, nil), newReplica(t, open(t, b.url), nil)}
		ids := messages(t, b.pool, "evt", 40)
		// Both replicas' flights wait, so that each gathers all 40 events
		// into batches that race for the same rows.
		release := occupyFlights(t, b.pool, reps, messages(t, b.pool, "evt_hold", 4))

		var errs map[string][]error
		done := make(chan struct{})
		go func() { errs = processAll(reps, ids, 1); close(done) }()
		require.NoError(t, release())
		<-done

		for _, id := range ids {
			require.Equal(t, []error{nil, nil}, errs[id], id)
		}
		require.Equal(t, map[string]int64{
			volumeKey(b.lines[0], minute): 11, volumeKey(b.lines[0], minute.Add(time.Minute)): 11,
			volumeKey(b.lines[1], minute): 11, volumeKey(b.lines[1], minute.Add(time.Minute)): 11,
		}, volumes(t, b.pool))
		require.Equal(t, map[string]int64{"counted": 44}, outcomes(t, b.pool))
		var last int64
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT count(*) FROM users WHERE last_inbound_at IS NOT NULL`).Scan(&last))
		require.EqualValues(t, 4, last, "known senders' reply windows opened")
	})
}

func open(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: url, MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func sender(i int) string { return fmt.Sprintf("+1415555%04d", i%7) }

func storeMessage(t *testing.T, pool *pgxpool.Pool, id, line, from string, at time.Time) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"event_id": id, "event_type": "message.received", "created_at": at,
		"data": map[string]any{
			"id": "m_" + id, "direction": "inbound", "service": "iMessage",
			"chat":          map[string]any{"id": "chat_" + id, "owner_handle": map[string]any{"handle": line, "is_me": true}},
			"sender_handle": map[string]any{"handle": from},
			"parts":         []map[string]any{{"type": "text", "value": "hello"}},
		},
	})
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload)
		VALUES ($1, 'message.received', $2, now(), $3)`, id, at, body)
	require.NoError(t, err)
}

// occupyFlights makes the replicas' processing wait: it locks the given
// events in a transaction of its own and starts one job per event, spread
// over the replicas (two a replica fill its flights), each waiting on its
// event's lock. Calls made meanwhile queue for shared batches. release ends
// the transaction and returns the held jobs' first error.
func occupyFlights(t *testing.T, pool *pgxpool.Pool, reps []replica, ids []string) (release func() error) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	// Should the test fail before release, the held jobs still end (and
	// give their connections back, which closing the pool waits for).
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	_, err = tx.Exec(ctx, `SELECT 1 FROM webhook_events WHERE event_id = ANY ($1) FOR UPDATE`, ids)
	require.NoError(t, err)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	// One job at a time, each blocked before the next starts: started
	// together, two could join one batch and leave a flight free.
	for i, id := range ids {
		wg.Go(func() { errs <- reps[i%len(reps)].svc.Process(ctx, id) })
		require.Eventually(t, func() bool {
			var waiting int
			err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
			return err == nil && waiting == i+1
		}, 10*time.Second, 5*time.Millisecond, "held job %d waiting on its event", i)
	}
	return func() error {
		if err := tx.Rollback(ctx); err != nil {
			return err
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func volumeKey(line int64, minute time.Time) string {
	return fmt.Sprintf("%d@%s", line, minute.UTC().Format("15:04"))
}

// volumes is the inbound count of every (line, minute) row.
func volumes(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT line_id, minute, inbound FROM line_volume`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var line, n int64
		var minute time.Time
		require.NoError(t, rows.Scan(&line, &minute, &n))
		got[volumeKey(line, minute)] += n
	}
	require.NoError(t, rows.Err())
	return got
}

// outcomes counts events by outcome; "" is an event not processed.
func outcomes(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT coalesce(outcome, ''), count(*) FROM webhook_events
		WHERE (outcome IS NULL) = (processed_at IS NULL) GROUP BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var o string
		var n int64
		require.NoError(t, rows.Scan(&o, &n))
		got[o] = n
	}
	require.NoError(t, rows.Err())
	return got
}

func batchSizes(t *testing.T, m *metrics.Metrics) *dto.Histogram {
	t.Helper()
	var out dto.Metric
	h, err := m.GroupCommitSize.GetMetricWithLabelValues("webhook_processing")
	require.NoError(t, err)
	require.NoError(t, h.(prometheus.Histogram).Write(&out))
	return out.GetHistogram()
}

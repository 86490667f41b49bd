package messaging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

// fakeTime is one timeline for the database clock and the simulator's
// clock, with simulated Linq latency taken out of it: a request reaches
// Linq latency after the gateway sent it.
type fakeTime struct {
	db      *pgtest.Clock
	mu      sync.Mutex
	latency []time.Duration // per request, in order; then 0
}

func (f *fakeTime) now() time.Time {
	if f.db == nil {
		return time.Now()
	}
	return f.db.Now()
}

func (f *fakeTime) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		var d time.Duration
		if len(f.latency) > 0 {
			d, f.latency = f.latency[0], f.latency[1:]
		}
		f.mu.Unlock()
		if d > 0 {
			f.db.Advance(d)
		}
		next.ServeHTTP(w, r)
	})
}

// clockEnv is an env whose database and simulator share a fake timeline.
func clockEnv(t *testing.T) (*env, *fakeTime) {
	t.Helper()
	ft := &fakeTime{}
	e := newEnvWith(t, envOptions{simNow: ft.now, front: ft.front})
	ft.db = pgtest.NewClock(t, e.pool, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	return e, ft
}

// simPairTimes are the simulator's send times per pair, sorted.
func simPairTimes(sim *linqsim.Sim) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, s := range sim.SendLog() {
		for _, to := range s.To {
			out[s.From+"|"+to] = append(out[s.From+"|"+to], s.At)
		}
	}
	for _, ts := range out {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	return out
}

func TestDatabaseClock(t *testing.T) {
	t.Parallel()

	// Each replica's own clock is off by 3 s, one ahead and one behind;
	// the decisions run on the database's clock, so the window they keep
	// is the one Linq keeps.
	t.Run("SkewedReplicasNeverOverrunLinqsWindow", func(t *testing.T) {
		t.Parallel()
		e, ft := clockEnv(t)
		skewed := func(d time.Duration) func(c *messaging.Config) {
			return func(c *messaging.Config) { c.Now = func() time.Time { return ft.now().Add(d) } }
		}
		behind := e.newGateway(t, gwOptions{msg: skewed(-3 * time.Second)})
		ahead := e.newGateway(t, gwOptions{msg: skewed(3 * time.Second)})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		send := func(gw *gateway) error {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("tick")})
			return err
		}

		for i := range 30 {
			require.NoError(t, send(behind), "send %d", i)
		}
		behind.svc.Settle() // Linq's answers are on record before the clock moves on
		ft.db.Advance(57500 * time.Millisecond)
		for range 5 {
			requireCode(t, send(ahead), apperr.RateLimited, ratelimit.OutcomePairLimit)
		}
		ft.db.Advance(3 * time.Second) // the first sends are now 60.5 s old
		require.NoError(t, send(ahead))

		for pair, times := range simPairTimes(e.sim) {
			require.LessOrEqual(t, maxInAnyWindow(times), 30, pair)
		}
		require.Len(t, e.sim.SendLog(), 31)
		require.Zero(t, e.sim.Count429())
		require.Zero(t, counterValue(t, behind.metrics.Upstream429)+counterValue(t, ahead.metrics.Upstream429))
	})

	// A send reaches Linq after the gateway admitted it; at the window's
	// edge the gateway must not count from the earlier time.
	t.Run("WindowEdgeWithLinqLatencyGetsNo429", func(t *testing.T) {
		t.Parallel()
		e, ft := clockEnv(t)
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		send := func() error {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("tick")})
			return err
		}
		start := ft.db.Now()
		ft.latency = []time.Duration{300 * time.Millisecond} // the first send is slow to reach Linq
		for i := range 30 {
			require.NoError(t, send(), "send %d", i)
		}
		gw.svc.Settle() // Linq's answers are on record before the clock moves on
		// 60.1 s after the first admission, 59.8 s after Linq took it.
		ft.db.Set(start.Add(60100 * time.Millisecond))
		requireCode(t, send(), apperr.RateLimited, ratelimit.OutcomePairLimit)
		ft.db.Set(start.Add(60310 * time.Millisecond))
		require.NoError(t, send())

		require.Zero(t, e.sim.Count429())
		require.Zero(t, counterValue(t, gw.metrics.Upstream429))
		require.Len(t, e.sim.SendLog(), 31)
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()

	messageID := func(t *testing.T, e *env, key string) string {
		t.Helper()
		var id string
		require.NoError(t, e.pool.QueryRow(context.Background(),
			`SELECT id::text FROM messages WHERE idempotency_key = $1`, key).Scan(&id))
		return id
	}

	// Outcome unknown, then the resend is refused by Linq, then the caller
	// retries: the message keeps its id, so every attempt uses one Linq
	// key, and at most one message goes out.
	t.Run("RefusedResendKeepsTheKeyAndTheLinqKey", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw := e.newGateway(t, gwOptions{msg: func(c *messaging.Config) { c.SendTimeout = time.Second }})
		line, number := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		req := messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("once"), IdempotencyKey: "k"}

		e.sim.SetFaults(linqsim.Faults{Latency: time.Minute}) // Linq never answers in time
		_, err := gw.svc.Send(ctx, req)
		requireCode(t, err, apperr.BadGateway, "upstream_timeout")
		first := messageID(t, e, "k")

		e.sim.SetFaults(linqsim.Faults{})
		require.NoError(t, e.sim.FlagLine(number))
		_, err = gw.svc.Send(ctx, req)
		requireCode(t, err, apperr.Unavailable, ratelimit.OutcomeLineUnavailable)
		require.Equal(t, first, messageID(t, e, "k"), "a refused resend keeps the key")

		require.NoError(t, e.sim.UnflagLine(number))
		_, err = e.pool.Exec(ctx, `UPDATE lines SET ineligible_at = NULL WHERE id = $1`, line)
		require.NoError(t, err)
		sent, err := gw.svc.Send(ctx, req)
		require.NoError(t, err)
		require.Equal(t, first, sent.ID)
		log := e.sim.SendLog()
		require.Len(t, log, 1)
		require.Equal(t, first, log[0].IdempotencyKey, "one Linq key for every attempt")
	})

	// A retry of a key whose first attempt may be at Linq resends in the
	// slot that attempt took: never pair_limit for a message Linq holds.
	t.Run("RetryOfUnknownOutcomeIgnoresAFullWindow", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		req := messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("first"), IdempotencyKey: "k"}

		e.sendUnknown(t, gw, req)
		for i := range 29 {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("more")})
			require.NoError(t, err, "send %d", i)
		}
		sent, err := gw.svc.Send(ctx, req)
		require.NoError(t, err, "the retry reuses its slot")
		require.Equal(t, messageID(t, e, "k"), sent.ID)
		require.Len(t, e.sim.SendLog(), 30)
		require.Zero(t, e.sim.Count429())
		var slots int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT cardinality(sends) FROM pair_state WHERE line_id = $1`, line).Scan(&slots))
		require.Equal(t, 30, slots, "the retry took no second slot")
	})

	// A send whose outcome is unknown may be at Linq, stamped when Linq got
	// it: its pair stamp moves to when the failure was seen (never earlier
	// than Linq's), as it does on success, and admitted_at follows it so
	// that a retry's takeover still finds its slot.
	t.Run("UnknownOutcomeMovesThePairStampPastLinqs", func(t *testing.T) {
		t.Parallel()
		var pool atomic.Pointer[pgxpool.Pool]
		var reached atomic.Pointer[time.Time]
		e := newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p := pool.Load(); p != nil && r.Method == http.MethodPost && reached.Load() == nil {
					var at time.Time
					if err := p.QueryRow(r.Context(), `SELECT lg_now()`).Scan(&at); err == nil {
						reached.Store(&at)
					}
				}
				next.ServeHTTP(w, r)
			})
		}})
		pool.Store(e.pool)
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		req := messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("first"), IdempotencyKey: "k"}

		e.sendUnknown(t, gw, req)
		require.NotNil(t, reached.Load())
		var stamp, admitted time.Time
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT p.sends[1], m.admitted_at FROM pair_state p, messages m
			WHERE p.line_id = $1 AND m.id = $2`, line, messageID(t, e, "k")).Scan(&stamp, &admitted))
		require.False(t, stamp.Before(*reached.Load()), "stamp %s before Linq got the send at %s", stamp, *reached.Load())
		require.True(t, stamp.Equal(admitted))

		_, err := gw.svc.Send(ctx, req)
		require.NoError(t, err)
		var slots int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT cardinality(sends) FROM pair_state WHERE line_id = $1`, line).Scan(&slots))
		require.Equal(t, 1, slots, "the retry took no second slot")
	})

	// A retry of a send whose outcome is unknown passes the recipient's
	// gates again, as a first attempt does: nothing goes to a user deleted,
	// given another handle or opted out since, whether the first attempt
	// failed or its replica died. The message is failed with its key kept,
	// and a later retry gets the same answer.
	t.Run("RetryOfUnknownOutcomeSendsNothingToAUserGoneOrOptedOut", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, change string
			replicaDied  bool
			kind         apperr.Kind
			code         string
		}{
			{"Deleted", `DELETE FROM users WHERE user_ref = $1`, false, apperr.NotFound, "user_not_found"},
			{"DeletedWhileItsReplicaWasDown", `DELETE FROM users WHERE user_ref = $1`, true, apperr.NotFound, "user_not_found"},
			{"GivenAnotherHandle", `UPDATE users SET handle = '+14155550999' WHERE user_ref = $1`, true, apperr.NotFound, "user_not_found"},
			{"OptedOut", `UPDATE users SET opted_out_at = now(), opt_out_source = 'keyword' WHERE user_ref = $1`, false, apperr.Conflict, "opted_out"},
			{"OptedOutWhileItsReplicaWasDown", `UPDATE users SET opted_out_at = now(), opt_out_source = 'keyword' WHERE user_ref = $1`, true, apperr.Conflict, "opted_out"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e, swallow, reached := swallowEnv(t)
				gw := e.newGateway(t, gwOptions{})
				line, _ := e.addLine(t)
				ref, _ := e.addUser(t, line)
				ctx := context.Background()
				req := messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hello"), IdempotencyKey: "k"}

				swallow.Store(3) // the attempt and the client's two retries
				_, err := gw.svc.Send(ctx, req)
				requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
				if tc.replicaDied {
					_, err = e.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second',
						body = coalesce(body, '[{"type":"text","value":"hello"}]')`)
					require.NoError(t, err)
				}
				_, err = e.pool.Exec(ctx, tc.change, ref)
				require.NoError(t, err)

				for range 2 {
					_, err = gw.svc.Send(ctx, req)
					requireCode(t, err, tc.kind, tc.code)
				}
				require.Zero(t, reached.Load(), "a send reached Linq")
				var state string
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT m.state FROM messages AS m
					JOIN message_keys AS k ON k.message_id = m.id WHERE k.idempotency_key = 'k'`).Scan(&state))
				require.Equal(t, "failed", state, "failed, its key kept")
			})
		}
	})

	// The caller going away after admission does not cancel the Linq call.
	t.Run("CallerLeavingDoesNotCancelTheSend", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cancel() // the caller disconnects while Linq has the request
				next.ServeHTTP(w, r)
			})
		}})
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		sent, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)
		var state string
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT state FROM messages WHERE id = $1`, sent.ID).Scan(&state))
		require.Equal(t, "sent", state)
	})

	// A send whose answer was never recorded is resolved by the recovery
	// job under its own Linq key: resent when Linq never got it, replayed
	// when it did.
	t.Run("RecoveryResolvesExpiredPendingSends", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw, ref := e.quickGateway(t)
		ctx := context.Background()

		e.sim.SetFaults(linqsim.Faults{Latency: time.Minute})
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("lost"), IdempotencyKey: "lost"})
		requireCode(t, err, apperr.BadGateway, "upstream_timeout")
		e.sim.SetFaults(linqsim.Faults{})
		delivered, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("kept"), IdempotencyKey: "kept"})
		require.NoError(t, err)
		// As if both replicas died before recording Linq's answer.
		_, err = e.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second',
			body = coalesce(body, '[{"type":"text","value":"kept"}]')`)
		require.NoError(t, err)

		n, err := gw.svc.Recover(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		rows, err := e.pool.Query(ctx, `SELECT id::text, state FROM messages ORDER BY idempotency_key`)
		require.NoError(t, err)
		states := map[string]string{}
		for rows.Next() {
			var id, st string
			require.NoError(t, rows.Scan(&id, &st))
			states[id] = st
		}
		require.NoError(t, rows.Err())
		require.Len(t, states, 2)
		for id, st := range states {
			require.Equal(t, "sent", st, id)
		}
		byKey := sendsByKey(e.sim)
		require.Len(t, e.sim.SendLog(), 2, "one send per message")
		require.Equal(t, 1, byKey[delivered.ID])
	})

	// A resend that Linq does not answer either leaves the send pending,
	// not failed: its caller may have been told it was sent, and a later
	// run records it.
	t.Run("RecoveryKeepsAnUnansweredResendPending", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw, ref := e.quickGateway(t)
		ctx := context.Background()
		sent, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("acknowledged"), IdempotencyKey: "k"})
		require.NoError(t, err)
		gw.svc.Settle()
		// As if Postgres lost the record after the caller had its answer.
		expire := func() {
			t.Helper()
			_, err := e.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second',
				linq_message_id = NULL, body = coalesce(body, '[{"type":"text","value":"acknowledged"}]')`)
			require.NoError(t, err)
		}
		state := func() (st, linqID string) {
			t.Helper()
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT state, coalesce(linq_message_id, '') FROM messages`).Scan(&st, &linqID))
			return st, linqID
		}
		expire()

		for name, f := range map[string]linqsim.Faults{"answered 5xx": {ErrorRate: 1}, "not answered": {TimeoutRate: 1}} {
			e.sim.SetFaults(f)
			n, err := gw.svc.Recover(ctx)
			require.NoError(t, err)
			require.Zero(t, n, name)
			st, _ := state()
			require.Equal(t, "pending", st, name)
			expire()
		}

		e.sim.SetFaults(linqsim.Faults{})
		n, err := gw.svc.Recover(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		st, linqID := state()
		require.Equal(t, "sent", st)
		require.Equal(t, sent.LinqMessageID, linqID, "Linq answered the resend with the message it holds")
		require.Len(t, e.sim.SendLog(), 1, "sent once")
	})

	// A lost send is not resent to a handle that is no longer its user's,
	// or to a user who opted out: the user was deleted, got another handle,
	// or opted out meanwhile.
	t.Run("RecoveryResendsNothingToAHandleNoLongerTheUsersOrOptedOut", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// The default send timeout: with a short one, an admission whose
		// commit outlived it on a loaded machine answers in_progress.
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		deleted, _ := e.addUser(t, line)
		renamed, _ := e.addUser(t, line)
		optedOut, _ := e.addUser(t, line)
		ctx := context.Background()
		for _, ref := range []string{deleted, renamed, optedOut} {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: ref})
			require.NoError(t, err)
		}
		gw.svc.Settle()
		sends := len(e.sim.SendLog())
		// As if the replica died before recording Linq's answers.
		for _, q := range []string{
			`UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second', linq_message_id = NULL,
				body = coalesce(body, '[{"type":"text","value":"hi"}]')`,
			`DELETE FROM users WHERE user_ref = '` + deleted + `'`,
			`UPDATE users SET handle = '+14155550999' WHERE user_ref = '` + renamed + `'`,
			`UPDATE users SET opted_out_at = now(), opt_out_source = 'keyword' WHERE user_ref = '` + optedOut + `'`,
		} {
			_, err := e.pool.Exec(ctx, q)
			require.NoError(t, err)
		}

		n, err := gw.svc.Recover(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		var failed int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE state = 'failed'`).Scan(&failed))
		require.Equal(t, 3, failed, "each marked failed, its key kept")
		require.Len(t, e.sim.SendLog(), sends, "nothing resent")
	})

	// The recovery job's resend may be a new message at Linq, which counts
	// it in the pair's window: the claim moves its pair stamp to now, or
	// brings it back when a later admission pruned it (or the cleanup
	// dropped the pair's row) once it aged out, as a caller's takeover
	// does. Never 31 sends at Linq within 60 s.
	t.Run("RecoveryResendCountsInThePairWindow", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name    string
			cleanup bool
		}{{"StampPruned", false}, {"PairRowDropped", true}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e, ft := clockEnv(t)
				gw := e.newGateway(t, gwOptions{})
				line, _ := e.addLine(t)
				ref, _ := e.addUser(t, line)
				ctx := context.Background()

				// Admitted, then the replica died: nothing went to Linq.
				out, err := gw.svc.AdmitBatch(ctx, []messaging.SendRequest{{APIKeyID: 1, UserRef: ref, Parts: text("lost"), IdempotencyKey: "lost"}})
				require.NoError(t, err)
				require.Equal(t, []string{"ok"}, out)

				ft.db.Advance(61 * time.Second) // the lease is over, the stamp out of the window
				if tc.cleanup {
					_, err = gw.lim.Cleanup(ctx)
					require.NoError(t, err)
					var pairs int
					require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM pair_state`).Scan(&pairs))
					require.Zero(t, pairs)
				} else {
					_, err = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("m0")})
					require.NoError(t, err) // prunes the lost send's stamp
					gw.svc.Settle()
				}

				n, err := gw.svc.Recover(ctx)
				require.NoError(t, err)
				require.Equal(t, 1, n, "the lost send went out now")

				refused := 0
				for i := range 30 {
					_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text(fmt.Sprint("m", i+1))})
					if err != nil {
						requireCode(t, err, apperr.RateLimited, ratelimit.OutcomePairLimit)
						refused++
					}
				}
				gw.svc.Settle()
				for pair, ts := range simPairTimes(e.sim) {
					for i := range ts {
						j := i
						for j < len(ts) && !ts[j].After(ts[i].Add(60*time.Second)) {
							j++
						}
						require.LessOrEqual(t, j-i, 30, "pair %s: %d sends reached Linq within 60 s (%d refused locally)", pair, j-i, refused)
					}
				}
				require.Zero(t, e.sim.Count429(), "Linq had to refuse what Linegate admitted")
				require.Positive(t, refused)
			})
		}
	})

	// The recovery job's resend is the message the caller asked for: its
	// effect, reply and service too, not only its parts.
	t.Run("RecoveryResendsTheWholeMessage", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var bodies []map[string]any
		var stored []byte // the lost send's row as its admission left it
		var pool atomic.Pointer[pgxpool.Pool]
		e := newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") {
					b, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(b))
					var m map[string]any
					if json.Unmarshal(b, &m) == nil {
						mu.Lock()
						bodies = append(bodies, m)
						if stored == nil {
							_ = pool.Load().QueryRow(r.Context(), `SELECT body FROM messages WHERE idempotency_key = 'lost'`).Scan(&stored)
						}
						mu.Unlock()
					}
				}
				next.ServeHTTP(w, r)
			})
		}})
		pool.Store(e.pool)
		gw, ref := e.quickGateway(t)
		ctx := context.Background()
		first, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("opens the chat")})
		require.NoError(t, err)

		e.sim.SetFaults(linqsim.Faults{Latency: time.Minute})
		_, err = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("lost"), IdempotencyKey: "lost",
			PreferredService: "SMS", Effect: &linq.Effect{Type: "screen", Name: "confetti"},
			ReplyTo: &linq.ReplyTo{MessageID: first.LinqMessageID}})
		requireCode(t, err, apperr.BadGateway, "upstream_timeout")
		e.sim.SetFaults(linqsim.Faults{})
		// As if the replica died while Linq had the send, before recording
		// anything: the row as the admission left it, its lease run out.
		mu.Lock()
		require.NotNil(t, stored)
		_, err = e.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second', body = $1
			WHERE idempotency_key = 'lost'`, stored)
		mu.Unlock()
		require.NoError(t, err)

		n, err := gw.svc.Recover(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, bodies, 2, "the lost send and its resend")
		require.Equal(t, bodies[0]["message"], bodies[1]["message"], "the same message, under the same Linq key")
		require.Contains(t, bodies[1]["message"], "effect")
		require.Contains(t, bodies[1]["message"], "reply_to")
	})

	// Recovery claims what it resends (a fresh lease, as a retry's takeover
	// takes): two runs at once, as two replicas' jobs could be, resend each
	// expired send once.
	t.Run("RecoveryClaimsTheSendsItResends", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw := e.newGateway(t, gwOptions{})
		other := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ctx := context.Background()
		for i := range 6 {
			ref, _ := e.addUser(t, line)
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: fmt.Sprint("k", i)})
			require.NoError(t, err)
		}
		gw.svc.Settle() // Linq's answers are on record before they are made to look lost
		_, err := e.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = now() - interval '1 second',
			body = '[{"type":"text","value":"hi"}]'`)
		require.NoError(t, err)

		var wg sync.WaitGroup
		var n1, n2 int
		var err1, err2 error
		wg.Go(func() { n1, err1 = gw.svc.Recover(ctx) })
		wg.Go(func() { n2, err2 = other.svc.Recover(ctx) })
		wg.Wait()
		require.NoError(t, err1)
		require.NoError(t, err2)
		require.Equal(t, 6, n1+n2, "each expired send resent by one run")

		for key, n := range sendsByKey(e.sim) {
			require.Equal(t, 1, n, "Linq key %s", key)
		}
	})
}

// A part without a type is refused, naming the field, as the spec requires.
func TestPartTypeIsRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gw := e.newGateway(t, gwOptions{})
	line, _ := e.addLine(t)
	ref, _ := e.addUser(t, line)
	_, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref,
		Parts: []linq.Part{linq.TextPart("a"), {URL: "https://a.example/x.png"}}})
	ae := requireAppErr(t, err, apperr.Unprocessable, "invalid_field")
	require.Equal(t, "parts[1].type", ae.Field)
	require.Empty(t, e.sim.SendLog())
}

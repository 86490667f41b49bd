package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).triggerHealthCheck.func1"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// recorder is the Publisher of the tests: it writes each event into a table
// in the caller's transaction, so a rolled-back transaction publishes
// nothing, as with the real service.
type recorder struct{}

func (recorder) Publish(ctx context.Context, tx pgx.Tx, evs ...events.Event) error {
	for _, ev := range evs {
		data, err := json.Marshal(ev.Data)
		if err != nil {
			return err
		}
		id := ev.ID
		if ev.Row != nil { // the real service derives the id from the row
			id = fmt.Sprintf("%s/%d", ev.Row.Table, ev.Row.ID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO test_events (id, type, data) VALUES ($1, $2, $3)`, id, ev.Type, data); err != nil {
			return err
		}
	}
	return nil
}

// instance is one gateway's health stack on a shared database.
type instance struct {
	pool    *pgxpool.Pool
	lines   *lines.Service
	router  *router.Service
	health  *health.Service
	metrics *metrics.Metrics
}

type bundle struct {
	url   string
	clock *testkit.Clock
	sim   *linqsim.Sim
	linq  *linq.Client
	cfg   health.Config
	inst  *instance
}

// setup builds a database, a simulator and one instance. Caps equal the
// budget overrides the tests give lines (headroom 0.5, 0.5 messages per
// user per day, no warm-up).
func setup(t *testing.T, cfg health.Config) *bundle {
	t.Helper()
	b := &bundle{url: pgtest.NewURL(t), clock: testkit.NewClock(t0), cfg: cfg}
	b.sim = linqsim.New(linqsim.Config{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(b.sim.Handler())
	t.Cleanup(func() { srv.Close(); b.sim.Close() })
	var err error
	b.linq, err = linq.New(linq.Config{BaseURL: srv.URL, APIKey: "test", Logger: slog.New(slog.DiscardHandler), MaxRetries: -1})
	require.NoError(t, err)
	b.inst = b.newInstance(t)
	_, err = b.inst.pool.Exec(context.Background(), `CREATE TABLE test_events (id text NOT NULL, type text NOT NULL, data jsonb NOT NULL)`)
	require.NoError(t, err)
	return b
}

// newInstance is another gateway on the same database.
func (b *bundle) newInstance(t *testing.T) *instance {
	t.Helper()
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: b.url, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m := metrics.New()
	lcfg := lines.DefaultConfig()
	lcfg.Policy.Warmup, lcfg.Headroom, lcfg.MsgsPerUserPerDay, lcfg.SignupRampPerHour, lcfg.Now = 0, 0.5, 0.5, 100_000, b.clock.Now
	ls := lines.New(pool, b.linq, slog.New(slog.DiscardHandler), lcfg)
	rcfg := router.DefaultConfig()
	rcfg.Now = b.clock.Now
	r := router.New(pool, ls, slog.New(slog.DiscardHandler), m, rcfg)
	cfg := b.cfg
	cfg.Now = b.clock.Now
	h := health.New(pool, ls, r, b.linq, recorder{}, testkit.Logger(t), m, cfg)
	return &instance{pool: pool, lines: ls, router: r, health: h, metrics: m}
}

// addLine adds a line to the simulator and the pool with a budget (= cap).
func (b *bundle) addLine(t *testing.T, budget int) (int64, string) {
	t.Helper()
	id := b.sim.AddLine("")
	number := ""
	for _, l := range b.sim.Lines() {
		if l.ID == id {
			number = l.PhoneNumber
		}
	}
	var lineID int64
	require.NoError(t, b.inst.pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, linq_id, budget_override, warmup_started_at) VALUES ($1, $2, $3, '2020-01-01T00:00:00Z') RETURNING id`,
		number, id, budget).Scan(&lineID))
	return lineID, number
}

// seedUsers puts n users on set[0] (home and current) with set as their
// line set.
func (b *bundle) seedUsers(t *testing.T, prefix string, n int, set ...int64) {
	t.Helper()
	b.exec(t, `INSERT INTO users (user_ref, code, home_line_id, current_line_id)
		SELECT $1 || '-' || g, $1 || '-code-' || g, $2, $2 FROM generate_series(1, $3::int) g`, prefix, set[0], n)
	b.exec(t, `INSERT INTO user_lines (user_id, position, line_id)
		SELECT u.id, s.pos - 1, s.line_id FROM users u CROSS JOIN unnest($2::bigint[]) WITH ORDINALITY AS s (line_id, pos)
		WHERE u.user_ref LIKE $1 || '-%'`, prefix, set)
	b.exec(t, `UPDATE lines SET user_count = (SELECT count(*) FROM users u WHERE u.current_line_id = lines.id)`)
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.inst.pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.inst.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// apply applies one input through inst in its own transaction.
func (b *bundle) apply(t *testing.T, inst *instance, in health.Input) health.Outcome {
	t.Helper()
	out, err := store.WithTxV(context.Background(), inst.pool, func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
		return inst.health.ApplyOutcome(ctx, tx, in)
	})
	require.NoError(t, err)
	return out
}

// state reads a line's health state.
func (b *bundle) state(t *testing.T, lineID int64) string {
	t.Helper()
	var s string
	require.NoError(t, b.inst.pool.QueryRow(context.Background(), `SELECT health_state FROM lines WHERE id = $1`, lineID).Scan(&s))
	return s
}

// invariants holds after every move: user counts match, no line is over
// its cap, every ledger row matches a user's line, nobody sits on a line
// outside their own set.
func (b *bundle) invariants(t *testing.T) {
	t.Helper()
	require.Zero(t, b.count(t, `SELECT count(*) FROM lines l WHERE user_count <> (SELECT count(*) FROM users u WHERE u.current_line_id = l.id)`), "user counts drifted")
	require.Zero(t, b.count(t, `SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_lines ul WHERE ul.user_id = u.id AND ul.line_id = u.current_line_id)`), "a user sits on a line outside their set")
	require.Zero(t, b.count(t, `SELECT count(*) FROM users u WHERE u.current_line_id <> coalesce(
		(SELECT g.to_line_id FROM line_ledger g WHERE g.user_id = u.id ORDER BY g.created_at DESC, g.id DESC LIMIT 1), u.home_line_id)`), "ledger and current line disagree")
}

// overCap lists lines above their cap (that were not already: a failing
// line keeps its stranded users).
func (b *bundle) overCap(t *testing.T) []int64 {
	t.Helper()
	ls, _, err := b.inst.lines.List(context.Background())
	require.NoError(t, err)
	var over []int64
	for _, l := range ls {
		if l.UserCount > l.Cap && !health.FailsOver(l.HealthState) {
			over = append(over, l.ID)
		}
	}
	return over
}

// lockWaiters counts the backends of the test's database that wait for a
// lock of type kind (advisory: the pool lock; transactionid: a row another
// transaction holds), or of any type when kind is empty. Other tests'
// databases share the server's pg_locks.
func (b *bundle) lockWaiters(t *testing.T, kind string) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.datname = current_database() AND NOT l.granted AND ($1 = '' OR l.locktype = $1)`, kind)
}

// waitForLockWaiter waits until a backend of the test's database waits for
// a lock of type kind (advisory: the pool lock; transactionid: a row
// another transaction holds).
func (b *bundle) waitForLockWaiter(t *testing.T, kind string) {
	t.Helper()
	require.Eventually(t, func() bool { return b.lockWaiters(t, kind) > 0 },
		10*time.Second, 10*time.Millisecond, "nobody waits on a %s lock", kind)
}

// afterWaiting runs fn in the background until it waits for the pool lock,
// which holder holds, then commits holder and returns fn's answer: fn
// started before holder's change and must see it once it has the lock.
func afterWaiting(t *testing.T, b *bundle, holder pgx.Tx, fn func() (int, error)) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := fn()
		done <- result{n, err}
	}()
	b.waitForLockWaiter(t, "advisory")
	require.NoError(t, holder.Commit(context.Background()))
	r := <-done
	return r.n, r.err
}

package retention_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/retention"
	"github.com/linegate/linegate/internal/testkit"
)

// testBatch is far below each case's old rows, so every prune needs several
// batches (failovers go one per batch).
const testBatch = 3

// fixtures are the rows the pruned tables refer to.
const fixtures = `
INSERT INTO lines (number) VALUES ('+15550000001');
INSERT INTO users (user_ref, code, home_line_id, current_line_id)
SELECT 'u' || g, 'code' || g, l.id, l.id FROM lines l, generate_series(1, 3) g;
INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ('ops', 'lg_ops', '\x01', '{ops:read}');
INSERT INTO event_subscriptions (url, event_types, secret, created_at, updated_at)
VALUES ('http://127.0.0.1:1/hook', '{message.received}', 's', now(), now());
`

func setup(t *testing.T) (*pgxpool.Pool, *retention.Service, *metrics.Metrics) {
	t.Helper()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(context.Background(), fixtures)
	require.NoError(t, err)
	cfg := retention.DefaultConfig()
	cfg.Batch = testBatch
	m := metrics.New()
	return pool, retention.New(pool, testkit.Logger(t), m, cfg), m
}

func count(t *testing.T, pool *pgxpool.Pool, query string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), query).Scan(&n))
	return n
}

func TestRun(t *testing.T) {
	t.Parallel()

	// Each case seeds 7 rows past the default retention and some that must
	// stay; kept counts what is left and must equal the rows meant to stay.
	cases := []struct {
		name, table, seed, kept string
		left                    int64
	}{
		{
			name: "WebhookEventsProcessedBeforeRetentionGo", table: "webhook_events",
			seed: `INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload, processed_at)
			       SELECT 'old' || g, 'message.received', now() - interval '8 days', now() - interval '8 days', '{}', now() - interval '8 days'
			       FROM generate_series(1, 7) g;
			       INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload, processed_at) VALUES
			       ('recent', 'message.received', now() - interval '1 hour', now() - interval '1 hour', '{}', now()),
			       ('unprocessed', 'message.received', now() - interval '30 days', now() - interval '30 days', '{}', NULL);`,
			kept: `SELECT count(*) FROM webhook_events WHERE event_id IN ('recent', 'unprocessed')`, left: 2,
		},
		{
			name: "DeliveredEventsBeforeRetentionGo", table: "event_deliveries",
			seed: `INSERT INTO event_deliveries (subscription_id, event_id, event_type, state, created_at, updated_at, delivered_at)
			       SELECT s.id, 'old' || g, 't', 'delivered', now() - interval '8 days', now() - interval '8 days', now() - interval '8 days'
			       FROM event_subscriptions s, generate_series(1, 7) g;
			       INSERT INTO event_deliveries (subscription_id, event_id, event_type, state, created_at, updated_at, delivered_at)
			       SELECT s.id, v.id, 't', v.state, now() - interval '8 days', v.at, v.delivered
			       FROM event_subscriptions s, (VALUES ('recent', 'delivered', now(), now()),
			                                           ('retrying', 'retrying', now() - interval '8 days', NULL::timestamptz)) v (id, state, at, delivered);`,
			kept: `SELECT count(*) FROM event_deliveries WHERE event_id IN ('recent', 'retrying')`, left: 2,
		},
		{
			name: "DeadEventsNobodyReplayedGo", table: "event_deliveries_dead",
			seed: `INSERT INTO event_deliveries (subscription_id, event_id, event_type, state, created_at, updated_at)
			       SELECT s.id, 'old' || g, 't', 'dead', now() - interval '31 days', now() - interval '31 days'
			       FROM event_subscriptions s, generate_series(1, 7) g;
			       INSERT INTO event_deliveries (subscription_id, event_id, event_type, state, created_at, updated_at)
			       SELECT s.id, 'recent', 't', 'dead', now() - interval '31 days', now() - interval '1 day' FROM event_subscriptions s;`,
			kept: `SELECT count(*) FROM event_deliveries WHERE event_id = 'recent'`, left: 1,
		},
		{
			name: "LinqMessageLinksBeforeRetentionGo", table: "linq_messages",
			seed: `INSERT INTO linq_messages (linq_message_id, message_id, created_at)
			       SELECT 'old' || g, gen_random_uuid(), now() - interval '31 days' FROM generate_series(1, 7) g;
			       INSERT INTO linq_messages (linq_message_id, failed_at, error_code, created_at)
			       VALUES ('recent', now(), 3007, now() - interval '1 day');`,
			kept: `SELECT count(*) FROM linq_messages WHERE linq_message_id = 'recent'`, left: 1,
		},
		{
			name: "SignupLinksExpiredBeforeRetentionGo", table: "signup_links",
			seed: `INSERT INTO signup_links (token, user_id, body, expires_at, created_at)
			       SELECT 'old-token-0000000000000000' || g, u.id, 'b', now() - interval '8 days', now() - interval '40 days'
			       FROM (SELECT min(id) AS id FROM users) u, generate_series(1, 7) g;
			       INSERT INTO signup_links (token, user_id, body, expires_at, created_at)
			       SELECT v.token, u.id, 'b', v.expires, now() - interval '30 days'
			       FROM (SELECT min(id) AS id FROM users) u,
			            (VALUES ('live-token-00000000000000000', now() + interval '1 day'),
			                    ('just-expired-0000000000000000', now() - interval '1 day')) v (token, expires);`,
			kept: `SELECT count(*) FROM signup_links WHERE token NOT LIKE 'old-%'`, left: 2,
		},
		{
			name: "OpsSessionsExpiredBeforeRetentionGo", table: "ops_sessions",
			seed: `INSERT INTO ops_sessions (token_hash, csrf_token, api_key_id, created_at, expires_at, revoked_at)
			       SELECT decode(md5('old' || g), 'hex'), 'c', k.id, now() - interval '3 days', now() - interval '2 days',
			              CASE WHEN g = 1 THEN now() - interval '3 days' END
			       FROM api_keys k, generate_series(1, 7) g;
			       INSERT INTO ops_sessions (token_hash, csrf_token, api_key_id, created_at, expires_at)
			       SELECT decode(md5('live'), 'hex'), 'c', k.id, now(), now() + interval '12 hours' FROM api_keys k;`,
			kept: `SELECT count(*) FROM ops_sessions WHERE expires_at > now()`, left: 1,
		},
		{
			name: "QuarantinesEndedBeforeRetentionGo", table: "pair_quarantines",
			seed: `INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until, released_at, released_by)
			       SELECT 1, '+1555000' || g, 3, now() - interval '32 days', now() - interval '31 days',
			              CASE WHEN g = 1 THEN now() - interval '32 days' END, CASE WHEN g = 1 THEN 'ops' END
			       FROM generate_series(1, 7) g;
			       INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until) VALUES
			       (1, 'ended-recently', 3, now() - interval '2 days', now() - interval '1 day'),
			       (1, 'open', 3, now(), now() + interval '1 hour');`,
			kept: `SELECT count(*) FROM pair_quarantines WHERE handle IN ('ended-recently', 'open')`, left: 2,
		},
		{
			name: "HealthTransitionsBeforeRetentionGo", table: "line_health_history",
			seed: `INSERT INTO line_health_history (line_id, from_state, to_state, source, cause, observed_at, created_at)
			       SELECT l.id, 'ok', 'down', 'poll', 'old', now() - interval '91 days', now() - interval '91 days'
			       FROM lines l, generate_series(1, 7) g;
			       INSERT INTO line_health_history (line_id, from_state, to_state, source, cause, observed_at, created_at)
			       SELECT l.id, 'down', 'ok', 'poll', 'recent', now() - interval '1 day', now() - interval '1 day' FROM lines l;`,
			kept: `SELECT count(*) FROM line_health_history WHERE cause = 'recent'`, left: 1,
		},
		{
			name: "FailoversBeforeRetentionGoWithTheirMoves", table: "failovers",
			seed: `INSERT INTO failovers (line_id, reason, cause, started_at, finished_at)
			       SELECT l.id, 'failover', 'old', now() - interval '91 days', now() - interval '91 days'
			       FROM lines l, generate_series(1, 7) g;
			       INSERT INTO failovers (line_id, reason, cause, started_at) SELECT l.id, 'ops', 'recent', now() FROM lines l;
			       INSERT INTO failover_moves (failover_id, user_id, from_line_id)
			       SELECT f.id, u.id, f.line_id FROM failovers f, users u;`,
			// The recent failover stays, and no moves of the others.
			kept: `SELECT count(*) FROM failovers f WHERE f.cause = 'recent'
			       AND NOT EXISTS (SELECT 1 FROM failover_moves m WHERE m.failover_id <> f.id)`, left: 1,
		},
		{
			// The days the user lookup shows (today and the six before) and
			// the one after them stay; earlier days go.
			name: "UserVolumeDaysPastTheLookupGo", table: "user_volume",
			seed: `INSERT INTO user_volume (user_id, day, outbound)
			       SELECT u.id, current_date - g, 1 FROM users u, generate_series(0, 14) g WHERE u.user_ref = 'u1';`,
			kept: `SELECT count(*) FROM user_volume WHERE day >= current_date - 7`, left: 8,
		},
		{
			// u1 moved five times long ago and once lately; u2 signed up long
			// ago and never moved; u3 moved once long ago. The superseded rows
			// go (six of u1, one of u3); each user's newest stays.
			name: "SupersededLedgerRowsBeforeRetentionGo", table: "line_ledger",
			seed: `INSERT INTO line_ledger (user_id, reason, to_line_id, line_set, created_at)
			       SELECT u.id, v.reason, u.home_line_id, ARRAY[u.home_line_id], now() - v.ago
			       FROM users u JOIN (VALUES
			           ('u1', 'signup', interval '100 days'), ('u1', 'failover', interval '99 days'),
			           ('u1', 'recovery', interval '98 days'), ('u1', 'failover', interval '97 days'),
			           ('u1', 'recovery', interval '96 days'), ('u1', 'failover', interval '95 days'),
			           ('u1', 'recovery', interval '1 day'),
			           ('u2', 'signup', interval '100 days'),
			           ('u3', 'signup', interval '100 days'), ('u3', 'failover', interval '99 days')
			       ) v (ref, reason, ago) ON v.ref = u.user_ref;`,
			kept: `SELECT count(*) FROM line_ledger l JOIN users u ON u.id = l.user_id
			       WHERE (u.user_ref = 'u1' AND l.created_at > now() - interval '2 days')
			          OR (u.user_ref = 'u2' AND l.reason = 'signup') OR (u.user_ref = 'u3' AND l.reason = 'failover')`, left: 3,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool, svc, m := setup(t)
			ctx := context.Background()
			_, err := pool.Exec(ctx, c.seed)
			require.NoError(t, err)
			table := c.table
			if table == "event_deliveries_dead" {
				table = "event_deliveries"
			}

			got, err := svc.Run(ctx)
			require.NoError(t, err)
			const wantGone int64 = 7
			require.Equal(t, wantGone, got[c.table], "rows deleted over several batches")
			require.Greater(t, got[c.table], int64(testBatch))
			require.InDelta(t, float64(wantGone), testutil.ToFloat64(m.RetentionPruned.WithLabelValues(c.table)), 0)
			require.Equal(t, c.left, count(t, pool, "SELECT count(*) FROM "+table), "only the rows to keep are left")
			require.Equal(t, c.left, count(t, pool, c.kept), "the rows left are the ones to keep")

			again, err := svc.Run(ctx)
			require.NoError(t, err)
			require.Zero(t, again[c.table], "a second run finds nothing")
		})
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/lines"
)

// scalePlan sizes the scale run's data.
type scalePlan struct {
	Lines int
	Users int
	// FailoverUsers are users 1..FailoverUsers, all on the first line: the
	// line the failover phase flags. The others spread over the other lines.
	FailoverUsers int
	// WorkingSet is how many users the send phase picks from: their chats
	// exist in the simulator too, so sends do not open chats.
	WorkingSet int
	// MessagesPerUser is the day of messages seeded per user.
	MessagesPerUser int
}

func newScalePlan(lines, users int) scalePlan {
	return scalePlan{
		Lines: lines, Users: users,
		FailoverUsers:   min(failoverUsers, users/10),
		WorkingSet:      min(4000, users),
		MessagesPerUser: 3,
	}
}

// home is the line index (0-based) of user g (1-based).
func (p scalePlan) home(g int) int {
	if g <= p.FailoverUsers {
		return 0
	}
	return 1 + (g-p.FailoverUsers-1)%(p.Lines-1)
}

// backups are user g's two backup line indexes: distinct from each other
// and from the home line, spread over the whole pool (so the failover's
// moves do not pile on a few lines).
func (p scalePlan) backups(g int) (int, int) {
	h := p.home(g)
	return (h + 1 + g%(p.Lines-1)) % p.Lines, (h + 1 + (g+1)%(p.Lines-1)) % p.Lines
}

// working is the i-th user (1-based) of the send phase's working set,
// spread evenly over the users.
func (p scalePlan) working(i int) int {
	return 1 + i*(p.Users/p.WorkingSet)
}

func userRef(g int) string    { return fmt.Sprintf("bench-%d", g) }
func userHandle(g int) string { return fmt.Sprintf("+1415%07d", g) }

// seedScale writes the scale run's rows, one function per table, and
// prints each table's time. chats maps a working-set user to their
// simulator chat id.
func seedScale(ctx context.Context, pool *pgxpool.Pool, out io.Writer, p scalePlan, numbers []string, chats map[int]string, keyID int64) error {
	ids, err := seedScaleLines(ctx, pool, numbers)
	if err != nil {
		return err
	}
	// Two streams, one a core, about as long as each other: the per-user
	// tables (messages last: they read users), and the line volume.
	var mu sync.Mutex
	streams := [][]seedStep{{
		{"users", func(ctx context.Context, c *pgx.Conn) (int64, error) { return seedScaleUsers(ctx, c, p, ids) }},
		{"user_lines", func(ctx context.Context, c *pgx.Conn) (int64, error) { return seedScaleUserLines(ctx, c, p, ids) }},
		{"chats", func(ctx context.Context, c *pgx.Conn) (int64, error) { return seedScaleChats(ctx, c, p, ids, chats) }},
		{"contact_card_shares", seedScaleCardShares},
		{"messages", func(ctx context.Context, c *pgx.Conn) (int64, error) { return seedScaleMessages(ctx, c, p, keyID) }},
	}, {
		{"line_volume", seedScaleLineVolume},
	}}
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, steps := range streams {
		wg.Go(func() {
			errs[i] = seedStream(ctx, pool, steps, func(table string, n int64, d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(out, "  seeded %-20s %11d rows in %5.1f s\n", table, n, d.Seconds())
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	start := time.Now()
	if err := seedScaleCounters(ctx, pool); err != nil {
		return err
	}
	fmt.Fprintf(out, "  counters in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// seedStep loads one table and returns its row count.
type seedStep struct {
	table string
	load  func(ctx context.Context, c *pgx.Conn) (int64, error)
}

// seedStream runs steps in order on one connection in bulk mode: triggers
// and foreign-key checks off (session_replication_role = replica: the rows
// are consistent by construction; the counters those triggers keep are set
// at the end) and each table's indexes built after its load.
func seedStream(ctx context.Context, pool *pgxpool.Pool, steps []seedStep, done func(table string, n int64, d time.Duration)) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves bulk mode by being closed, not reset.
	defer func() { _ = conn.Hijack().Close(context.WithoutCancel(ctx)) }()
	c := conn.Conn()
	if _, err := c.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		return fmt.Errorf("seed: bulk mode needs a superuser: %w", err)
	}
	if _, err := c.Exec(ctx, `SET maintenance_work_mem = '256MB'`); err != nil {
		return err
	}
	for _, s := range steps {
		start := time.Now()
		n, err := withoutIndexes(ctx, c, s.table, func() (int64, error) { return s.load(ctx, c) })
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.table, err)
		}
		done(s.table, n, time.Since(start))
	}
	return nil
}

// seedScaleLines writes the lines, warm-up long over, each with a contact
// card, and returns their ids in the order of numbers.
func seedScaleLines(ctx context.Context, pool *pgxpool.Pool, numbers []string) ([]int64, error) {
	var ids []int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO lines (number, warmup_started_at)
			SELECT n, now() - interval '365 days' FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i
			RETURNING id`, numbers)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO line_contact_cards (line_id, first_name, synced_at) SELECT id, 'Bench', now() FROM lines`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("seed lines: %w", err)
	}
	return ids, nil
}

// copyRows copies n generated rows into table.
func copyRows(ctx context.Context, c *pgx.Conn, table string, cols []string, n int, row func(i int) []any) (int64, error) {
	i := 0
	return c.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		i++
		return row(i), nil
	}))
}

// signupSpan is how far back the seeded users signed up, evenly: a live
// fleet's, so the last hours hold a few thousand signups (line_signups).
const signupSpan = 30 * 24 * time.Hour

func seedScaleUsers(ctx context.Context, c *pgx.Conn, p scalePlan, ids []int64) (int64, error) {
	now := time.Now()
	return copyRows(ctx, c, "users", []string{"user_ref", "handle", "code", "home_line_id", "current_line_id", "created_at", "updated_at"},
		p.Users, func(g int) []any {
			line := ids[p.home(g)]
			at := now.Add(-time.Duration(int64(signupSpan) / int64(p.Users) * int64(g)))
			return []any{userRef(g), userHandle(g), fmt.Sprintf("BENCH%d", g), line, line, at, at}
		})
}

// seedScaleUserLines writes each user's line set: home at position 0, two
// backups. User ids are 1..Users: the table was empty and COPY keeps order.
func seedScaleUserLines(ctx context.Context, c *pgx.Conn, p scalePlan, ids []int64) (int64, error) {
	return copyRows(ctx, c, "user_lines", []string{"user_id", "position", "line_id"}, 3*p.Users, func(i int) []any {
		g, pos := (i-1)/3+1, (i-1)%3
		line := p.home(g)
		if b1, b2 := p.backups(g); pos == 1 {
			line = b1
		} else if pos == 2 {
			line = b2
		}
		return []any{int64(g), int16(pos), ids[line]}
	})
}

// seedScaleChats writes each user's chat on their home line; the working
// set's carry the simulator's chat ids, the others ids it does not know.
func seedScaleChats(ctx context.Context, c *pgx.Conn, p scalePlan, ids []int64, chats map[int]string) (int64, error) {
	at := time.Now().Add(-30 * 24 * time.Hour)
	return copyRows(ctx, c, "chats", []string{"user_id", "line_id", "linq_chat_id", "created_at"}, p.Users, func(g int) []any {
		id, ok := chats[g]
		if !ok {
			id = fmt.Sprintf("chat_seed_%d", g)
		}
		return []any{int64(g), ids[p.home(g)], id, at}
	})
}

// seedScaleCardShares records that every user has their line's contact card.
func seedScaleCardShares(ctx context.Context, c *pgx.Conn) (int64, error) {
	tag, err := c.Exec(ctx, `INSERT INTO contact_card_shares (user_id, line_id, shared_at)
		SELECT id, current_line_id, now() - interval '20 days' FROM users`)
	return tag.RowsAffected(), err
}

// seedScaleLineVolume writes the last day of per-minute volume of every line.
func seedScaleLineVolume(ctx context.Context, c *pgx.Conn) (int64, error) {
	tag, err := c.Exec(ctx, `INSERT INTO line_volume (line_id, minute, inbound, outbound)
		SELECT l.id, date_trunc('minute', now()) - m * interval '1 minute', ((l.id + m) % 10 = 0)::int, ((l.id + m) % 3 = 0)::int
		FROM lines AS l CROSS JOIN generate_series(1, 1440) AS m`)
	return tag.RowsAffected(), err
}

// seedScaleMessages writes a day of sent messages, MessagesPerUser each,
// their idempotency keys long expired and gone. Ids are UUIDv7 of the send
// time, as the gateway makes them: messages is partitioned by day on its id.
func seedScaleMessages(ctx context.Context, c *pgx.Conn, p scalePlan, keyID int64) (int64, error) {
	tag, err := c.Exec(ctx, `INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at,
			linq_chat_id, linq_message_id, delivery_status, created_at, updated_at, sent_at, delivered_at)
		SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7'
				|| substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid,
			$1::bigint, u.id, u.current_line_id, u.handle, 'proactive', 'sent', t.at,
			'chat_seed_' || u.id, 'msg_seed_' || u.id || '_' || j, 'delivered', t.at, t.at, t.at, t.at
		FROM users AS u CROSS JOIN generate_series(1, $2::int) AS j
		CROSS JOIN LATERAL (SELECT now() - random() * interval '24 hours' AS at) AS t`, keyID, p.MessagesPerUser)
	return tag.RowsAffected(), err
}

// seedScaleCounters sets what the disabled triggers and the signup path
// keep (each line's rolling-window total, user count, recent signups and
// backup slots) and has the capacity totals summed again.
func seedScaleCounters(ctx context.Context, c *pgxpool.Pool) error {
	for _, q := range []string{
		// The window as an admission leaves it (limits_admit): since at
		// its first minute, total the volume from there on.
		`UPDATE line_window AS w SET since = v.since, total = v.total
			FROM (SELECT line_id, s.since, sum(inbound + outbound) FILTER (WHERE minute >= s.since) AS total
				FROM line_volume, (SELECT date_trunc('minute', lg_now()) - interval '1440 minutes' AS since) AS s
				GROUP BY line_id, s.since) AS v
			WHERE w.line_id = v.line_id`,
		`UPDATE lines AS l SET user_count = u.n
			FROM (SELECT current_line_id, count(*) AS n FROM users GROUP BY current_line_id) AS u
			WHERE l.id = u.current_line_id`,
		// The signup buckets of the last two hours (what the line sync job
		// keeps): the hourly ramp and the pool's plans read them.
		`INSERT INTO line_signups (line_id, minute, n)
			SELECT home_line_id, date_trunc('minute', created_at), count(*) FROM users
			WHERE created_at >= now() - interval '2 hours'
			GROUP BY 1, 2`,
		// The backup slots each home line's users hold on other lines.
		`INSERT INTO line_backup_slots (home_line_id, line_id, slots)
			SELECT u.home_line_id, ul.line_id, count(*) FROM users AS u
			JOIN user_lines AS ul ON ul.user_id = u.id AND ul.position > 0
			GROUP BY 1, 2`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("seed counters: %w", err)
		}
	}
	// The line_usage job's first run sums the seeded week (the migration
	// leaves its fold end ahead of the clock for that).
	if _, err := lines.NewRollup(c, slog.New(slog.DiscardHandler), lines.DefaultRollupConfig()).Run(ctx); err != nil {
		return fmt.Errorf("seed capacity totals: %w", err)
	}
	return nil
}

// withoutIndexes runs load with table's indexes dropped and builds them
// again after, which is several times faster than maintaining them row by
// row. An index that a foreign key relies on stays.
func withoutIndexes(ctx context.Context, c *pgx.Conn, table string, load func() (int64, error)) (int64, error) {
	rows, err := c.Query(ctx, `
		SELECT coalesce(con.conname, ''), coalesce(pg_get_constraintdef(con.oid), ''), pg_get_indexdef(i.indexrelid),
		       i.indexrelid::regclass::text
		FROM pg_index AS i
		LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
		WHERE i.indrelid = $1::regclass
		  AND NOT EXISTS (SELECT FROM pg_constraint AS fk WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid)`, table)
	if err != nil {
		return 0, err
	}
	type index struct{ Constraint, ConstraintDef, IndexDef, Name string }
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return 0, err
	}
	for _, ix := range idx {
		drop := `DROP INDEX ` + ix.Name
		if ix.Constraint != "" {
			drop = fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, table, ix.Constraint)
		}
		if _, err := c.Exec(ctx, drop); err != nil {
			return 0, err
		}
	}
	n, err := load()
	if err != nil {
		return 0, err
	}
	for _, ix := range idx {
		// A partitioned table's index reads "ON ONLY t": built so, it would
		// cover no partition.
		build := strings.Replace(ix.IndexDef, " ON ONLY ", " ON ", 1)
		if ix.Constraint != "" {
			build = fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, table, ix.Constraint, ix.ConstraintDef)
		}
		if _, err := c.Exec(ctx, build); err != nil {
			return 0, fmt.Errorf("rebuild %s: %w", ix.Name, err)
		}
	}
	return n, nil
}

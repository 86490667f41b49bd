package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// ScaleConfig sizes `gateway bench -scale`; zero values take the defaults.
type ScaleConfig struct {
	Config
	ScaleLines int // default 10,000
	ScaleUsers int // default 1,000,000
	// BaselineP99 is the send p99 of the small run to compare with; zero
	// measures it first, in this process, with Config's lines and users.
	BaselineP99 time.Duration
}

// Targets of the scale run.
const (
	scaleP99Factor = 1.25
	opsP99Target   = 200 * time.Millisecond
	jobTarget      = 5 * time.Second
)

// RunScale is the scale run: a pool of ScaleLines lines and ScaleUsers users
// with their line sets, chats, contact cards, a day of per-minute volume and
// of messages, seeded in bulk; then the send phase, signups, the ops reads,
// one run of each background job, the failover of a line holding 10,000
// users and the webhook phase, each beside its target.
func RunScale(ctx context.Context, cfg ScaleConfig, out io.Writer) error {
	cfg.Config = cfg.withDefaults()
	cfg.ScaleLines = cmp.Or(cfg.ScaleLines, 10_000)
	cfg.ScaleUsers = cmp.Or(cfg.ScaleUsers, 1_000_000)
	if cfg.ScaleLines < 3 || cfg.ScaleUsers < 100 {
		return fmt.Errorf("bench: the scale run needs at least 3 lines and 100 users")
	}
	c := cfg.Concurrency
	baseline := cfg.BaselineP99
	if baseline == 0 {
		small, err := smallSendP99(ctx, cfg.Config)
		if err != nil {
			return err
		}
		baseline = small.p99
		fmt.Fprintf(out, "baseline: %d lines, %d users, %d clients: send p50 %s ms, p99 %s ms\n",
			cfg.Lines, cfg.Users, c, ms(small.p50), ms(small.p99))
	}

	p := newScalePlan(cfg.ScaleLines, cfg.ScaleUsers)
	numbers := lineNumbers(p.Lines)
	s, err := startStack(ctx, cfg.Config, numbers)
	if err != nil {
		return err
	}
	defer s.close(ctx)
	fmt.Fprintf(out, "linegate bench -scale: %d lines, %d users (%d on the failover line), %d messages a user a day, %d clients, %s per phase\n",
		p.Lines, p.Users, p.FailoverUsers, p.MessagesPerUser, c, cfg.Duration)

	start := time.Now()
	chats, err := openWorkingChats(ctx, s, p, c)
	if err != nil {
		return err
	}
	if err := seedScale(ctx, s.app.Pool(), out, p, numbers, chats, s.keyID); err != nil {
		return err
	}
	seeding := time.Since(start)
	fmt.Fprintf(out, "seeding: %.1f s (target ≤ 120 s: %s)\n", seeding.Seconds(), verdict(seeding <= 2*time.Minute))
	// What autovacuum and the checkpointer would otherwise do during the
	// phases: hint bits, visibility map and statistics of the freshly
	// loaded tables, and writing their gigabytes out (which otherwise lands
	// in the send phase's commits).
	start = time.Now()
	if _, err := s.app.Pool().Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("vacuum after seeding: %w", err)
	}
	// CHECKPOINT needs a superuser or pg_checkpoint; without either the
	// phases pay for the writes, and the output says so.
	if _, err := s.app.Pool().Exec(ctx, `CHECKPOINT`); err != nil {
		fmt.Fprintf(out, "CHECKPOINT after seeding skipped (%v): the send phase may pay for writing the seed out\n", err)
	}
	fmt.Fprintf(out, "VACUUM (ANALYZE) and CHECKPOINT after seeding: %.1f s\n", time.Since(start).Seconds())

	users := make([]user, p.WorkingSet)
	for i := range users {
		g := p.working(i)
		users[i] = user{ref: userRef(g), handle: userHandle(g), line: numbers[p.home(g)]}
	}
	// One send to each, as the baseline does, so both measure steady state.
	if err := s.warmUp(ctx, c, users); err != nil {
		return err
	}
	send := s.sendPhase(ctx, c, cfg.Duration, users)
	signups := s.signupPhase(ctx, cfg.SignupConcurrency, cfg.SignupFor, "scale-signup")
	opsLines := s.getPhase(ctx, "/v1/ops/lines", cfg.Duration)
	opsCapacity := s.getPhase(ctx, "/v1/ops/capacity", cfg.Duration)
	printTable(out, send, signups, opsLines, opsCapacity)
	fmt.Fprintln(out)
	limit := time.Duration(float64(baseline) * scaleP99Factor)
	fmt.Fprintf(out, "send p99 vs %d-line run:     %s ms vs %s ms (target ≤ %.2f× = %s ms: %s)\n",
		cfg.Lines, ms(send.p99), ms(baseline), scaleP99Factor, ms(limit), verdict(send.ops > 0 && send.p99 <= limit))
	fmt.Fprintf(out, "signups/s:                   %.0f (target ≥ %.0f: %s)\n", signups.perSecond(), signupsTarget, verdict(signups.perSecond() >= signupsTarget))
	for _, r := range []result{opsLines, opsCapacity} {
		fmt.Fprintf(out, "%-28s %s ms p99 (target ≤ %s ms: %s)\n", r.name+":", ms(r.p99), ms(opsP99Target), verdict(r.ops > 0 && r.p99 <= opsP99Target))
	}
	fmt.Fprintf(out, "upstream 429s:               gateway %d, simulator %d\n\n", int(counter(s.app.Metrics())), s.sim.Count429())
	runJobs(ctx, s, out)
	if err := scaleFailover(ctx, s, out); err != nil {
		return err
	}
	return webhookBench(ctx, cfg.Config, out, s.app, s.gwSrv.URL, s.hc, numbers)
}

// runJobs runs each background job once and prints its duration.
func runJobs(ctx context.Context, s *stack, out io.Writer) {
	for _, j := range s.app.BackgroundJobs() {
		start := time.Now()
		err := j.Run(ctx)
		d := time.Since(start)
		failed := ""
		if err != nil {
			failed = " (failed: " + err.Error() + ")"
		}
		fmt.Fprintf(out, "job %-24s %6.2f s (target ≤ %.0f s: %s)%s\n", j.Name, d.Seconds(), jobTarget.Seconds(), verdict(err == nil && d <= jobTarget), failed)
	}
}

// smallSendP99 runs the send phase of the small setup (Config's lines and
// users) on a stack of its own: the scale run's baseline.
func smallSendP99(ctx context.Context, cfg Config) (result, error) {
	numbers := lineNumbers(cfg.Lines)
	s, err := startStack(ctx, cfg, numbers)
	if err != nil {
		return result{}, err
	}
	defer s.close(ctx)
	users, err := seed(ctx, s.app.Pool(), numbers, cfg.Users)
	if err != nil {
		return result{}, err
	}
	if err := s.warmUp(ctx, cfg.Concurrency, users); err != nil {
		return result{}, err
	}
	return s.sendPhase(ctx, cfg.Concurrency, cfg.Duration, users), nil
}

// openWorkingChats opens the working set's chats in the simulator, straight
// through the Linq client, and returns their ids by user: the gateway then
// finds them seeded and sends into them.
func openWorkingChats(ctx context.Context, s *stack, p scalePlan, c int) (map[int]string, error) {
	client, err := linq.New(linq.Config{BaseURL: s.simSrv.URL, APIKey: "bench", Logger: slog.New(slog.DiscardHandler), MaxRetries: -1})
	if err != nil {
		return nil, err
	}
	ids := make([]string, p.WorkingSet)
	numbers := lineNumbers(p.Lines)
	err = each(ctx, c, p.WorkingSet, func(ctx context.Context, i int) error {
		g := p.working(i)
		resp, err := client.CreateChat(ctx, linq.CreateChatRequest{From: numbers[p.home(g)], To: []string{userHandle(g)},
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("bench message")}, IdempotencyKey: uuid.NewString()}})
		if err != nil {
			return fmt.Errorf("open working-set chat: %w", err)
		}
		ids[i] = resp.Chat.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	chats := make(map[int]string, p.WorkingSet)
	for i, id := range ids {
		chats[p.working(i)] = id
	}
	return chats, nil
}

// getPhase calls GET path with one client for d: the ops reads are one
// operator's page loads, not a crowd.
func (s *stack) getPhase(ctx context.Context, path string, d time.Duration) result {
	return load(ctx, "GET "+path, 1, d, func(ctx context.Context, _ *rand.Rand) (string, error) {
		code, err := s.do(ctx, http.MethodGet, path, nil)
		if err != nil || code == http.StatusOK {
			return "", err
		}
		return strconv.Itoa(code), nil
	})
}

// scaleFailover flags the first line, seeded with FailoverUsers users, as
// failover.go does, through the scale gateway's own line-health service:
// every user moves, to backups spread over the pool, in the transaction
// that applies the flag.
func scaleFailover(ctx context.Context, s *stack, out io.Writer) error {
	// Signups may have joined the line since seeding: all its users count.
	var down, holding int64
	if err := s.app.Pool().QueryRow(ctx, `SELECT l.id, (SELECT count(*) FROM users AS u WHERE u.current_line_id = l.id)
		FROM lines AS l ORDER BY l.id LIMIT 1`).Scan(&down, &holding); err != nil {
		return err
	}
	hs := s.app.LineHealth()
	start := time.Now()
	res, err := store.WithTxV(ctx, s.app.Pool(), func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
		return hs.ApplyOutcome(ctx, tx, health.Input{LineID: down, Source: health.SourceWebhook, ServiceStatus: lines.StatusFlagged})
	})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("scale failover: %w", err)
	}
	if res.Failover == nil {
		return fmt.Errorf("scale failover: the flag moved nobody")
	}
	fmt.Fprintf(out, "\nfailover of %d users: %.2f s (moved %d, stranded %d; target ≤ %.0f s: %s)\n",
		holding, elapsed.Seconds(), res.Failover.Moved, res.Failover.Stranded, failoverTarget.Seconds(),
		verdict(elapsed <= failoverTarget && int64(res.Failover.Moved) == holding))
	return nil
}

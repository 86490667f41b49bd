package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/ratelimit"
)

// Config sizes a run; zero values take the defaults.
type Config struct {
	// DatabaseURL names the Postgres server; empty starts the private
	// cluster with scripts/pg.sh. A fresh database is made either way.
	DatabaseURL string
	Lines       int // default 20
	Users       int // default 4000
	// Concurrency is the number of clients in the send phases. The default, 4,
	// keeps the 2-core box just short of saturation, so p50 measures the
	// gateway's own cost rather than a queue; raise it to see the saturated
	// throughput (p50 then grows as clients ÷ throughput).
	Concurrency int // default 4
	// SignupConcurrency is the number of clients in the signup phase: signups
	// come from many browsers at once. Default 32.
	SignupConcurrency int
	Duration          time.Duration // per send phase; default 8s
	SignupFor         time.Duration // default 5s
	Logger            *slog.Logger
}

// Run runs the benchmark and prints the report to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	cfg.Lines = cmp.Or(cfg.Lines, 20)
	cfg.Users = cmp.Or(cfg.Users, 4000)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 4)
	cfg.SignupConcurrency = cmp.Or(cfg.SignupConcurrency, 32)
	cfg.Duration = cmp.Or(cfg.Duration, 8*time.Second)
	cfg.SignupFor = cmp.Or(cfg.SignupFor, 5*time.Second)
	logger := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	quiet := slog.New(slog.DiscardHandler)

	db, err := newDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.drop(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("drop bench database", slog.Any("error", err))
		}
	}()

	numbers := make([]string, cfg.Lines)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+1555%07d", 100+i)
	}
	sim := linqsim.New(linqsim.Config{Lines: numbers, Logger: quiet})
	defer sim.Close()
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()

	env := map[string]string{
		"DATABASE_URL": db.url, "LOG_LEVEL": "warn", "LINE_DAILY_BUDGET": "1000000000", "WARMUP_DAYS": "0",
		"SIGNUP_RAMP_PER_HOUR": "1000000000", "DB_MAX_CONNS": strconv.Itoa(max(2*cfg.Concurrency, 20)),
		"AUTH_CACHE_TTL": "1m", "LINQ_WEBHOOK_SECRETS": benchWebhookSecret, "LINQ_WEBHOOK_SUBSCRIBE": "false",
	}
	gcfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	a, err := app.New(ctx, gcfg, quiet, app.WithLinqBaseURL(simSrv.URL))
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	defer a.Close()
	gwSrv := httptest.NewServer(a.Handler())
	defer gwSrv.Close()

	users, err := seed(ctx, a.Pool(), numbers, cfg.Users)
	if err != nil {
		return err
	}
	key, k, err := a.Keys().Create(ctx, "bench", apikey.AllScopes)
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	fmt.Fprintf(out, "linegate bench: %d lines, %d users, %d clients, %s per send phase, %s of signups (%d clients); Postgres, simulator and gateway on this machine\n",
		cfg.Lines, cfg.Users, cfg.Concurrency, cfg.Duration, cfg.SignupFor, cfg.SignupConcurrency)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4 * cfg.Concurrency, MaxIdleConnsPerHost: 4 * cfg.Concurrency}}
	defer hc.CloseIdleConnections()
	post := func(ctx context.Context, path string, body any) (int, error) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gwSrv.URL+path, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	sendBody := func(u user) map[string]any {
		return map[string]any{"user_ref": u.ref, "parts": []map[string]string{{"type": "text", "value": "bench message"}}}
	}
	status := func(code int, err error) (string, error) {
		if err != nil {
			return "", err
		}
		if code == http.StatusCreated {
			return "", nil
		}
		return strconv.Itoa(code), nil
	}

	// Warm-up: every user's chat exists, so the phase measures steady state.
	if err := each(ctx, cfg.Concurrency, len(users), func(ctx context.Context, i int) error {
		code, err := post(ctx, "/v1/messages", sendBody(users[i]))
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("warm-up send answered %d", code)
		}
		return err
	}); err != nil {
		return err
	}

	gw := load(ctx, "(a) gateway sends", cfg.Concurrency, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
		return status(post(ctx, "/v1/messages", sendBody(users[rng.IntN(len(users))])))
	})

	// (b) the same sends straight to a fresh simulator, chats made first.
	direct, err := directBaseline(ctx, cfg, numbers, users)
	if err != nil {
		return err
	}

	// (c) the same database work per send, without HTTP or Linq.
	ceiling, err := sqlCeiling(ctx, cfg, a.Messages(), users, k.ID)
	if err != nil {
		return err
	}

	// (d) signups.
	var n int64
	var mu sync.Mutex
	signups := load(ctx, "(d) signups", cfg.SignupConcurrency, cfg.SignupFor, func(ctx context.Context, _ *rand.Rand) (string, error) {
		mu.Lock()
		n++
		ref := "signup-" + strconv.FormatInt(n, 10)
		mu.Unlock()
		code, err := post(ctx, "/v1/signups", map[string]any{"user_ref": ref})
		if err != nil {
			return "", err
		}
		if code == http.StatusCreated || code == http.StatusOK {
			return "", nil
		}
		return strconv.Itoa(code), nil
	})

	report(out, []result{gw, direct, ceiling, signups}, a.Metrics(), sim.Count429())
	if err := webhookBench(ctx, cfg, out, a, gwSrv.URL, hc, numbers); err != nil {
		return err
	}
	return failoverPhase(ctx, cfg, out)
}

// user is a seeded user with their line.
type user struct {
	ref, handle, line string
}

// each runs fn for 0..n-1 on c workers and returns the first error.
func each(ctx context.Context, c, n int, fn func(ctx context.Context, i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		ferr error
	)
	for range c {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := ferr != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					ferr = cmp.Or(ferr, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return ferr
}

// load runs op on c workers for d and summarises the successful ops;
// an op returns a non-empty outcome when it was refused.
//
// The phase deadline stops workers from starting ops; an op in flight runs
// to its end on ctx and counts, so a slow op is measured, not cancelled.
func load(ctx context.Context, name string, c int, d time.Duration, op func(ctx context.Context, rng *rand.Rand) (string, error)) result {
	phase, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type acc struct {
		lat     []time.Duration
		errs    int
		refused map[string]int
	}
	accs := make([]acc, c)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w)+1, uint64(start.UnixNano()))) //nolint:gosec // load shape, not secrets
			a := &accs[w]
			a.refused = map[string]int{}
			for phase.Err() == nil {
				t := time.Now()
				outcome, err := op(ctx, rng)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					a.errs++
				case outcome != "":
					a.refused[outcome]++
				default:
					a.lat = append(a.lat, time.Since(t))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var lat []time.Duration
	errs, refused := 0, map[string]int{}
	for _, a := range accs {
		lat = append(lat, a.lat...)
		errs += a.errs
		for k, v := range a.refused {
			refused[k] += v
		}
	}
	return summarize(name, lat, errs, refused, elapsed)
}

// directBaseline sends through the Linq client straight to a fresh
// simulator, into chats created beforehand, each with an idempotency key.
// Its simulator runs a clock 1,000 times fast so that its pair windows,
// which nothing guards here, never refuse: the baseline is the cost of a
// send, not of a limit.
func directBaseline(ctx context.Context, cfg Config, numbers []string, users []user) (result, error) {
	start := time.Now()
	fast := func() time.Time { return start.Add(time.Since(start) * 1000) }
	sim := linqsim.New(linqsim.Config{Lines: numbers, Logger: slog.New(slog.DiscardHandler), Now: fast})
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, err := linq.New(linq.Config{BaseURL: srv.URL, APIKey: "bench", Logger: slog.New(slog.DiscardHandler), MaxRetries: -1})
	if err != nil {
		return result{}, err
	}
	chats := make([]string, len(users))
	err = each(ctx, cfg.Concurrency, len(users), func(ctx context.Context, i int) error {
		resp, err := client.CreateChat(ctx, linq.CreateChatRequest{From: users[i].line, To: []string{users[i].handle},
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("bench message")}, IdempotencyKey: uuid.NewString()}})
		if err != nil {
			return fmt.Errorf("direct warm-up: %w", err)
		}
		chats[i] = resp.Chat.ID
		return nil
	})
	if err != nil {
		return result{}, err
	}
	return load(ctx, "(b) direct to simulator", cfg.Concurrency, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
		_, err := client.SendMessage(ctx, chats[rng.IntN(len(chats))], linq.SendMessageRequest{
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("bench message")}, IdempotencyKey: uuid.NewString()},
		})
		if linq.IsRateLimited(err) {
			return "429", nil
		}
		return "", err
	}), nil
}

// sqlCeiling runs the gateway's database work per send (admission and
// record) with the gateway's own settings, in a tight loop.
func sqlCeiling(ctx context.Context, cfg Config, svc *messaging.Service, users []user, keyID int64) (result, error) {
	return load(ctx, "(c) admission SQL ceiling", cfg.Concurrency, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
		outcome, err := svc.AdmitAndRecord(ctx, messaging.SendRequest{
			APIKeyID: keyID, UserRef: users[rng.IntN(len(users))].ref,
			Parts: []linq.Part{linq.TextPart("bench message")},
		})
		if outcome == ratelimit.OutcomeOK {
			outcome = ""
		}
		return outcome, err
	}), nil
}

func report(out io.Writer, rs []result, m *metrics.Metrics, sim429 int) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	fmt.Fprintf(out, "\n%-28s %9s %10s %9s %9s %9s  %s\n", "phase", "ok", "ok/s", "p50 ms", "p95 ms", "p99 ms", "refused / errors")
	for _, r := range rs {
		fmt.Fprintf(out, "%-28s %9d %10.0f %9s %9s %9s  %v / %d\n", r.name, r.ops, r.perSecond(), ms(r.p50), ms(r.p95), ms(r.p99), r.refused, r.errors)
	}
	gw, direct, ceiling, signups := rs[0], rs[1], rs[2], rs[3]
	ratio := 0.0
	if ceiling.perSecond() > 0 {
		ratio = gw.perSecond() / ceiling.perSecond()
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	added := gw.p50 - direct.p50
	fmt.Fprintf(out, "\ngateway ÷ ceiling:          %.2f   (target ≥ 0.60: %s)\n", ratio, verdict(ratio >= 0.6))
	fmt.Fprintf(out, "gateway p50 − direct p50:   %s ms (target ≤ 2 ms: %s)\n", ms(added), verdict(added <= 2*time.Millisecond))
	fmt.Fprintf(out, "signups/s:                  %.0f   (target ≥ 1000: %s)\n", signups.perSecond(), verdict(signups.perSecond() >= 1000))
	fmt.Fprintf(out, "peak RSS (whole process):   %.0f MiB\n", peakRSS())
	fmt.Fprintf(out, "upstream 429s:              gateway %d, simulator %d\n", int(counter(m)), sim429)
}

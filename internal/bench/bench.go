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
	"slices"
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
	// gateway's own cost rather than a queue.
	Concurrency int // default 4
	// HighConcurrency is the second client count of the send phases, past
	// saturation: throughput there is what the box can serve, and p50 grows
	// as clients ÷ throughput. Default 2 × Concurrency.
	HighConcurrency int
	// SignupConcurrency is the number of clients in the signup phase: signups
	// come from many browsers at once. Default 32.
	SignupConcurrency int
	Duration          time.Duration // per send phase; default 6s
	SignupFor         time.Duration // default 5s
	Logger            *slog.Logger
}

func (cfg Config) withDefaults() Config {
	cfg.Lines = cmp.Or(cfg.Lines, 20)
	cfg.Users = cmp.Or(cfg.Users, 4000)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 4)
	cfg.HighConcurrency = cmp.Or(cfg.HighConcurrency, 2*cfg.Concurrency)
	cfg.SignupConcurrency = cmp.Or(cfg.SignupConcurrency, 32)
	cfg.Duration = cmp.Or(cfg.Duration, 6*time.Second)
	cfg.SignupFor = cmp.Or(cfg.SignupFor, 5*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return cfg
}

// clientCounts is the send phases' client counts, low first, once each.
func (cfg Config) clientCounts() []int {
	cs := []int{cfg.Concurrency, cfg.HighConcurrency}
	slices.Sort(cs)
	return slices.Compact(cs)
}

// Run runs the benchmark and prints the report to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	cfg = cfg.withDefaults()
	numbers := lineNumbers(cfg.Lines)
	s, err := startStack(ctx, cfg, numbers)
	if err != nil {
		return err
	}
	defer s.close(ctx)

	users, err := seed(ctx, s.app.Pool(), numbers, cfg.Users)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "linegate bench: %d lines, %d users, %v clients, %s per send phase, %s of signups (%d clients); Postgres, simulator and gateway on this machine\n",
		cfg.Lines, cfg.Users, cfg.clientCounts(), cfg.Duration, cfg.SignupFor, cfg.SignupConcurrency)

	if err := s.warmUp(ctx, cfg.HighConcurrency, users); err != nil {
		return err
	}
	var sr sendResults
	for _, c := range cfg.clientCounts() {
		sr.gateway = append(sr.gateway, s.sendPhase(ctx, c, cfg.Duration, users))
	}
	// (b) the same sends straight to a fresh simulator, chats made first.
	direct, err := directBaseline(ctx, cfg, numbers, users)
	if err != nil {
		return err
	}
	sr.direct = direct
	// (c) the same database work per send, without HTTP or Linq, and (h)
	// one-row commits, what Postgres on this machine allows at all: both at
	// the high client count only, where throughput is the box's.
	sr.admission = sqlCeiling(ctx, cfg.HighConcurrency, cfg.Duration, s.app.Messages(), users, s.keyID)
	if sr.physical, err = physicalCeiling(ctx, s.app.Pool(), cfg.HighConcurrency, cfg.Duration); err != nil {
		return err
	}
	sr.signups = s.signupPhase(ctx, cfg.SignupConcurrency, cfg.SignupFor, "signup")

	sr.report(out)
	fmt.Fprintf(out, "peak RSS (whole process):   %.0f MiB\n", peakRSS())
	fmt.Fprintf(out, "upstream 429s:              gateway %d, simulator %d\n", int(counter(s.app.Metrics())), s.sim.Count429())
	if err := webhookBench(ctx, cfg, out, s.app, s.gwSrv.URL, s.hc, numbers); err != nil {
		return err
	}
	return failoverPhase(ctx, cfg, out)
}

// lineNumbers is n line numbers, +1555 and seven digits.
func lineNumbers(n int) []string {
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+1555%07d", 100+i)
	}
	return numbers
}

// stack is one run's database, simulator and gateway, with an API key of
// every scope and an HTTP client to call it.
type stack struct {
	db     *database
	sim    *linqsim.Sim
	simSrv *httptest.Server
	app    *app.App
	gwSrv  *httptest.Server
	hc     *http.Client
	key    string
	keyID  int64
	log    *slog.Logger
	signup sync.Mutex
	nextUp int64
}

// startStack makes a fresh database, starts the simulator with the given
// lines and a gateway on both (migrated, its background jobs not started).
func startStack(ctx context.Context, cfg Config, numbers []string) (*stack, error) {
	quiet := slog.New(slog.DiscardHandler)
	db, err := newDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	s := &stack{db: db, log: cfg.Logger}
	s.sim = linqsim.New(linqsim.Config{Lines: numbers, Logger: quiet})
	s.simSrv = httptest.NewServer(s.sim.Handler())
	c := max(cfg.Concurrency, cfg.HighConcurrency)
	env := map[string]string{
		"DATABASE_URL": db.url, "LOG_LEVEL": "warn", "LINE_DAILY_BUDGET": "1000000000", "WARMUP_DAYS": "0",
		"SIGNUP_RAMP_PER_HOUR": "1000000000", "DB_MAX_CONNS": strconv.Itoa(max(2*c, 20)),
		"AUTH_CACHE_TTL": "1m", "LINQ_WEBHOOK_SECRETS": benchWebhookSecret, "LINQ_WEBHOOK_SUBSCRIBE": "false",
	}
	gcfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("bench config: %w", err)
	}
	if s.app, err = app.New(ctx, gcfg, quiet, app.WithLinqBaseURL(s.simSrv.URL)); err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	s.gwSrv = httptest.NewServer(s.app.Handler())
	s.hc = &http.Client{Transport: &http.Transport{MaxIdleConns: 4 * c, MaxIdleConnsPerHost: 4 * c}}
	key, k, err := s.app.Keys().Create(ctx, "bench", apikey.AllScopes)
	if err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("create api key: %w", err)
	}
	s.key, s.keyID = key, k.ID
	return s, nil
}

func (s *stack) close(ctx context.Context) {
	if s.hc != nil {
		s.hc.CloseIdleConnections()
	}
	if s.gwSrv != nil {
		s.gwSrv.Close()
	}
	if s.app != nil {
		s.app.Close()
	}
	s.simSrv.Close()
	s.sim.Close()
	if err := s.db.drop(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("drop bench database", slog.Any("error", err))
	}
}

// do calls the gateway with the stack's key and returns the status.
func (s *stack) do(ctx context.Context, method, path string, body any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.gwSrv.URL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func sendBody(u user) map[string]any {
	return map[string]any{"user_ref": u.ref, "parts": []map[string]string{{"type": "text", "value": "bench message"}}}
}

// warmUp sends once to every user, so that every chat exists and the send
// phases measure steady state.
func (s *stack) warmUp(ctx context.Context, c int, users []user) error {
	return each(ctx, c, len(users), func(ctx context.Context, i int) error {
		code, err := s.do(ctx, http.MethodPost, "/v1/messages", sendBody(users[i]))
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("warm-up send answered %d", code)
		}
		return err
	})
}

// sendPhase is (a): POST /v1/messages to random users with c clients.
func (s *stack) sendPhase(ctx context.Context, c int, d time.Duration, users []user) result {
	return load(ctx, phaseName("(a) gateway sends", c), c, d, func(ctx context.Context, rng *rand.Rand) (string, error) {
		code, err := s.do(ctx, http.MethodPost, "/v1/messages", sendBody(users[rng.IntN(len(users))]))
		if err != nil || code == http.StatusCreated {
			return "", err
		}
		return strconv.Itoa(code), nil
	})
}

// signupPhase is (d): POST /v1/signups with fresh user refs.
func (s *stack) signupPhase(ctx context.Context, c int, d time.Duration, prefix string) result {
	return load(ctx, phaseName("(d) signups", c), c, d, func(ctx context.Context, _ *rand.Rand) (string, error) {
		s.signup.Lock()
		s.nextUp++
		ref := prefix + "-" + strconv.FormatInt(s.nextUp, 10)
		s.signup.Unlock()
		code, err := s.do(ctx, http.MethodPost, "/v1/signups", map[string]any{"user_ref": ref})
		if err != nil || code == http.StatusCreated || code == http.StatusOK {
			return "", err
		}
		return strconv.Itoa(code), nil
	})
}

func phaseName(name string, clients int) string {
	return fmt.Sprintf("%s, %d clients", name, clients)
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
	// Sampled before the phase's clock starts: reading /proc takes a while
	// on a busy box, and must not eat a short phase.
	cpu0 := sampleCPU()
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
	cpu := sampleCPU().since(cpu0)
	var lat []time.Duration
	errs, refused := 0, map[string]int{}
	for _, a := range accs {
		lat = append(lat, a.lat...)
		errs += a.errs
		for k, v := range a.refused {
			refused[k] += v
		}
	}
	r := summarize(name, lat, errs, refused, elapsed)
	r.clients, r.cpu = c, cpu
	return r
}

// directBaseline is (b) at every client count: sends through the Linq
// client straight to a fresh simulator, into chats created beforehand, each
// with an idempotency key. Its simulator runs a clock 1,000 times fast so
// that its pair windows, which nothing guards here, never refuse: the
// baseline is the cost of a send, not of a limit.
func directBaseline(ctx context.Context, cfg Config, numbers []string, users []user) ([]result, error) {
	start := time.Now()
	fast := func() time.Time { return start.Add(time.Since(start) * 1000) }
	sim := linqsim.New(linqsim.Config{Lines: numbers, Logger: slog.New(slog.DiscardHandler), Now: fast})
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, err := linq.New(linq.Config{BaseURL: srv.URL, APIKey: "bench", Logger: slog.New(slog.DiscardHandler), MaxRetries: -1})
	if err != nil {
		return nil, err
	}
	chats := make([]string, len(users))
	err = each(ctx, cfg.HighConcurrency, len(users), func(ctx context.Context, i int) error {
		resp, err := client.CreateChat(ctx, linq.CreateChatRequest{From: users[i].line, To: []string{users[i].handle},
			Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("bench message")}, IdempotencyKey: uuid.NewString()}})
		if err != nil {
			return fmt.Errorf("direct warm-up: %w", err)
		}
		chats[i] = resp.Chat.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	var rs []result
	for _, c := range cfg.clientCounts() {
		rs = append(rs, load(ctx, phaseName("(b) direct to simulator", c), c, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
			_, err := client.SendMessage(ctx, chats[rng.IntN(len(chats))], linq.SendMessageRequest{
				Message: linq.MessageContent{Parts: []linq.Part{linq.TextPart("bench message")}, IdempotencyKey: uuid.NewString()},
			})
			if linq.IsRateLimited(err) {
				return "429", nil
			}
			return "", err
		}))
	}
	return rs, nil
}

// sqlCeiling is (c): the gateway's database work per send (admission and
// record) with the gateway's own settings, in a tight loop.
func sqlCeiling(ctx context.Context, c int, d time.Duration, svc *messaging.Service, users []user, keyID int64) result {
	return load(ctx, phaseName("(c) admission SQL ceiling", c), c, d, func(ctx context.Context, rng *rand.Rand) (string, error) {
		outcome, err := svc.AdmitAndRecord(ctx, messaging.SendRequest{
			APIKeyID: keyID, UserRef: users[rng.IntN(len(users))].ref,
			Parts: []linq.Part{linq.TextPart("bench message")},
		})
		if outcome == ratelimit.OutcomeOK {
			outcome = ""
		}
		return outcome, err
	})
}

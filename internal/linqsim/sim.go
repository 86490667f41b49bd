package linqsim

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config.
const (
	DefaultRetryBase      = time.Second
	DefaultWebhookWorkers = 8
	DefaultWebhookQueue   = 8192
	DefaultWebhookTimeout = 10 * time.Second
	DefaultPartnerID      = "partner_linegate_sim"
	// MaxWebhookAttempts is how often one delivery is tried (Linq: 10).
	MaxWebhookAttempts = 10
	// PairLimit sends per (line, recipient) are allowed in any PairWindow.
	PairLimit  = 30
	PairWindow = 60 * time.Second
)

// Config configures a Sim.
type Config struct {
	// APIKey is the bearer token the API accepts; empty accepts any
	// non-empty bearer token.
	APIKey string
	// WebhookURL, when set, receives every event, as if a subscription to
	// all events had been created for it (it is listed as one).
	WebhookURL string
	// WebhookSecret signs deliveries to WebhookURL (whsec_…); generated when
	// empty.
	WebhookSecret string
	// Lines are the seeded lines (E.164). When empty, LineCount lines are
	// generated (+1555010xxxx); with both empty there are no lines.
	Lines     []string
	LineCount int
	// Now is the simulator's clock; default time.Now.
	Now func() time.Time
	// Latency is added to every API request.
	Latency time.Duration
	// RetryBase is the webhook retry backoff base: attempt n waits
	// RetryBase·2^(n-1). Default 1 s; tests shrink it.
	RetryBase time.Duration
	// Logger receives the simulator's records; default slog.Default().
	Logger *slog.Logger
	// Seed makes fault injection reproducible; 0 seeds randomly.
	Seed int64
	// PartnerID is the partner_id of webhook envelopes.
	PartnerID string
	// WebhookWorkers is the number of delivery workers (ordering holds per
	// subscription and chat); WebhookQueue the queue length of each.
	WebhookWorkers int
	WebhookQueue   int
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration
}

// Sim is an in-memory Linq v3 API. Create it with New, serve Handler, and
// Close it to stop webhook delivery.
type Sim struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	partnerID string
	closed    atomic.Bool
	closeCh   chan struct{}
	closeOnce sync.Once

	linesMu   sync.RWMutex
	lines     map[string]*line // by E.164
	linesByID map[string]*line
	lineOrder []*line
	nextLine  int

	chatsMu      sync.RWMutex
	chatsByID    map[string]*chat
	chatsByKey   map[string]*chat   // from|sorted(to)
	chatsByRecip map[string][]*chat // sorted(to), oldest first
	chatOrder    []*chat

	messages [shards]messageShard
	idem     [shards]idemShard
	pairs    [shards]pairShard

	handlesMu sync.RWMutex
	optOut    map[string]optState
	blocked   map[string]bool

	cardsMu sync.Mutex
	cards   map[string]*contactCard

	logMu   sync.Mutex
	sendLog []SendRecord

	count429   atomic.Int64
	faults     atomic.Pointer[Faults]
	faultCount faultCounters
	rngMu      sync.Mutex
	rng        *mrand.Rand

	hooks *hookEngine
}

// New returns a simulator with cfg's lines seeded and webhook delivery
// started (idle until there is a target).
func New(cfg Config) *Sim {
	s := &Sim{
		cfg:          cfg,
		log:          cmp.Or(cfg.Logger, slog.Default()),
		now:          cfg.Now,
		partnerID:    cmp.Or(cfg.PartnerID, DefaultPartnerID),
		closeCh:      make(chan struct{}),
		lines:        map[string]*line{},
		linesByID:    map[string]*line{},
		chatsByID:    map[string]*chat{},
		chatsByKey:   map[string]*chat{},
		chatsByRecip: map[string][]*chat{},
		optOut:       map[string]optState{},
		blocked:      map[string]bool{},
		cards:        map[string]*contactCard{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Fault injection wants a reproducible stream for a given seed, not
	// secrecy, so math/rand is the right source here.
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = mrand.Uint64() //nolint:gosec // G404: a seed for simulated faults
	}
	s.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible fault stream
	for i := range shards {
		s.messages[i].m = map[string]*message{}
		s.idem[i].m = map[string]*idemEntry{}
		s.pairs[i].m = map[string]*window{}
	}
	if s.cfg.WebhookSecret == "" {
		s.cfg.WebhookSecret = NewWebhookSecret()
	}
	s.hooks = newHookEngine(s)
	if cfg.WebhookURL != "" {
		s.hooks.addConfigured(cfg.WebhookURL, s.cfg.WebhookSecret)
	}
	for _, n := range cfg.Lines {
		s.AddLine(n)
	}
	if len(cfg.Lines) == 0 {
		for range cfg.LineCount {
			s.AddLine("")
		}
	}
	return s
}

// Close stops webhook delivery and releases requests held by timeout faults.
// Pending deliveries are dropped. Close is idempotent.
func (s *Sim) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.closeCh)
		s.hooks.stop()
	})
}

// WebhookSecret returns the secret that signs deliveries to Config.WebhookURL.
func (s *Sim) WebhookSecret() string { return s.cfg.WebhookSecret }

// Handler serves the Linq API under /v3/ (also under /api/partner/v3/, so a
// base URL with Linq's path prefix works) and the admin API under /_sim/.
func (s *Sim) Handler() http.Handler {
	api := s.apiMux()
	admin := s.adminMux()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverPanic(w, r)
		if rest, ok := strings.CutPrefix(r.URL.Path, "/api/partner"); ok && strings.HasPrefix(rest, "/v3/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = rest
			r2.URL.RawPath = ""
			r = r2
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/v3/"):
			s.serveAPI(api, w, r)
		case strings.HasPrefix(r.URL.Path, "/_sim/"):
			admin.ServeHTTP(w, r)
		default:
			writeError(w, errNotFound("no such endpoint: "+r.Method+" "+r.URL.Path))
		}
	})
}

// recoverPanic turns a handler panic into a Linq-shaped 500; the simulator
// must never crash on a request. http.ErrAbortHandler is passed on: it is
// how timeout faults drop a connection.
func (s *Sim) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as the panic value, as net/http does
		panic(v)
	}
	s.log.Error("linqsim: handler panic", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.String("panic", fmt.Sprint(v)))
	writeError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
}

func (s *Sim) ts() time.Time { return s.now().UTC() }

func (s *Sim) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closeCh:
		return context.Canceled
	}
}

func (s *Sim) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	s.rngMu.Lock()
	v := s.rng.Float64()
	s.rngMu.Unlock()
	return v < p
}

// newID returns a random UUID v4.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// newTraceID returns a 32-hex-digit correlation id.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewWebhookSecret returns a signing secret in Linq's format: "whsec_" and
// the base64 of 32 random bytes.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// shards is the number of lock shards for messages, idempotency keys and
// pair windows.
const shards = 64

func shardOf(key string) int { return int(hashKey(key) % shards) }

// hashKey is FNV-1a, inlined to keep the hot path allocation-free.
func hashKey(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}

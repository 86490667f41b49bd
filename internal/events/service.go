package events

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Defaults for Config.
const (
	DefaultRetryBase       = 30 * time.Second
	DefaultRetryMaxDelay   = 4 * time.Hour
	DefaultRetryFor        = 25 * time.Hour
	DefaultDeliveryTimeout = 10 * time.Second
	DefaultSecretOverlap   = 24 * time.Hour
	// Queue is the River queue deliveries run on.
	Queue = "events"
)

// Config configures a Service; zero values take the defaults above.
type Config struct {
	// RetryBase is the wait before the second attempt; each further wait
	// doubles, up to RetryMaxDelay, until RetryFor has passed, after which
	// the delivery is dead.
	RetryBase     time.Duration
	RetryMaxDelay time.Duration
	RetryFor      time.Duration
	// DeliveryTimeout bounds one attempt.
	DeliveryTimeout time.Duration
	// SecretOverlap is how long a rotated-out secret keeps signing.
	SecretOverlap time.Duration
	// StoreMessageText keeps delivered bodies that hold message text.
	StoreMessageText bool
	// Now is Linegate's clock (event times, rows); River schedules retries on
	// the wall clock.
	Now func() time.Time
	// HTTPClient sends deliveries; default one with DeliveryTimeout.
	HTTPClient *http.Client
}

// JobInserter is the part of the River client the service uses.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Service manages subscriptions and publishes and delivers events.
type Service struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	jobs     JobInserter
	log      *slog.Logger
	metrics  *metrics.Metrics
	cfg      Config
	attempts int
	http     *http.Client
}

// New builds the service. jobs is the River client the delivery jobs are
// inserted with; register Worker on that client's workers.
func New(pool *pgxpool.Pool, jobs JobInserter, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	cfg.RetryBase = cmp.Or(cfg.RetryBase, DefaultRetryBase)
	cfg.RetryMaxDelay = max(cmp.Or(cfg.RetryMaxDelay, DefaultRetryMaxDelay), cfg.RetryBase)
	cfg.RetryFor = cmp.Or(cfg.RetryFor, DefaultRetryFor)
	cfg.DeliveryTimeout = cmp.Or(cfg.DeliveryTimeout, DefaultDeliveryTimeout)
	cfg.SecretOverlap = cmp.Or(cfg.SecretOverlap, DefaultSecretOverlap)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := &http.Client{Timeout: cfg.DeliveryTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// A redirect is an answer, not a delivery: following it would send the
	// signed headers elsewhere and count the other URL's 2xx as delivered.
	// The 3xx fails the attempt, which is retried, and ops see the status.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &Service{
		pool: pool, q: store.New(), jobs: jobs, log: logger, metrics: m, cfg: cfg, http: hc,
		attempts: attemptsFor(cfg.RetryBase, cfg.RetryMaxDelay, cfg.RetryFor),
	}
	if m != nil && pool != nil {
		m.EventDeliveriesDead.ReadFrom(func(ctx context.Context) (int64, error) { return s.q.EventDeliveryCountDead(ctx, pool) })
	}
	return s
}

// attemptsFor is how many attempts the doubling schedule needs to keep
// trying for at least total.
func attemptsFor(base, maxDelay, total time.Duration) int {
	n, sum := 1, time.Duration(0)
	for d := base; sum < total; n++ {
		sum += min(d, maxDelay)
		d = min(d*2, maxDelay)
	}
	return n
}

// retryDelay is the wait after the given (1-based) failed attempt.
func retryDelay(base, maxDelay time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// Envelope is an event as product services receive it (the body of a
// delivery); Data is the type's payload (MessageReceived, ...).
type Envelope struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	Data       any       `json:"data"`
}

// DeriveID is a stable event id for something identified by key (a Linq
// event id, a user and a time...), so publishing the same thing twice
// yields one event.
func DeriveID(eventType, key string) string {
	sum := sha256.Sum256([]byte(eventType + "\x00" + key))
	return "evt_" + hex.EncodeToString(sum[:12])
}

// Publish inserts one delivery, and its River job, per event and matching
// subscription, in tx: the events go out only if tx commits. An event whose
// id was published before to a subscription is not delivered twice.
func (s *Service) Publish(ctx context.Context, tx pgx.Tx, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	types := make([]string, 0, 4)
	seen := map[string]bool{}
	for _, ev := range evs {
		if !seen[ev.Type] {
			seen[ev.Type] = true
			types = append(types, ev.Type)
		}
	}
	subs, err := s.q.EventSubscriptionTargets(ctx, tx, types)
	if err != nil {
		return fmt.Errorf("publish: subscriptions: %w", err)
	}
	if len(subs) == 0 {
		return nil
	}
	var inst pgtype.UUID
	if slices.ContainsFunc(evs, func(ev Event) bool { return ev.ID == "" && ev.Row != nil }) {
		if inst, err = s.q.InstallationID(ctx, tx); err != nil {
			return fmt.Errorf("publish: read installation id: %w", err)
		}
	}
	now := s.cfg.Now().UTC()
	p := store.EventDeliveryInsertBatchParams{Now: now}
	for _, ev := range evs {
		var body []byte
		id := eventID(ev, inst)
		for _, sub := range subs {
			if !slices.Contains(sub.EventTypes, ev.Type) {
				continue
			}
			if body == nil {
				if body, err = encode(ev, id, now); err != nil {
					return err
				}
			}
			p.SubscriptionIds = append(p.SubscriptionIds, sub.ID)
			p.EventIds = append(p.EventIds, id)
			p.EventTypes = append(p.EventTypes, ev.Type)
			p.Payloads = append(p.Payloads, body)
			p.HoldsText = append(p.HoldsText, ev.Type == TypeMessageReceived)
		}
	}
	if len(p.SubscriptionIds) == 0 {
		return nil
	}
	ids, err := s.q.EventDeliveryInsertBatch(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("publish: deliveries: %w", err)
	}
	args := make([]DeliverArgs, len(ids))
	for i, id := range ids {
		args[i] = DeliverArgs{DeliveryID: id}
	}
	return s.enqueue(ctx, tx, args)
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, args []DeliverArgs) error {
	if len(args) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(args))
	opts := &river.InsertOpts{MaxAttempts: s.attempts, Queue: Queue}
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a, InsertOpts: opts}
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("publish: enqueue deliveries: %w", err)
	}
	return nil
}

// eventID is ev's id: its own, or derived from its row within inst (see
// Row), or from its type, time and data.
func eventID(ev Event, inst pgtype.UUID) string {
	switch {
	case ev.ID != "":
		return ev.ID
	case ev.Row != nil:
		return DeriveID(ev.Type, fmt.Sprintf("%x\x00%s\x00%d", inst.Bytes, ev.Row.Table, ev.Row.ID))
	}
	data, _ := json.Marshal(ev.Data)
	return DeriveID(ev.Type, ev.OccurredAt.UTC().Format(time.RFC3339Nano)+"\x00"+string(data))
}

func encode(ev Event, id string, now time.Time) ([]byte, error) {
	at := ev.OccurredAt
	if at.IsZero() {
		at = now
	}
	b, err := json.Marshal(Envelope{ID: id, Type: ev.Type, OccurredAt: at.UTC(), Data: ev.Data})
	if err != nil {
		return nil, fmt.Errorf("publish: encode %s: %w", ev.Type, err)
	}
	return b, nil
}

package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Path is where Linq delivers webhooks.
const Path = "/v1/linq/webhooks"

// JobInserter is the part of the River client intake uses.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Config configures a Service.
type Config struct {
	// Secrets verify deliveries besides the stored subscription's secret.
	Secrets []string
	// Tolerance is the allowed clock skew of a delivery's timestamp.
	Tolerance time.Duration
	// PublicURL is where Linq reaches this gateway; the subscription
	// points at PublicURL + Path.
	PublicURL string
	Now       func() time.Time
}

// Service accepts Linq's webhook deliveries.
type Service struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	jobs    JobInserter
	linq    *linq.Client
	log     *slog.Logger
	metrics *metrics.Metrics
	cfg     Config

	// The secrets (see secrets.go): the last read, the read in flight
	// (closed when it ends), reads begun before forgotAt are stale, and
	// the budget of reads for failed verifications.
	mu       sync.Mutex
	last     *secretSet
	reading  chan struct{}
	forgotAt time.Time
	budget   float64
	budgetAt time.Time
}

// New builds the intake.
func New(pool *pgxpool.Pool, jobs JobInserter, lc *linq.Client, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = linq.DefaultWebhookTolerance
	}
	return &Service{pool: pool, q: store.New(), jobs: jobs, linq: lc, log: logger, metrics: m, cfg: cfg}
}

// Result says what Accept did.
type Result struct {
	EventID   string
	EventType string
	Duplicate bool
}

// Accept verifies, parses and stores one delivery with its processing job.
// Errors are apperr: 401 for a missing or wrong signature or a stale
// timestamp, 400 for a body that is not a Linq event, 503 when no secret is
// known yet or when no known secret matches while the stored ones may be
// newer (Linq retries a 503, never a 401). Nothing is stored unless it
// returns nil.
func (s *Service) Accept(ctx context.Context, header http.Header, body []byte) (Result, error) {
	if err := s.verify(ctx, header, body); err != nil {
		return Result{}, s.reject(err)
	}
	ev, err := linq.ParseWebhookEvent(body)
	if err != nil {
		s.metrics.WebhooksRejected.WithLabelValues("invalid_event").Inc()
		return Result{}, apperr.New(apperr.Invalid, "invalid_event", "the body is not a Linq webhook event")
	}
	res, err := s.Store(ctx, ev, storable(body))
	if errors.Is(store.Interpret(err), store.ErrInvalidData) {
		// Postgres cannot hold it (an event id past the column's bound, a
		// NUL in one): no retry will ever store it.
		s.metrics.WebhooksRejected.WithLabelValues("invalid_event").Inc()
		return Result{}, apperr.New(apperr.Invalid, "invalid_event", "the event cannot be stored")
	}
	return res, err
}

// Store writes a verified event and its processing job in one transaction
// (the part of Accept after verification; the benchmark measures it alone).
func (s *Service) Store(ctx context.Context, ev *linq.WebhookEvent, body []byte) (Result, error) {
	res := Result{EventID: ev.EventID, EventType: ev.EventType}
	now := s.cfg.Now().UTC()
	occurred := ev.CreatedAt
	if occurred.IsZero() {
		occurred = now
	}
	err := store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		n, err := s.q.WebhookEventInsert(ctx, tx, store.WebhookEventInsertParams{
			EventID: ev.EventID, EventType: ev.EventType, OccurredAt: occurred, ReceivedAt: now, Payload: body,
		})
		if err != nil {
			return fmt.Errorf("store webhook event: %w", err)
		}
		if n == 0 {
			res.Duplicate = true
			return nil
		}
		if _, err := s.jobs.InsertTx(ctx, tx, inbound.ProcessArgs{EventID: ev.EventID}, nil); err != nil {
			return fmt.Errorf("enqueue webhook event: %w", err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	if res.Duplicate {
		s.metrics.WebhooksDuplicate.Inc()
	} else {
		s.metrics.WebhooksAccepted.Inc()
	}
	return res, nil
}

func (s *Service) reject(err error) error {
	var reason, msg string
	var retry time.Duration
	kind := apperr.Unauthorized
	switch {
	case errors.Is(err, errSecretsUnconfirmed):
		reason, msg, kind = "signature_unconfirmed", "no webhook signature matches the secrets known yet; retry", apperr.Unavailable
		retry = unconfirmedRetryAfter
	case errors.Is(err, linq.ErrWebhookNoSecret):
		reason, msg, kind = "webhook_not_configured", "no webhook signing secret is known yet", apperr.Unavailable
		retry = 10 * time.Second
	case errors.Is(err, linq.ErrWebhookHeaders):
		reason, msg = "missing_signature", "the webhook signature headers are missing"
	case errors.Is(err, linq.ErrWebhookTimestamp):
		reason, msg = "stale_timestamp", "the webhook timestamp is outside the tolerance"
	case errors.Is(err, linq.ErrWebhookSignature):
		reason, msg = "invalid_signature", "no webhook signature matches"
	default:
		return err
	}
	s.metrics.WebhooksRejected.WithLabelValues(reason).Inc()
	e := apperr.New(kind, reason, msg)
	e.RetryAfter = retry
	return e
}

// TargetURL is the URL Linegate's Linq subscription points at.
func (s *Service) TargetURL() string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + Path + "?version=" + linq.WebhookVersion20260203
}

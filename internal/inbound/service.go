package inbound

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/groupcommit"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Queue is the River queue webhook processing runs on.
const Queue = "webhooks"

// HealthApplier takes Linq's observations of a line (line health).
type HealthApplier interface {
	Apply(ctx context.Context, tx pgx.Tx, in health.Input) error
}

// Publisher sends events to product services, inside tx.
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, evs ...events.Event) error
}

// InboundRecorder counts an inbound message in its line's budget.
type InboundRecorder interface {
	RecordInboundTx(ctx context.Context, db store.DBTX, lineID int64, userID *int64, at time.Time) error
}

// Config configures a Service.
type Config struct {
	// DefaultRegion parses sender handles written without a country code.
	DefaultRegion string
	// StoreMessageText keeps message text in the stored webhook payloads;
	// otherwise it is removed once the event is processed.
	StoreMessageText bool
	// BatchMax is the most events one processing transaction takes
	// (default 64); BatchFlights how many such transactions run at once
	// (default 2). See Process.
	BatchMax     int
	BatchFlights int
	Now          func() time.Time
}

// Service processes accepted webhook events.
type Service struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	health  HealthApplier
	events  Publisher
	inbound InboundRecorder
	log     *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	batch   *groupcommit.Batcher[string, error]
}

// New builds the processor. health may be nil while no line-health service
// is wired: line observations are then only stored with their event.
func New(pool *pgxpool.Pool, rec InboundRecorder, pub Publisher, hl HealthApplier, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	cfg.DefaultRegion = cmp.Or(cfg.DefaultRegion, "US")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{pool: pool, q: store.New(), health: hl, events: pub, inbound: rec, log: logger, metrics: m, cfg: cfg}
	sizes := m.GroupCommitSize.WithLabelValues("webhook_processing")
	s.batch = groupcommit.New(groupcommit.Config{
		Max: cfg.BatchMax, Flights: cfg.BatchFlights,
		Observe: func(n int) { sizes.Observe(float64(n)) },
	}, s.processBatch)
	return s
}

// ProcessArgs is the River job that processes one accepted event.
type ProcessArgs struct {
	EventID string `json:"event_id"`
}

// Kind names the job in River.
func (ProcessArgs) Kind() string { return "linq_webhook_event" }

// InsertOpts makes one job per event: a second insert for the same event_id
// while the first is still queued is skipped by River.
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Worker returns the River worker that processes events.
func (s *Service) Worker() river.Worker[ProcessArgs] { return &worker{s: s} }

type worker struct {
	river.WorkerDefaults[ProcessArgs]
	s *Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	return w.s.Process(ctx, job.Args.EventID)
}

// Process applies one stored event. Running it again for the same event
// does nothing. Concurrent calls are gathered into one transaction (group
// commit, processBatch); each returns once its own event has committed, with
// its own error, and an event whose batch failed has been retried alone.
func (s *Service) Process(ctx context.Context, eventID string) error {
	failed, err := s.batch.Do(ctx, eventID)
	if err != nil {
		return err
	}
	return failed
}

// apply dispatches on the event type and says what it did. Events for
// product services go to out, published once for the whole batch.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, out *outbox, it *item) (string, error) {
	ev := it.ev
	switch ev.EventType {
	case linq.EventMessageReceived:
		if it.msg == nil {
			return "malformed", nil // stored for inspection; retrying cannot help
		}
		return s.received(ctx, tx, out, ev, it.msg)
	case linq.EventMessageSent, linq.EventMessageDelivered, linq.EventMessageRead:
		return s.status(ctx, tx, out, ev, it.sent)
	case linq.EventMessageFailed:
		return s.failed(ctx, tx, out, ev, it.failure)
	case linq.EventPhoneNumberStatusUpdated:
		return s.lineStatus(ctx, tx, ev)
	case linq.EventChatCreated:
		return s.chatCreated(ctx, tx, out, ev)
	default:
		return "ignored", nil
	}
}

// scrub drops message text from a processed payload unless it is to be
// kept: "parts" (messages) and "part" (edits) inside data, and the parts of
// the "message" inside data (the 2025-01-01 format). Keys are matched as
// encoding/json matches them, case-insensitively with Unicode folding, so
// that "Data" or "PARTS" cannot carry text past the scrub into what the
// event's decoding reads.
func (s *Service) scrub(payload []byte) []byte {
	if s.cfg.StoreMessageText {
		return payload
	}
	var env map[string]json.RawMessage
	if json.Unmarshal(payload, &env) != nil {
		return payload
	}
	changed := false
	for k, raw := range env {
		if !strings.EqualFold(k, "data") {
			continue
		}
		if b, ok := withoutText(raw, true); ok {
			env[k], changed = b, true
		}
	}
	if !changed {
		return payload
	}
	out, err := json.Marshal(env)
	if err != nil {
		return payload
	}
	return out
}

// withoutText is the JSON object raw without its "parts" and "part" and,
// when nested, without those of a "message" inside it; ok says whether it
// was rewritten (raw is returned unchanged otherwise). An object with a
// "message" is always rewritten: encoding/json merges a repeated
// "message" into one struct, so an earlier copy with parts must go too.
func withoutText(raw json.RawMessage, nested bool) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return raw, false
	}
	changed := false
	for k, v := range obj {
		switch {
		case strings.EqualFold(k, "parts") || strings.EqualFold(k, "part"):
			delete(obj, k)
			changed = true
		case nested && strings.EqualFold(k, "message"):
			obj[k], _ = withoutText(v, false)
			changed = true
		}
	}
	if !changed {
		return raw, false
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return raw, false
	}
	return b, true
}

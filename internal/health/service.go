package health

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// Publisher sends events to product services in the caller's transaction
// (internal/events).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, evs ...events.Event) error
}

// Linq is the part of the Linq client line health uses: the line list and a
// capability check for the poll, contact cards for the line sync and the
// share job.
type Linq interface {
	ListPhoneNumbers(ctx context.Context) (*linq.ListPhoneNumbersResponse, error)
	CheckIMessage(ctx context.Context, req linq.CapabilityCheckRequest) (*linq.CapabilityCheckResponse, error)
	GetContactCard(ctx context.Context, phoneNumber string) (*linq.ContactCardsResponse, error)
	CreateContactCard(ctx context.Context, req linq.CreateContactCardRequest) (*linq.ContactCard, error)
	UpdateContactCard(ctx context.Context, req linq.UpdateContactCardRequest) (*linq.ContactCard, error)
	ShareContactCard(ctx context.Context, chatID string) (*linq.Ack, error)
}

// Config tunes line health. New fills zero values with the defaults named
// on each field; the gateway's config sets every one explicitly.
type Config struct {
	// StaleAfter: a line whose status no source confirmed for this long
	// shows "stale" to ops (10 min).
	StaleAfter time.Duration
	// ProbeFlags makes the poll check each line with a capability check
	// from it, the one read in Linq's API that answers 2027 for a flagged
	// line (true in the gateway's config).
	ProbeFlags bool
	// RecoveryDwell is how long a line must stay ok before its users come
	// back (6 h); RecoveryPerMinute how many per line per recovery tick
	// (50).
	RecoveryDwell     time.Duration
	RecoveryPerMinute int
	// A line that enters a failing state FlapLimit times (3) within
	// FlapWindow (7 days) is held until ops re-activate it.
	FlapLimit  int
	FlapWindow time.Duration
	// CompanyName is the contact card's name; ContinuationText the text
	// sent before the first message on a user's new line ({company} is
	// replaced by CompanyName).
	CompanyName      string
	ContinuationText string
	// CardReshareAfter is the least time between two shares of a line's
	// contact card into one chat (24 h).
	CardReshareAfter time.Duration
	// CardShareScan is how many of the newest sent messages a share run
	// reads for the chats to share the card into again (50,000).
	CardShareScan int
	Now           func() time.Time
}

// DefaultContinuationText is the continuation template by default.
const DefaultContinuationText = "This is {company}'s new number — same conversation, just a new line."

// Service is line health: applying inputs, failover, recovery, the poll and
// contact cards.
type Service struct {
	pool    *pgxpool.Pool
	lines   *lines.Service
	router  *router.Service
	linq    Linq
	pub     Publisher
	logger  *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	q       *store.Queries
}

// New builds a Service. linqClient may be nil when there is no Linq to
// poll (the poll and contact cards then answer an error).
func New(pool *pgxpool.Pool, ls *lines.Service, r *router.Service, linqClient Linq, pub Publisher, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	cfg.StaleAfter = cmp.Or(cfg.StaleAfter, 10*time.Minute)
	cfg.RecoveryDwell = cmp.Or(cfg.RecoveryDwell, 6*time.Hour)
	cfg.RecoveryPerMinute = cmp.Or(cfg.RecoveryPerMinute, 50)
	cfg.FlapLimit = cmp.Or(cfg.FlapLimit, 3)
	cfg.FlapWindow = cmp.Or(cfg.FlapWindow, 7*24*time.Hour)
	cfg.CompanyName = cmp.Or(cfg.CompanyName, "Linegate")
	cfg.ContinuationText = cmp.Or(cfg.ContinuationText, DefaultContinuationText)
	cfg.CardReshareAfter = cmp.Or(cfg.CardReshareAfter, 24*time.Hour)
	cfg.CardShareScan = cmp.Or(cfg.CardShareScan, 50_000)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.New()
	}
	s := &Service{pool: pool, lines: ls, router: r, linq: linqClient, pub: pub, logger: logger, metrics: m, cfg: cfg, q: store.New()}
	if pool != nil {
		m.StrandedUsers.ReadFrom(func(ctx context.Context) (int64, error) { return s.q.LineHealthStranded(ctx, pool) })
	}
	return s
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// ContinuationText is the text sent before the first message on a user's
// new line.
func (s *Service) ContinuationText() string {
	return strings.ReplaceAll(s.cfg.ContinuationText, "{company}", s.cfg.CompanyName)
}

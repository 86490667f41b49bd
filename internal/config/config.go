// Package config reads Linegate's one typed configuration from the environment
// and validates it before anything starts, so a bad setting stops the process
// with a message naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"
)

// DefaultLinqBaseURL is Linq's production API base.
const DefaultLinqBaseURL = "https://api.linqapp.com/api/partner"

// DefaultSimulatorURL is where `gateway sim` listens by default.
const DefaultSimulatorURL = "http://127.0.0.1:8090"

// Config is every setting of the gateway. Defaults sit in the `default` tags;
// `secret` fields are masked when the config is logged.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" secret:"true"`
	HTTPAddr    string `env:"HTTP_ADDR" default:"127.0.0.1:8080"`
	PublicURL   string `env:"PUBLIC_URL" default:"http://127.0.0.1:8080"`
	LogLevel    string `env:"LOG_LEVEL" default:"info"`
	LogFormat   string `env:"LOG_FORMAT" default:"text"`

	MigrateOnStart bool          `env:"MIGRATE_ON_START" default:"true"`
	DBMaxConns     int           `env:"DB_MAX_CONNS" default:"20"`
	ShutdownGrace  time.Duration `env:"SHUTDOWN_TIMEOUT" default:"20s"`
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" default:"15s"`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES" default:"1048576"`
	AuthCacheTTL   time.Duration `env:"AUTH_CACHE_TTL" default:"2s"`

	// Calls to Linq are bounded by the deadline of the request or job that
	// makes them, so there is no separate Linq timeout.
	LinqBaseURL string `env:"LINQ_BASE_URL" default:"https://api.linqapp.com/api/partner"`
	LinqAPIKey  string `env:"LINQ_API_KEY" secret:"true"`

	CompanyName   string `env:"COMPANY_NAME" default:"Linegate"`
	DefaultRegion string `env:"DEFAULT_REGION" default:"US"`

	LineSyncSpec       string        `env:"LINE_SYNC_SCHEDULE" default:"@every 5m"`
	LineDailyBudget    int           `env:"LINE_DAILY_BUDGET" default:"7000"`
	WarmupDays         int           `env:"WARMUP_DAYS" default:"14"`
	Headroom           float64       `env:"HEADROOM" default:"0.15"`
	MsgsPerUserPerDay  float64       `env:"MSGS_PER_USER_PER_DAY" default:"20"`
	BackupCount        int           `env:"BACKUP_COUNT" default:"2"`
	SignupRampPerHour  int           `env:"SIGNUP_RAMP_PER_HOUR" default:"200"`
	SignupLinkTTL      time.Duration `env:"SIGNUP_LINK_TTL" default:"720h"`
	PublicRatePerMin   int           `env:"PUBLIC_RATE_PER_MINUTE" default:"120"`
	PairLimit          int           `env:"PAIR_LIMIT" default:"30"`
	PairWindow         time.Duration `env:"PAIR_WINDOW" default:"60s"`
	QuarantineHits     int           `env:"QUARANTINE_HITS" default:"3"`
	QuarantineFor      time.Duration `env:"QUARANTINE_DURATION" default:"1h"`
	ReplyReserve       float64       `env:"REPLY_RESERVE" default:"0.10"`
	ReplyWindow        time.Duration `env:"REPLY_WINDOW" default:"30m"`
	StoreMessageText   bool          `env:"STORE_MESSAGE_TEXT" default:"false"`
	IdempotencyKeepFor time.Duration `env:"IDEMPOTENCY_TTL" default:"48h"`

	// Linq webhooks in, events out to product services (see webhooks.go).
	LinqWebhookSecrets   string        `env:"LINQ_WEBHOOK_SECRETS" secret:"true"`
	LinqWebhookSubscribe bool          `env:"LINQ_WEBHOOK_SUBSCRIBE" default:"true"`
	WebhookMaxBodyBytes  int64         `env:"WEBHOOK_MAX_BODY_BYTES" default:"262144"`
	WebhookTolerance     time.Duration `env:"WEBHOOK_TOLERANCE" default:"5m"`
	EventRetryBase       time.Duration `env:"EVENT_RETRY_BASE" default:"30s"`
	EventRetryMaxDelay   time.Duration `env:"EVENT_RETRY_MAX_DELAY" default:"4h"`
	EventRetryFor        time.Duration `env:"EVENT_RETRY_FOR" default:"25h"`
	EventDeliveryTimeout time.Duration `env:"EVENT_DELIVERY_TIMEOUT" default:"10s"`
	EventSecretOverlap   time.Duration `env:"EVENT_SECRET_OVERLAP" default:"24h"`
	JobWorkers           int           `env:"JOB_WORKERS" default:"20"`
	JobPollInterval      time.Duration `env:"JOB_POLL_INTERVAL" default:"1s"`

	// Line health, failover, recovery and contact cards (see health.go).
	AtRiskPace         float64       `env:"AT_RISK_PACE" default:"0.5"`
	HealthPollSpec     string        `env:"HEALTH_POLL_SCHEDULE" default:"@every 1m"`
	HealthProbeFlags   bool          `env:"HEALTH_PROBE_FLAGS" default:"true"`
	HealthStaleAfter   time.Duration `env:"HEALTH_STALE_AFTER" default:"10m"`
	RecoverySpec       string        `env:"RECOVERY_SCHEDULE" default:"@every 1m"`
	RecoveryDwell      time.Duration `env:"RECOVERY_DWELL" default:"6h"`
	RecoveryPerMinute  int           `env:"RECOVERY_USERS_PER_MINUTE" default:"50"`
	FlapLimit          int           `env:"FLAP_LIMIT" default:"3"`
	FlapWindow         time.Duration `env:"FLAP_WINDOW" default:"168h"`
	ContinuationText   string        `env:"CONTINUATION_TEXT" default:"This is {company}'s new number — same conversation, just a new line."`
	ContactCardSpec    string        `env:"CONTACT_CARD_SCHEDULE" default:"@every 10m"`
	ContactCardReshare time.Duration `env:"CONTACT_CARD_RESHARE" default:"24h"`

	// Exposure: the metrics listener, trusted proxies, key-guess throttle
	// (see exposure.go).
	MetricsAddr           string `env:"METRICS_ADDR" default:"127.0.0.1:9090"`
	TrustedProxies        string `env:"TRUSTED_PROXIES"`
	AuthFailuresPerMinute int    `env:"AUTH_FAILURES_PER_MINUTE" default:"30"`

	// Retention: how long rows that grow with traffic are kept (see
	// retention.go).
	RetentionSpec  string `env:"RETENTION_SCHEDULE" default:"@every 1h"`
	RetentionBatch int    `env:"RETENTION_BATCH" default:"5000"`
	// MessagesRetention is how long sent messages are kept: whole days, as
	// messages' day partitions are dropped (at least IDEMPOTENCY_TTL + 1 day).
	MessagesRetention            time.Duration `env:"MESSAGES_RETENTION" default:"720h"`
	WebhookEventsRetention       time.Duration `env:"WEBHOOK_EVENTS_RETENTION" default:"168h"`
	EventDeliveriesRetention     time.Duration `env:"EVENT_DELIVERIES_RETENTION" default:"168h"`
	DeadEventDeliveriesRetention time.Duration `env:"DEAD_EVENT_DELIVERIES_RETENTION" default:"720h"`
	LinqMessagesRetention        time.Duration `env:"LINQ_MESSAGES_RETENTION" default:"720h"`
	SignupLinksRetention         time.Duration `env:"SIGNUP_LINKS_RETENTION" default:"168h"`
	OpsSessionsRetention         time.Duration `env:"OPS_SESSIONS_RETENTION" default:"24h"`
	PairQuarantinesRetention     time.Duration `env:"PAIR_QUARANTINES_RETENTION" default:"720h"`
	LineHealthHistoryRetention   time.Duration `env:"LINE_HEALTH_HISTORY_RETENTION" default:"2160h"`
	FailoversRetention           time.Duration `env:"FAILOVERS_RETENTION" default:"2160h"`
	LineLedgerRetention          time.Duration `env:"LINE_LEDGER_RETENTION" default:"2160h"`
	CompletedJobsRetention       time.Duration `env:"COMPLETED_JOBS_RETENTION" default:"24h"`
	CancelledJobsRetention       time.Duration `env:"CANCELLED_JOBS_RETENTION" default:"24h"`
	DiscardedJobsRetention       time.Duration `env:"DISCARDED_JOBS_RETENTION" default:"168h"`
}

// FieldError names the variable that holds a bad value.
type FieldError struct {
	Var    string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config: %s: %s", e.Var, e.Reason) }

// Load reads the environment through getenv (os.Getenv in production) and
// validates the result.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var c Config
	if err := decode(&c, getenv); err != nil {
		return Config{}, err
	}
	// Without a Linq key there is nothing real to talk to: default to the
	// local simulator so no message can leave the machine by accident.
	if c.LinqAPIKey == "" && getenv("LINQ_BASE_URL") == "" {
		c.LinqBaseURL = DefaultSimulatorURL
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every setting that could make the service misbehave later.
func (c Config) Validate() error {
	var errs []error
	add := func(v, reason string) { errs = append(errs, &FieldError{Var: v, Reason: reason}) }
	if c.DatabaseURL == "" {
		add("DATABASE_URL", "is required")
	} else if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		add("DATABASE_URL", "is not a valid Postgres connection string")
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		add("LOG_LEVEL", err.Error())
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("LOG_FORMAT", `must be "json" or "text"`)
	}
	for _, u := range []struct{ name, val string }{{"PUBLIC_URL", c.PublicURL}, {"LINQ_BASE_URL", c.LinqBaseURL}} {
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add(u.name, "must be an absolute http(s) URL")
		}
	}
	if c.DBMaxConns < 2 {
		add("DB_MAX_CONNS", "must be at least 2")
	}
	if c.MaxBodyBytes < 1024 {
		add("MAX_BODY_BYTES", "must be at least 1024")
	}
	if _, err := cron.ParseStandard(c.LineSyncSpec); err != nil {
		add("LINE_SYNC_SCHEDULE", "is not a valid cron spec")
	}
	if c.LineDailyBudget <= 0 {
		add("LINE_DAILY_BUDGET", "must be positive")
	}
	if c.WarmupDays < 0 {
		add("WARMUP_DAYS", "must not be negative")
	}
	if c.Headroom < 0 || c.Headroom > 0.5 {
		add("HEADROOM", "must be between 0 and 0.5")
	}
	if c.MsgsPerUserPerDay <= 0 {
		add("MSGS_PER_USER_PER_DAY", "must be positive")
	}
	if c.BackupCount < 0 || c.BackupCount > 5 {
		add("BACKUP_COUNT", "must be between 0 and 5")
	}
	if c.SignupRampPerHour <= 0 {
		add("SIGNUP_RAMP_PER_HOUR", "must be positive")
	}
	if c.PairLimit <= 0 || c.PairWindow <= 0 {
		add("PAIR_LIMIT", "limit and PAIR_WINDOW must be positive")
	}
	if c.ReplyReserve < 0 || c.ReplyReserve >= 1 {
		add("REPLY_RESERVE", "must be in [0, 1)")
	}
	if c.QuarantineHits < 0 {
		add("QUARANTINE_HITS", "must not be negative (0 turns the loop guard off)")
	}
	if c.QuarantineFor <= 0 {
		add("QUARANTINE_DURATION", "must be positive")
	}
	if c.ReplyWindow < 0 {
		add("REPLY_WINDOW", "must not be negative")
	}
	if c.RequestTimeout <= 0 {
		add("REQUEST_TIMEOUT", "must be positive")
	}
	if c.IdempotencyKeepFor < 24*time.Hour {
		add("IDEMPOTENCY_TTL", "must be at least 24h")
	}
	if c.MessagesRetention < c.IdempotencyKeepFor+24*time.Hour || c.MessagesRetention > maxRetention {
		add("MESSAGES_RETENTION", fmt.Sprintf("must be between IDEMPOTENCY_TTL + 24h and %s", maxRetention))
	}
	errs = append(errs, c.validateWebhooks()...)
	errs = append(errs, c.validateHealth()...)
	errs = append(errs, c.validateExposure()...)
	errs = append(errs, c.validateRetention()...)
	return errors.Join(errs...)
}

// Warnings lists settings that are legal but unwise.
func (c Config) Warnings() []string {
	var w []string
	if c.Headroom < 0.10 || c.Headroom > 0.20 {
		w = append(w, fmt.Sprintf("HEADROOM=%.2f is outside the recommended 0.10-0.20", c.Headroom))
	}
	return w
}

// SimulatedLinq reports whether no Linq API key is configured, in which case
// the gateway must be talking to the simulator.
func (c Config) SimulatedLinq() bool { return c.LinqAPIKey == "" }

// ParseLevel maps a LOG_LEVEL value to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("unknown log level %q (use debug, info, warn or error)", s)
	}
	return l, nil
}

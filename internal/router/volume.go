package router

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// VolumeDays is how many UTC days (today included) the user lookup shows;
// the retention job keeps user_volume's days that long.
const VolumeDays = 7

// UserVolume is a user's messages per UTC day over the last VolumeDays.
// Inbound is counted as the webhook workers process it; outbound is folded
// from the sent messages by a job, and counts the messages made up to
// OutboundAsOf (a couple of minutes behind).
type UserVolume struct {
	Inbound      int         `json:"inbound"`
	Outbound     int         `json:"outbound"`
	OutboundAsOf time.Time   `json:"outbound_as_of"`
	Days         []VolumeDay `json:"days"`
}

// VolumeDay is one UTC day of a user's messages (days without any are left
// out).
type VolumeDay struct {
	Day      string `json:"day"`
	Inbound  int    `json:"inbound"`
	Outbound int    `json:"outbound"`
}

// VolumeFold keeps user_volume's outbound counts: each run adds the
// messages made since the last one (by their ids' time, up to Lag ago, when
// a first attempt Linq refused has given its row back) to their users'
// days of admission. It runs as a scheduled job (user_volume), so the send
// path writes nothing for it; two replicas running it at once take turns on
// its mark and never count a message twice. The retention job prunes the
// days the lookup no longer shows.
type VolumeFold struct {
	db     store.DBTX
	logger *slog.Logger
	cfg    VolumeFoldConfig
	q      *store.Queries
}

// VolumeFoldConfig tunes the user_volume job.
type VolumeFoldConfig struct {
	// Lag is how old a message must be to be counted: longer than a send
	// takes to give back a refused first attempt, plus how far a replica's
	// clock (which makes message ids) may run behind the database's.
	Lag time.Duration
	// MaxStep bounds how much time one run folds, so that a run after a
	// long stop stays short; the next runs catch up.
	MaxStep time.Duration
}

// NewVolumeFold builds a VolumeFold on db (the pool).
func NewVolumeFold(db store.DBTX, logger *slog.Logger, cfg VolumeFoldConfig) *VolumeFold {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.MaxStep = max(cfg.MaxStep, time.Minute)
	return &VolumeFold{db: db, logger: logger, cfg: cfg, q: store.New()}
}

// Run folds once; it returns how many messages it counted.
func (f *VolumeFold) Run(ctx context.Context) (int64, error) {
	r, err := f.q.UserVolumeFold(ctx, f.db, store.UserVolumeFoldParams{
		Lag: store.Interval(f.cfg.Lag), Span: store.Interval(f.cfg.MaxStep),
	})
	if err != nil {
		return 0, fmt.Errorf("fold user volume: %w", err)
	}
	if r.Messages > 0 {
		f.logger.DebugContext(ctx, "user volume folded", slog.Int64("messages", r.Messages), slog.Time("until", r.FoldedUntil))
	}
	return r.Messages, nil
}

// volumeOf reads a user's last VolumeDays (days by the database clock, as
// the counts are).
func (s *Service) volumeOf(ctx context.Context, userID int64) (UserVolume, error) {
	asOf, err := s.q.UserVolumeFoldedUntil(ctx, s.pool)
	if err != nil {
		return UserVolume{}, fmt.Errorf("read user volume mark: %w", err)
	}
	days, err := s.q.UserVolumeListByUser(ctx, s.pool, store.UserVolumeListByUserParams{UserID: userID, Days: VolumeDays})
	if err != nil {
		return UserVolume{}, fmt.Errorf("read user volume: %w", err)
	}
	v := UserVolume{OutboundAsOf: asOf.UTC(), Days: make([]VolumeDay, 0, len(days))}
	for _, d := range days {
		v.Inbound += int(d.Inbound)
		v.Outbound += int(d.Outbound)
		v.Days = append(v.Days, VolumeDay{Day: d.Day.Format(time.DateOnly), Inbound: int(d.Inbound), Outbound: int(d.Outbound)})
	}
	return v, nil
}

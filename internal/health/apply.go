package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// Outcome says what applying one input did.
type Outcome struct {
	LineID int64
	// Stale inputs changed nothing: each signal they saw was seen later by
	// an input applied before (or they saw none).
	Stale    bool
	From, To string
	// Failover is set when users were moved (or found no room).
	Failover *router.FailoverResult
}

// Changed reports whether the input moved the line to another state.
func (o Outcome) Changed() bool { return o.From != o.To }

// Apply applies one input to its line inside tx, the caller's transaction:
// the worker that processes a webhook, the send path on a 2027, the poll.
func (s *Service) Apply(ctx context.Context, tx pgx.Tx, in Input) error {
	_, err := s.ApplyOutcome(ctx, tx, in)
	return err
}

// ApplyOutcome is Apply that also says what happened.
//
// Locking: when the input or the line's stored state can mean a failover,
// the pool lock is taken before the line's row, in the order signups and
// every move take them, so they never deadlock; without it, the line's row
// is the only lines row the input locks (no failover runs), and a signup
// batch that planned with the line notices the change when it locks the
// row. The row lock then serialises inputs of one line, and the event-time
// check of each signal makes replicas applying the same input agree: the
// first applies it, the others find it stale.
func (s *Service) ApplyOutcome(ctx context.Context, tx pgx.Tx, in Input) (Outcome, error) {
	if in.Source == "" {
		return Outcome{}, errors.New("health input: source is empty")
	}
	if in.At.IsZero() {
		in.At = s.cfg.Now()
	}
	in.At = in.At.Truncate(time.Microsecond) // Postgres keeps microseconds
	in.StatusAt = in.StatusAt.Truncate(time.Microsecond)
	id := in.LineID
	if id == 0 {
		var err error
		id, err = s.q.LineHealthIDByNumber(ctx, tx, in.Number)
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return Outcome{}, apperr.New(apperr.NotFound, "line_not_found", "no line with number "+in.Number)
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("find line %s: %w", in.Number, err)
		}
	}
	pre, err := s.q.LineHealthGet(ctx, tx, id)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return Outcome{}, lines.NotFound(id)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("read line %d: %w", id, err)
	}
	preSig, _ := merge(pre, in)
	pooled := FailsOver(pre.HealthState) || FailsOver(Derive(preSig))
	if pooled {
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return Outcome{}, fmt.Errorf("lock line pool: %w", err)
		}
	}
	cur, err := s.q.LineHealthLock(ctx, tx, id)
	if err != nil {
		return Outcome{}, fmt.Errorf("lock line %d: %w", id, err)
	}
	out := Outcome{LineID: id, From: cur.HealthState, To: cur.HealthState}
	sig, set := merge(cur, in)
	at, fresh := set.newest()
	if !fresh {
		out.Stale = true
		s.metrics.HealthInputs.WithLabelValues(in.Source, "stale").Inc()
		return out, nil
	}
	out.To = Derive(sig)
	u := store.LineHealthUpdateParams{
		ID: id, ServiceStatus: sig.ServiceStatus, Reputation: sig.Reputation,
		IneligibleAt: cur.IneligibleAt, MissingAt: cur.LinqMissingAt,
		HealthState: out.To, HealthSince: cur.HealthSince, HealthCause: cur.HealthCause,
		HeldAt: cur.HeldAt, RecoveryAt: cur.RecoveryAt,
		StatusAt: set.Status, ReputationAt: set.Reputation, ListingAt: set.Listing,
		At: at, Changed: out.Changed(), Now: s.cfg.Now(),
	}
	// Only an input that set the status can mark the line ineligible, and
	// only the poll's listing can mark it missing.
	switch {
	case sig.Ineligible && cur.IneligibleAt == nil:
		u.IneligibleAt = set.Status
	case !sig.Ineligible:
		u.IneligibleAt = nil
	}
	switch {
	case sig.Missing && cur.LinqMissingAt == nil:
		u.MissingAt = set.Listing
	case !sig.Missing:
		u.MissingAt = nil
	}
	cause := causeOf(in, sig, out.To)
	if out.Changed() {
		u.HealthSince, u.HealthCause = &at, &cause
		if out.To == StateOK && u.HeldAt == nil {
			back := at.Add(s.cfg.RecoveryDwell)
			u.RecoveryAt = &back
		}
		if FailsOver(out.To) && !FailsOver(out.From) {
			u.RecoveryAt = nil
			n, err := s.q.LineHealthFlapCount(ctx, tx, store.LineHealthFlapCountParams{LineID: id, Since: at.Add(-s.cfg.FlapWindow)})
			if err != nil {
				return out, fmt.Errorf("count line failures: %w", err)
			}
			if int(n)+1 >= s.cfg.FlapLimit && cur.HeldAt == nil {
				u.HeldAt = &at
			}
		}
	}
	n, err := s.q.LineHealthUpdate(ctx, tx, u)
	if err != nil {
		return out, fmt.Errorf("store line health: %w", err)
	}
	if n == 0 { // a newer input of a signal won meanwhile (cannot happen under the row lock; kept as a guard)
		out.Stale, out.To = true, out.From
		return out, nil
	}
	s.metrics.HealthInputs.WithLabelValues(in.Source, "applied").Inc()
	if out.Changed() {
		if err := s.transition(ctx, tx, cur, in, at, out, cause, u.HeldAt != nil); err != nil {
			return out, err
		}
	}
	// Without the pool lock the line was read as not failing and failed
	// meanwhile: the input that made it fail ran its failover, and the
	// sweep retries the users still on it. Taking the pool lock now, with
	// the line's row held, would deadlock with a move that holds the pool
	// lock and then updates the line's user count.
	if pooled && FailsOver(out.To) && (out.Changed() || cur.UserCount > 0) {
		fo, err := s.failoverTx(ctx, tx, router.FailoverRequest{LineID: id, Reason: router.LedgerFailover, Cause: cause})
		if err != nil {
			return out, err
		}
		out.Failover = &fo
	}
	return out, nil
}

// seen says when an input saw each signal it set; nil for the others.
type seen struct{ Status, Reputation, Listing *time.Time }

// newest is the latest time of s, and false when s is empty.
func (s seen) newest() (time.Time, bool) {
	var at time.Time
	for _, t := range []*time.Time{s.Status, s.Reputation, s.Listing} {
		if t != nil && t.After(at) {
			at = *t
		}
	}
	return at, !at.IsZero()
}

// merge lays the signals the input saw over the stored ones, each only
// when the input saw it later than the stored one was seen: inputs arrive
// out of order (Linq retries a webhook for about 25 minutes), and one that
// did not see a signal knows nothing newer of it. The service status and a
// 2027 mark say together whether the line may send and are ordered as one:
// a source that sees the line ACTIVE (a webhook, the poll's check) clears
// the mark. Only the poll knows whether Linq still lists the line. It
// returns the signals and when the input saw those it set.
func merge(l store.Line, in Input) (Signals, seen) {
	sig := Signals{ServiceStatus: l.ServiceStatus, Reputation: l.Reputation, Ineligible: l.IneligibleAt != nil, Missing: l.LinqMissingAt != nil}
	newer := func(stored *time.Time, at time.Time) bool { return stored == nil || at.After(*stored) }
	var set seen
	if at := in.statusAt(); (in.ServiceStatus != "" || in.Ineligible) && newer(l.StatusInputAt, at) {
		set.Status = &at
		if in.ServiceStatus != "" {
			sig.ServiceStatus = in.ServiceStatus
			if in.ServiceStatus == lines.StatusActive {
				sig.Ineligible = false
			}
		}
		if in.Ineligible {
			sig.Ineligible = true
		}
	}
	if at := in.At; in.Reputation != "" && newer(l.ReputationInputAt, at) {
		set.Reputation = &at
		sig.Reputation = in.Reputation
	}
	if at := in.At; in.Source == SourcePoll && newer(l.ListingInputAt, at) {
		set.Listing = &at
		sig.Missing = in.Missing
	}
	return sig, set
}

// causeOf names the input that set state, e.g. "webhook: service status
// FLAGGED".
func causeOf(in Input, sig Signals, state string) string {
	var what string
	switch state {
	case StateMissing:
		what = "not listed by Linq"
	case StateDown:
		if sig.ServiceStatus != lines.StatusActive {
			what = "service status " + sig.ServiceStatus
		} else {
			what = "ineligible (2027)"
		}
	case StateCritical, StateAtRisk:
		what = "reputation " + sig.Reputation
	default:
		what = "active and healthy"
	}
	return in.Source + ": " + what
}

// LineStatusChanged is the payload of line.status_changed.
type LineStatusChanged struct {
	LineID int64     `json:"line_id"`
	Number string    `json:"number"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	Since  time.Time `json:"since"`
	// Held is set while the line is held: it failed too often (FLAP_LIMIT
	// within FLAP_WINDOW) and stays out of recovery and signups, whatever
	// its state, until ops re-activate it.
	Held bool `json:"held"`
}

// transition records a state change, seen at at, and tells product
// services.
func (s *Service) transition(ctx context.Context, tx pgx.Tx, l store.Line, in Input, at time.Time, out Outcome, cause string, held bool) error {
	var eventID *string
	if in.EventID != "" {
		eventID = &in.EventID
	}
	hid, err := s.q.LineHealthHistoryInsert(ctx, tx, store.LineHealthHistoryInsertParams{
		LineID: l.ID, FromState: out.From, ToState: out.To, Source: in.Source, Cause: cause,
		EventID: eventID, ObservedAt: at, Now: s.cfg.Now(),
	})
	if err != nil {
		return fmt.Errorf("record line health transition: %w", err)
	}
	s.metrics.HealthTransitions.WithLabelValues(out.From, out.To).Inc()
	lvl := slog.LevelInfo
	if FailsOver(out.To) || held {
		lvl = slog.LevelWarn
	}
	s.logger.Log(ctx, lvl, "line health changed", slog.Int64("line_id", l.ID), slog.String("from", out.From),
		slog.String("to", out.To), slog.String("cause", cause), slog.Bool("held", held))
	return s.pub.Publish(ctx, tx, events.Event{
		Row: &events.Row{Table: "line_health_history", ID: hid}, Type: events.TypeLineStatusChanged, OccurredAt: at,
		Data: LineStatusChanged{LineID: l.ID, Number: l.Number, From: out.From, To: out.To, Cause: cause, Since: at, Held: held},
	})
}

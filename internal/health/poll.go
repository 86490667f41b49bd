package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// linqInFlight bounds the Linq calls a job makes at once (a check per line,
// a card per line, a share per chat): enough to cover a large pool within a
// run, few enough not to crowd the sends out of Linq.
const linqInFlight = 8

// PollResult summarises one poll.
type PollResult struct {
	Listed      int `json:"listed"`
	Applied     int `json:"applied"`
	Transitions int `json:"transitions"`
	Moved       int `json:"moved"`
	Stranded    int `json:"stranded"`
	ProbeErrors int `json:"probe_errors"`
}

// Poll reads GET /v3/phone_numbers and applies, per line, its reputation and
// whether Linq still lists it; with ProbeFlags it also checks each listed
// line with a capability check from it (Linq's list has no service status;
// a flagged line answers 2027 to the check, an active one answers). It is
// the safety net for status_updated webhooks that never arrived. An empty
// list marks nothing missing: far likelier a Linq glitch than an empty pool.
//
// Each observation is stamped with the time it was asked for: the list's
// (a line's reputation and whether it is listed) when the list was
// requested, a line's service status when its check was. A check that
// fails says nothing of the status, so a delayed webhook of an earlier
// status change still applies after the poll.
//
// The checks run linqInFlight at a time. Most polls change nothing: the
// lines whose signals and state come back as stored are confirmed in one
// statement, and only the others are applied one by one (with their
// transitions and failovers), as are the lines whose rows another
// transaction held during the confirm (it waits for none).
func (s *Service) Poll(ctx context.Context) (PollResult, error) {
	var res PollResult
	if s.linq == nil {
		return res, errors.New("health poll: no Linq client")
	}
	listedAt := s.cfg.Now().Truncate(time.Microsecond) // Postgres keeps microseconds
	resp, err := s.linq.ListPhoneNumbers(ctx)
	if err != nil {
		return res, fmt.Errorf("list linq phone numbers: %w", err)
	}
	listed := make(map[string]linq.PhoneNumber, len(resp.PhoneNumbers))
	for _, p := range resp.PhoneNumbers {
		listed[p.PhoneNumber] = p
	}
	res.Listed = len(listed)
	ls, err := s.q.LineHealthList(ctx, s.pool)
	if err != nil {
		return res, fmt.Errorf("read line health: %w", err)
	}
	type polled struct {
		line     store.LineHealthListRow
		in       Input
		probeErr error
	}
	var ps []polled
	for _, l := range ls {
		if l.AdminState == lines.AdminRetired {
			continue
		}
		in := Input{LineID: l.ID, Number: l.Number, Source: SourcePoll, At: listedAt}
		p, ok := listed[l.Number]
		switch {
		case ok:
			in.Reputation, _ = lines.ReadReputation(p.ReputationStatus())
		case len(listed) > 0:
			in.Missing = true
		default:
			continue
		}
		ps = append(ps, polled{line: l, in: in})
	}
	if s.cfg.ProbeFlags {
		forEach(ctx, len(ps), linqInFlight, func(ctx context.Context, i int) {
			if ps[i].in.Missing {
				return
			}
			ps[i].in.StatusAt = s.cfg.Now().Truncate(time.Microsecond)
			ps[i].in.ServiceStatus, ps[i].probeErr = s.probe(ctx, ps[i].line.Number)
		})
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}

	same := store.LineHealthConfirmManyParams{ListedAt: listedAt}
	for _, p := range ps {
		if p.probeErr != nil {
			res.ProbeErrors++
			s.logger.WarnContext(ctx, "line probe failed", slog.Int64("line_id", p.line.ID), slog.Any("error", p.probeErr))
		}
		stored := store.Line{ServiceStatus: p.line.ServiceStatus, Reputation: p.line.Reputation,
			IneligibleAt: p.line.IneligibleAt, LinqMissingAt: p.line.LinqMissingAt,
			StatusInputAt: p.line.StatusInputAt, ReputationInputAt: p.line.ReputationInputAt, ListingInputAt: p.line.ListingInputAt}
		sig, _ := merge(stored, p.in)
		was, _ := merge(stored, Input{})
		// A failing line goes the long way even when nothing changed: each
		// poll retries moving the users still on it.
		if sig != was || Derive(sig) != p.line.HealthState || FailsOver(p.line.HealthState) {
			continue
		}
		same.Ids = append(same.Ids, p.line.ID)
		same.ServiceStatuses = append(same.ServiceStatuses, sig.ServiceStatus)
		same.Reputations = append(same.Reputations, sig.Reputation)
		same.Ineligible = append(same.Ineligible, sig.Ineligible)
		same.Missing = append(same.Missing, sig.Missing)
		same.HealthStates = append(same.HealthStates, p.line.HealthState)
		same.StatusSeen = append(same.StatusSeen, p.in.ServiceStatus != "")
		same.StatusAts = append(same.StatusAts, p.in.statusAt())
		same.ReputationSeen = append(same.ReputationSeen, p.in.Reputation != "")
	}
	confirmed := map[int64]bool{}
	if len(same.Ids) > 0 {
		same.Now = s.cfg.Now()
		ids, err := s.q.LineHealthConfirmMany(ctx, s.pool, same)
		if err != nil {
			return res, fmt.Errorf("confirm line health: %w", err)
		}
		for _, id := range ids {
			confirmed[id] = true
		}
		res.Applied += len(ids)
		s.metrics.HealthInputs.WithLabelValues(SourcePoll, "applied").Add(float64(len(ids)))
	}

	for _, p := range ps {
		if confirmed[p.line.ID] {
			continue
		}
		out, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (Outcome, error) {
			return s.ApplyOutcome(ctx, tx, p.in)
		})
		if err != nil {
			return res, fmt.Errorf("apply poll of line %d: %w", p.line.ID, err)
		}
		if !out.Stale {
			res.Applied++
		}
		if out.Changed() {
			res.Transitions++
		}
		if out.Failover != nil {
			res.Moved += out.Failover.Moved
			res.Stranded += out.Failover.Stranded
		}
	}
	return res, nil
}

// probe asks Linq whether the line may act: ACTIVE when a capability check
// from it is answered, FLAGGED when Linq refuses it with 2027, "" (unknown)
// on any other failure.
func (s *Service) probe(ctx context.Context, number string) (string, error) {
	_, err := s.linq.CheckIMessage(ctx, linq.CapabilityCheckRequest{Address: number, From: number})
	switch {
	case err == nil:
		return lines.StatusActive, nil
	case linq.IsLineIneligible(err):
		return lines.StatusFlagged, nil
	}
	return "", err
}

// forEach calls fn for 0..n-1, at most limit at a time, and returns when
// all calls did. Once ctx is done, the calls not yet started are skipped.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int)) {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { fn(ctx, i); return nil })
	}
	_ = g.Wait()
}

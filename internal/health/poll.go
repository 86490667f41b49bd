package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

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
func (s *Service) Poll(ctx context.Context) (PollResult, error) {
	var res PollResult
	if s.linq == nil {
		return res, errors.New("health poll: no Linq client")
	}
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
	for _, l := range ls {
		if l.AdminState == lines.AdminRetired {
			continue
		}
		in := Input{LineID: l.ID, Number: l.Number, Source: SourcePoll}
		p, ok := listed[l.Number]
		switch {
		case ok:
			in.Reputation = p.ReputationStatus()
			if in.Reputation != lines.ReputationHealthy && in.Reputation != lines.ReputationAtRisk && in.Reputation != lines.ReputationCritical {
				in.Reputation = lines.ReputationAtRisk // unknown: no new users until Linq says more
			}
			if s.cfg.ProbeFlags {
				status, err := s.probe(ctx, l.Number)
				if err != nil {
					res.ProbeErrors++
					s.logger.WarnContext(ctx, "line probe failed", slog.Int64("line_id", l.ID), slog.Any("error", err))
				}
				in.ServiceStatus = status
			}
		case len(listed) > 0:
			in.Missing = true
		default:
			continue
		}
		in.At = s.cfg.Now()
		out, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (Outcome, error) {
			return s.ApplyOutcome(ctx, tx, in)
		})
		if err != nil {
			return res, fmt.Errorf("apply poll of line %d: %w", l.ID, err)
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
	return res, s.refreshStranded(ctx)
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

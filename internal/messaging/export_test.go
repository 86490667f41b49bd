package messaging

import (
	"cmp"
	"context"
)

// AdmitBatch runs the admissions of reqs as one batch, as the group commit
// runs concurrent sends, and returns each one's outcome.
func (s *Service) AdmitBatch(ctx context.Context, reqs []SendRequest) ([]string, error) {
	calls := make([]admitCall, len(reqs))
	for i, req := range reqs {
		if err := s.validate(&req); err != nil {
			return nil, err
		}
		body, err := storeSend(req)
		if err != nil {
			return nil, err
		}
		id := newMessageID()
		calls[i] = newAdmitCall(req, id, cmp.Or(req.IdempotencyKey, id.String()), body)
	}
	as, err := s.admitBatch(ctx, calls)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.outcome
	}
	return out, nil
}

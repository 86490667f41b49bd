package lines

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// SignupCandidates reads the lines the next n signups can go to: in each
// class of lines with one user cap (one budget override, warm-up over) the
// first n under the hourly ramp in signup order, and every line still
// warming up (see LineRankSignup). Picking greedily among them gives the
// same n homes as picking among the whole pool: a line n places down its
// class can only come first once n lines ahead of it took a signup (and
// second, the runner-up a pick's reason names, once n−1 did). The lines
// carry line_policy's verdict like Snapshot's.
func (s *Service) SignupCandidates(ctx context.Context, db store.DBTX, msgsPerUserPerDay float64, n int) ([]Line, error) {
	ids, err := s.q.LineRankSignup(ctx, db, store.LineRankSignupParams{
		Settings: s.policy, WindowStart: s.rampWindowStart(), RampLimit: int32(s.cfg.SignupRampPerHour), N: int32(n), //nolint:gosec // small
	})
	if err != nil {
		return nil, fmt.Errorf("rank lines for signups: %w", err)
	}
	return s.SnapshotOf(ctx, db, msgsPerUserPerDay, ids)
}

// BackupCandidates reads the lines backups can come from: in each class of
// lines with one user cap the first n in backup order (fewest users, lowest
// id) and every line still warming up. edges are the n-th line of each
// class with the users it had when ranked: every line of the class not
// read ranks after its edge (see LineRankBackup).
func (s *Service) BackupCandidates(ctx context.Context, db store.DBTX, msgsPerUserPerDay float64, n int) (ls, edges []Line, err error) {
	rows, err := s.q.LineRankBackup(ctx, db, store.LineRankBackupParams{Settings: s.policy, N: int32(n)}) //nolint:gosec // small
	if err != nil {
		return nil, nil, fmt.Errorf("rank lines for backups: %w", err)
	}
	ids := make([]int64, 0, len(rows))
	edgeUsers := map[int64]int{}
	for _, r := range rows {
		ids = append(ids, r.ID)
		if r.Edge {
			edgeUsers[r.ID] = int(r.UserCount)
		}
	}
	ls, err = s.SnapshotOf(ctx, db, msgsPerUserPerDay, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range ls {
		if u, ok := edgeUsers[l.ID]; ok {
			l.UserCount = u
			edges = append(edges, l)
		}
	}
	if len(edges) != len(edgeUsers) {
		return nil, nil, errors.New("rank lines for backups: an edge line is gone")
	}
	return ls, edges, nil
}

// LastAssigned is the latest assignment time of any line (the Unix epoch
// when no line was ever assigned).
func (s *Service) LastAssigned(ctx context.Context, db store.DBTX) (time.Time, error) {
	t, err := s.q.LineLastAssignedMax(ctx, db)
	if err != nil {
		return time.Time{}, fmt.Errorf("read last assignment: %w", err)
	}
	return t, nil
}

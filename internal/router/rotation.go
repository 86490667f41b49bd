package router

import (
	"context"
	"time"
)

// RotationPick is one predicted signup.
type RotationPick struct {
	Position int     `json:"position"`
	Line     LineRef `json:"line"`
	Reason   string  `json:"reason"`
	// UsersBefore and Cap describe the line just before this pick.
	UsersBefore int `json:"users_before"`
	Cap         int `json:"cap"`
}

// Rotation is the answer of Rotation.
type Rotation struct {
	At    time.Time      `json:"at"`
	Picks []RotationPick `json:"picks"`
	// Unavailable is set when the pool runs out before n picks: the reason
	// the next signup would be refused with.
	Unavailable string `json:"unavailable,omitempty"`
}

// MaxRotation bounds a rotation preview.
const MaxRotation = 1000

// Rotation predicts the home lines of the next n signups, in order, by
// running the assignment's own picking code n times on one snapshot. The
// prediction holds as long as nothing else changes the pool meanwhile.
func (s *Service) Rotation(ctx context.Context, n int) (Rotation, error) {
	n = min(max(n, 0), MaxRotation)
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return Rotation{}, err
	}
	snapshot, err := s.lines.Snapshot(ctx, s.pool, usage.PerUserPerDay)
	if err != nil {
		return Rotation{}, err
	}
	now := s.cfg.Now()
	p := newPlanner(snapshot, now)
	out := Rotation{At: now, Picks: []RotationPick{}}
	for i := range n {
		l, _ := p.best()
		var before, lineCap int
		if l != nil {
			before, lineCap = l.UserCount, l.Cap
		}
		home, reason, un := p.pickHome()
		if un != nil {
			out.Unavailable = un.reason
			break
		}
		out.Picks = append(out.Picks, RotationPick{Position: i + 1, Line: ref(home), Reason: reason, UsersBefore: before, Cap: lineCap})
	}
	return out, nil
}

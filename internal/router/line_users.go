package router

import (
	"context"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// LineUser is one user of a line, as the ops listing shows them.
type LineUser struct {
	ID            int64      `json:"id"`
	UserRef       string     `json:"user_ref"`
	Handle        *string    `json:"handle"`
	HomeLineID    int64      `json:"home_line_id"`
	OptedOutAt    *time.Time `json:"opted_out_at"`
	LastInboundAt *time.Time `json:"last_inbound_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// LineUsers is a page of the users whose current line a line is, in id
// order; Next is the cursor of the following page (0 on the last).
type LineUsers struct {
	LineID int64      `json:"line_id"`
	Users  []LineUser `json:"users"`
	Next   int64      `json:"next,omitempty,string"`
}

// UsersOnLine lists up to limit users whose current line is lineID, after
// the user id after (404 line_not_found for an unknown line).
func (s *Service) UsersOnLine(ctx context.Context, lineID, after int64, limit int) (LineUsers, error) {
	if _, err := s.lines.Get(ctx, lineID); err != nil {
		return LineUsers{}, err
	}
	rows, err := s.q.UserListByCurrentLine(ctx, s.pool, store.UserListByCurrentLineParams{
		LineID: lineID, After: after, Lim: int32(limit + 1), //nolint:gosec // a page size
	})
	if err != nil {
		return LineUsers{}, fmt.Errorf("list line users: %w", err)
	}
	out := LineUsers{LineID: lineID, Users: make([]LineUser, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.Next = out.Users[limit-1].ID
			break
		}
		out.Users = append(out.Users, LineUser{ID: r.ID, UserRef: r.UserRef, Handle: r.Handle, HomeLineID: r.HomeLineID,
			OptedOutAt: r.OptedOutAt, LastInboundAt: r.LastInboundAt, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// UserLine is one line of a user's set.
type UserLine struct {
	Position      int    `json:"position"`
	ID            int64  `json:"id"`
	Number        string `json:"number"`
	AdminState    string `json:"admin_state"`
	Reputation    string `json:"reputation"`
	ServiceStatus string `json:"service_status"`
}

// LedgerEntry is one change of a user's lines.
type LedgerEntry struct {
	Reason     string    `json:"reason"`
	FromLineID *int64    `json:"from_line_id"`
	ToLineID   int64     `json:"to_line_id"`
	LineSet    []int64   `json:"line_set"`
	Note       string    `json:"note,omitempty"`
	At         time.Time `json:"at"`
}

// User is what GET /v1/users/{user_ref} shows.
type User struct {
	UserRef      string        `json:"user_ref"`
	Handle       *string       `json:"handle"`
	DisplayName  *string       `json:"display_name"`
	Code         string        `json:"code"`
	HomeLine     LineRef       `json:"home_line"`
	CurrentLine  LineRef       `json:"current_line"`
	LineSet      []UserLine    `json:"line_set"`
	OptedOut     bool          `json:"opted_out"`
	OptedOutAt   *time.Time    `json:"opted_out_at"`
	OptOutSource *string       `json:"opt_out_source"`
	LastInbound  *time.Time    `json:"last_inbound_at"`
	CreatedAt    time.Time     `json:"created_at"`
	Ledger       []LedgerEntry `json:"ledger"`
}

func notFoundUser() error {
	return apperr.New(apperr.NotFound, "user_not_found", "no user with that user_ref")
}

// User returns a user's line set, current line, opt-out state and ledger.
func (s *Service) User(ctx context.Context, userRef string) (User, error) {
	if err := ValidateUserRef(userRef); err != nil {
		return User{}, err
	}
	u, err := s.q.UserGetByRef(ctx, s.pool, userRef)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return User{}, notFoundUser()
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	set, err := s.q.UserLineListByUser(ctx, s.pool, u.ID)
	if err != nil {
		return User{}, fmt.Errorf("read line set: %w", err)
	}
	ledger, err := s.q.LineLedgerListByUser(ctx, s.pool, u.ID)
	if err != nil {
		return User{}, fmt.Errorf("read ledger: %w", err)
	}
	out := User{
		UserRef: u.UserRef, Handle: u.Handle, DisplayName: u.DisplayName, Code: u.Code,
		HomeLine: LineRef{ID: u.HomeLineID}, CurrentLine: LineRef{ID: u.CurrentLineID},
		OptedOut: u.OptedOutAt != nil, OptedOutAt: u.OptedOutAt, OptOutSource: u.OptOutSource,
		LastInbound: u.LastInboundAt, CreatedAt: u.CreatedAt,
		LineSet: make([]UserLine, 0, len(set)), Ledger: make([]LedgerEntry, 0, len(ledger)),
	}
	for _, l := range set {
		out.LineSet = append(out.LineSet, UserLine{Position: int(l.Position), ID: l.ID, Number: l.Number,
			AdminState: l.AdminState, Reputation: l.Reputation, ServiceStatus: l.ServiceStatus})
		if l.ID == u.HomeLineID {
			out.HomeLine.Number = l.Number
		}
		if l.ID == u.CurrentLineID {
			out.CurrentLine.Number = l.Number
		}
	}
	for _, e := range ledger {
		le := LedgerEntry{Reason: e.Reason, FromLineID: e.FromLineID, ToLineID: e.ToLineID, LineSet: e.LineSet, At: e.CreatedAt}
		if e.Note != nil {
			le.Note = *e.Note
		}
		out.Ledger = append(out.Ledger, le)
	}
	return out, nil
}

// Import brings over an existing user through the same assignment as a
// signup (ledger reason "import"). For a user_ref that already exists it
// updates the handle and display name when given (409 handle_taken when
// another user_ref owns the handle) and returns the existing assignment.
func (s *Service) Import(ctx context.Context, req SignupRequest) (Assignment, error) {
	req.Import = true
	req, h, err := s.validate(req)
	if err != nil {
		return Assignment{}, err
	}
	u, err := s.q.UserGetByRef(ctx, s.pool, req.UserRef)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return s.assign(ctx, req, h)
	}
	if err != nil {
		return Assignment{}, fmt.Errorf("read user: %w", err)
	}
	var hp, dp *string
	if h != "" && (u.Handle == nil || *u.Handle != h) {
		hp = &h
	}
	if req.DisplayName != "" {
		dp = &req.DisplayName
	}
	if hp != nil || dp != nil {
		_, err := s.q.UserUpdateProfile(ctx, s.pool, store.UserUpdateProfileParams{Handle: hp, DisplayName: dp, Now: s.cfg.Now(), ID: u.ID})
		if errors.Is(store.Interpret(err), store.ErrConflict) {
			return Assignment{}, apperr.New(apperr.Conflict, "handle_taken", "the handle belongs to another user_ref")
		}
		if err != nil {
			return Assignment{}, fmt.Errorf("update user: %w", err)
		}
	}
	return s.existing(ctx, req.UserRef)
}

package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	Volume       UserVolume    `json:"volume"`
}

func notFoundUser() error {
	return apperr.New(apperr.NotFound, "user_not_found", "no user with that user_ref")
}

// User returns a user's line set, current line, opt-out state, ledger and
// message volume.
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
	return s.userOf(ctx, u)
}

// userOf is User for the user row u.
func (s *Service) userOf(ctx context.Context, u store.User) (User, error) {
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
	if out.Volume, err = s.volumeOf(ctx, u.ID); err != nil {
		return User{}, err
	}
	return out, nil
}

// UserByHandle is User for the user a handle (a phone number in any
// spelling, or an email) belongs to: what support has in hand.
func (s *Service) UserByHandle(ctx context.Context, raw string) (User, error) {
	if raw == "" {
		return User{}, apperr.Field("handle", "is required")
	}
	h, err := s.NormalizeHandle(raw)
	if err != nil {
		return User{}, err
	}
	u, err := s.q.UserGetByHandle(ctx, s.pool, h)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return User{}, apperr.New(apperr.NotFound, "user_not_found", "no user with that handle")
	}
	if err != nil {
		return User{}, fmt.Errorf("read user by handle: %w", err)
	}
	return s.userOf(ctx, u)
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
	return s.assign(ctx, req, h)
}

// repeat answers a signup or import for a user_ref that already has lines.
// An import updates the profile (the source system is the authority on who
// the user is now); a signup never changes a stored user, so one that names
// another handle is refused rather than answered with the old one.
func (s *Service) repeat(ctx context.Context, req SignupRequest, h string, a Assignment) (Assignment, error) {
	if req.Import {
		if (h == "" || h == a.Handle) && req.DisplayName == "" {
			return a, nil
		}
		if err := s.updateProfile(ctx, req.UserRef, h, req.DisplayName); err != nil {
			return Assignment{}, err
		}
		return s.existing(ctx, req.UserRef, req.PrefillText)
	}
	if h == "" || h == a.Handle {
		return a, nil
	}
	owners, err := s.q.UserFindForSignup(ctx, s.pool, store.UserFindForSignupParams{UserRefs: []string{}, Handles: []string{h}})
	if err != nil {
		return Assignment{}, fmt.Errorf("find handle owner: %w", err)
	}
	if len(owners) > 0 {
		return Assignment{}, handleTaken()
	}
	return Assignment{}, apperr.New(apperr.Conflict, "handle_mismatch",
		"the user_ref is signed up with another handle (or none); import the user (PUT /v1/users/{user_ref}) to change it")
}

func handleTaken() error {
	return apperr.New(apperr.Conflict, "handle_taken", "the handle belongs to another user_ref")
}

// updateProfile sets a user's handle and display name where given and
// different. A new handle drops the user's chats in the same transaction:
// each was opened with the old handle, and a send reusing one would reach
// the old recipient.
func (s *Service) updateProfile(ctx context.Context, userRef, h, displayName string) error {
	return store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		u, err := s.q.UserGetByRef(ctx, tx, userRef)
		if err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		var hp, dp *string
		if h != "" && (u.Handle == nil || *u.Handle != h) {
			hp = &h
		}
		if displayName != "" {
			dp = &displayName
		}
		if hp == nil && dp == nil {
			return nil
		}
		if hp != nil {
			own, err := s.ownLines(ctx, tx, []string{h})
			if err != nil {
				return err
			}
			if own[h] {
				return handleIsLine()
			}
			if err := s.q.UserLockForHandle(ctx, tx, u.ID); err != nil {
				return fmt.Errorf("lock user: %w", err)
			}
		}
		_, err = s.q.UserUpdateProfile(ctx, tx, store.UserUpdateProfileParams{Handle: hp, DisplayName: dp, Now: s.cfg.Now(), ID: u.ID})
		if errors.Is(store.Interpret(err), store.ErrConflict) {
			return handleTaken()
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if hp != nil {
			if err := s.q.ChatDeleteForUser(ctx, tx, u.ID); err != nil {
				return fmt.Errorf("drop chats of the old handle: %w", err)
			}
		}
		return nil
	})
}

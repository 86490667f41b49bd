package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/handle"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// Ledger reasons this package writes.
const (
	LedgerSignup   = "signup"
	LedgerImport   = "import"
	LedgerOps      = "ops"
	LedgerRetire   = "retire"
	LedgerFailover = "failover"
)

// Limits on signup fields.
const (
	MaxDisplayName = 200
	MaxPrefillText = 500
)

var validUserRef = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,200}$`)

// SignupRequest is a new (or imported) user.
type SignupRequest struct {
	UserRef     string
	Handle      string // optional: E.164 or email, normalised here
	DisplayName string
	PrefillText string
	// Import marks an existing user brought over (ledger reason "import").
	Import bool
}

// Assignment is a user's line set and signup link.
type Assignment struct {
	UserRef string
	Handle  string
	Code    string
	Home    LineRef
	Current LineRef
	Backups []LineRef
	// Reason says why the home line was picked, or "existing_assignment".
	Reason string
	// Created is false when the user_ref already had an assignment.
	Created   bool
	Token     string
	Body      string
	ExpiresAt time.Time
}

type job struct {
	req               SignupRequest
	handle            string // normalised, "" when none
	code, token, body string
	done              chan struct{}
	res               Assignment
	err               error
	exists            bool
}

// ValidateUserRef checks a user_ref: 1–200 characters of [A-Za-z0-9._:@-].
func ValidateUserRef(ref string) error {
	if !validUserRef.MatchString(ref) {
		return apperr.Field("user_ref", "must be 1-200 characters of A-Z a-z 0-9 . _ : @ -")
	}
	return nil
}

// NormalizeHandle parses a handle (E.164 number or email) in the service's
// default region; "" stays "".
func (s *Service) NormalizeHandle(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	h, err := handle.Parse(raw, s.cfg.DefaultRegion)
	if err != nil {
		var inv *handle.InvalidError
		if errors.As(err, &inv) {
			return "", apperr.Field("handle", "is not an E.164 phone number or an email address ("+inv.Reason+")")
		}
		return "", fmt.Errorf("parse handle: %w", err)
	}
	return h.Value, nil
}

// Assign gives req.UserRef a home line and backups, or returns the
// assignment it already has (Created false). Errors: 422 naming user_ref,
// handle, display_name or prefill_text; 409 handle_taken when another
// user_ref owns the handle; 409 handle_mismatch when the user_ref exists
// with another handle or none (a repeat signup changes nothing; Import
// does); 503 pool_ramp_limited / pool_exhausted with a retry hint when no
// line is eligible (nothing is written then).
func (s *Service) Assign(ctx context.Context, req SignupRequest) (Assignment, error) {
	req, h, err := s.validate(req)
	if err != nil {
		return Assignment{}, err
	}
	return s.assign(ctx, req, h)
}

// validate checks a signup or import request and returns it with the display
// name trimmed, and the normalised handle ("" when none).
func (s *Service) validate(req SignupRequest) (SignupRequest, string, error) {
	if err := ValidateUserRef(req.UserRef); err != nil {
		return req, "", err
	}
	h, err := s.NormalizeHandle(req.Handle)
	if err != nil {
		return req, "", err
	}
	if utf8.RuneCountInString(req.DisplayName) > MaxDisplayName || !utf8.ValidString(req.DisplayName) {
		return req, "", apperr.Field("display_name", fmt.Sprintf("must be at most %d characters of UTF-8", MaxDisplayName))
	}
	if utf8.RuneCountInString(req.PrefillText) > MaxPrefillText || !utf8.ValidString(req.PrefillText) {
		return req, "", apperr.Field("prefill_text", fmt.Sprintf("must be at most %d characters of UTF-8", MaxPrefillText))
	}
	req.DisplayName = strings.TrimSpace(req.DisplayName)
	return req, h, nil
}

// assign is Assign for a validated request with its normalised handle h.
func (s *Service) assign(ctx context.Context, req SignupRequest, h string) (Assignment, error) {
	// Most repeats are not concurrent: answer them without the lock.
	if a, err := s.existing(ctx, req.UserRef); err == nil {
		return s.repeat(ctx, req, h, a)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Assignment{}, err
	}

	j := &job{req: req, handle: h}
	if err := j.mint(); err != nil {
		return Assignment{}, err
	}
	if err := s.batch.do(ctx, j); err != nil {
		return Assignment{}, err
	}
	if j.exists {
		a, err := s.existing(ctx, req.UserRef)
		if err != nil {
			return Assignment{}, err
		}
		return s.repeat(ctx, req, h, a)
	}
	return j.res, j.err
}

// mint draws the job's code and token afresh.
func (j *job) mint() error {
	var err error
	if j.code, err = deeplink.NewCode(); err != nil {
		return err
	}
	if j.token, err = deeplink.NewToken(); err != nil {
		return err
	}
	j.body = deeplink.Body(j.req.PrefillText, j.code)
	return nil
}

// maxAttempts bounds retries of a batch whose random code or token
// collided with a stored one (about one in a trillion).
const maxAttempts = 3

// runBatch assigns a batch of jobs in one transaction.
func (s *Service) runBatch(ctx context.Context, jobs []*job) {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		for _, j := range jobs {
			j.res, j.err, j.exists = Assignment{}, nil, false
		}
		err = s.assignTx(ctx, jobs)
		if !errors.Is(store.Interpret(err), store.ErrConflict) {
			break
		}
		for _, j := range jobs {
			if merr := j.mint(); merr != nil {
				err = merr
				break
			}
		}
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "signup batch failed", slog.Int("signups", len(jobs)), slog.Any("error", err))
		for _, j := range jobs {
			j.err = fmt.Errorf("assign line: %w", err)
		}
	}
}

func (s *Service) assignTx(ctx context.Context, jobs []*job) error {
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return err
	}
	refs := make([]string, 0, len(jobs))
	handles := make([]string, 0, len(jobs))
	for _, j := range jobs {
		refs = append(refs, j.req.UserRef)
		if j.handle != "" {
			handles = append(handles, j.handle)
		}
	}
	var created []*job
	var unavail []*job
	err = store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		created, unavail = nil, nil
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return fmt.Errorf("lock line pool: %w", err)
		}
		found, err := s.q.UserFindForSignup(ctx, tx, store.UserFindForSignupParams{UserRefs: refs, Handles: handles})
		if err != nil {
			return fmt.Errorf("find users: %w", err)
		}
		refTaken := map[string]bool{}
		handleOwner := map[string]string{}
		for _, f := range found {
			refTaken[f.UserRef] = true
			if f.Handle != nil {
				handleOwner[*f.Handle] = f.UserRef
			}
		}
		snapshot, err := s.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		p := newPlanner(snapshot, now)
		homes := map[*job]*lines.Line{}
		for _, j := range jobs {
			if refTaken[j.req.UserRef] {
				j.exists = true
				continue
			}
			if owner, ok := handleOwner[j.handle]; ok && j.handle != "" && owner != j.req.UserRef {
				j.err = handleTaken()
				continue
			}
			home, reason, un := p.pickHome()
			if un != nil {
				j.err = &apperr.Error{Kind: apperr.Unavailable, Code: un.reason, RetryAfter: un.retryAfter,
					Message: "no line can take a new user now (" + un.reason + ")"}
				unavail = append(unavail, j)
				continue
			}
			refTaken[j.req.UserRef] = true
			if j.handle != "" {
				handleOwner[j.handle] = j.req.UserRef
			}
			homes[j] = home
			j.res = Assignment{UserRef: j.req.UserRef, Handle: j.handle, Code: j.code, Home: ref(home), Current: ref(home),
				Reason: reason, Created: true, Token: j.token, Body: j.body, ExpiresAt: now.Add(s.cfg.SignupLinkTTL)}
			created = append(created, j)
		}
		if len(created) == 0 {
			return nil
		}
		homeIDs := make([]int64, 0, len(created))
		for _, j := range created {
			homeIDs = append(homeIDs, homes[j].ID)
		}
		slots, err := s.loadBackupSlots(ctx, tx, homeIDs)
		if err != nil {
			return err
		}
		params := store.UserSignupBatchParams{Now: now, Minute: p.minute, ExpiresAt: now.Add(s.cfg.SignupLinkTTL)}
		bumps := map[int64]int32{}
		var bumpOrder []int64
		for _, j := range created {
			home := homes[j]
			reason := LedgerSignup
			if j.req.Import {
				reason = LedgerImport
			}
			params.UserRefs = append(params.UserRefs, j.req.UserRef)
			params.Handles = append(params.Handles, j.handle)
			params.DisplayNames = append(params.DisplayNames, j.req.DisplayName)
			params.Codes = append(params.Codes, j.code)
			params.HomeLineIds = append(params.HomeLineIds, home.ID)
			params.Tokens = append(params.Tokens, j.token)
			params.Bodies = append(params.Bodies, j.body)
			params.Reasons = append(params.Reasons, reason)
			params.SetUserRefs = append(params.SetUserRefs, j.req.UserRef)
			params.SetPositions = append(params.SetPositions, 0)
			params.SetLineIds = append(params.SetLineIds, home.ID)
			for i, b := range p.pickBackups(home.ID, s.cfg.BackupCount, slots) {
				params.SetUserRefs = append(params.SetUserRefs, j.req.UserRef)
				params.SetPositions = append(params.SetPositions, int16(i+1)) //nolint:gosec // at most a handful
				params.SetLineIds = append(params.SetLineIds, b.ID)
				j.res.Backups = append(j.res.Backups, ref(b))
			}
			if _, ok := bumps[home.ID]; !ok {
				bumpOrder = append(bumpOrder, home.ID)
			}
			bumps[home.ID]++
		}
		slices.Sort(bumpOrder) // rows locked in id order, like everyone else
		for _, id := range bumpOrder {
			params.BumpLineIds = append(params.BumpLineIds, id)
			params.BumpUsers = append(params.BumpUsers, bumps[id])
			params.BumpLastAssigned = append(params.BumpLastAssigned, *p.byID[id].LastAssignedAt)
		}
		if err := s.q.UserSignupBatch(ctx, tx, params); err != nil {
			return fmt.Errorf("write signups: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.metrics.Signups.Add(float64(len(created)))
	for _, j := range unavail {
		ae, _ := apperr.As(j.err)
		s.metrics.PoolUnavailable.WithLabelValues(ae.Code).Inc()
		s.logger.ErrorContext(ctx, "no line eligible for a new user",
			slog.String("reason", ae.Code), slog.Duration("retry_after", ae.RetryAfter))
	}
	return nil
}

// existing loads the assignment a user_ref already has, minting a new
// signup link when the last one expired. store.ErrNotFound when none.
func (s *Service) existing(ctx context.Context, userRef string) (Assignment, error) {
	u, err := s.q.UserGetByRef(ctx, s.pool, userRef)
	if err != nil {
		return Assignment{}, store.Interpret(err)
	}
	set, err := s.q.UserLineListByUser(ctx, s.pool, u.ID)
	if err != nil {
		return Assignment{}, fmt.Errorf("read line set: %w", err)
	}
	a := Assignment{UserRef: u.UserRef, Code: u.Code, Reason: ReasonExisting}
	if u.Handle != nil {
		a.Handle = *u.Handle
	}
	for _, l := range set {
		r := LineRef{ID: l.ID, Number: l.Number}
		if l.ID == u.HomeLineID {
			a.Home = r
		} else {
			a.Backups = append(a.Backups, r)
		}
		if l.ID == u.CurrentLineID {
			a.Current = r
		}
	}
	now := s.cfg.Now()
	link, err := s.q.SignupLinkLatest(ctx, s.pool, store.SignupLinkLatestParams{UserID: u.ID, Now: now})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		token, terr := deeplink.NewToken()
		if terr != nil {
			return Assignment{}, terr
		}
		link, err = s.q.SignupLinkCreate(ctx, s.pool, store.SignupLinkCreateParams{
			Token: token, UserID: u.ID, Body: deeplink.Body("", u.Code), ExpiresAt: now.Add(s.cfg.SignupLinkTTL), Now: now,
		})
	}
	if err != nil {
		return Assignment{}, fmt.Errorf("signup link: %w", err)
	}
	a.Token, a.Body, a.ExpiresAt = link.Token, link.Body, link.ExpiresAt
	return a, nil
}

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
	"github.com/jackc/pgx/v5/pgxpool"

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
			return "", apperr.Field("handle", inv.Reason)
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
	if !storableText(req.DisplayName, MaxDisplayName) {
		return req, "", apperr.Field("display_name", fmt.Sprintf("must be at most %d characters of UTF-8, without NUL", MaxDisplayName))
	}
	if !storableText(req.PrefillText, MaxPrefillText) {
		return req, "", apperr.Field("prefill_text", fmt.Sprintf("must be at most %d characters of UTF-8, without NUL", MaxPrefillText))
	}
	req.DisplayName = strings.TrimSpace(req.DisplayName)
	return req, h, nil
}

// storableText says whether s fits in max characters of UTF-8 that
// Postgres text can hold (it refuses NUL).
func storableText(s string, max int) bool {
	return utf8.RuneCountInString(s) <= max && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// assign is Assign for a validated request with its normalised handle h.
func (s *Service) assign(ctx context.Context, req SignupRequest, h string) (Assignment, error) {
	// Every signup joins the queue at once, repeats too: the batch finds
	// them (j.exists) and they are answered below. A read of the user first
	// would hold each new signup back a round trip, and batches would take
	// only half of the waiting callers (at 1,000,000 users 890-1,130
	// signups/s, against 1,330-1,480 without it).
	j := &job{req: req, handle: h}
	if err := j.mint(); err != nil {
		return Assignment{}, err
	}
	if err := s.batch.do(ctx, j); err != nil {
		return Assignment{}, err
	}
	if j.exists {
		a, err := s.existing(ctx, req.UserRef, req.PrefillText)
		if err != nil {
			return Assignment{}, err
		}
		return s.repeat(ctx, req, h, a)
	}
	return j.res, j.err
}

// mintAll draws every job's code and token afresh.
func mintAll(jobs []*job) error {
	for _, j := range jobs {
		if err := j.mint(); err != nil {
			return err
		}
	}
	return nil
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
// collided with a stored one (about one in a trillion), or whose user_ref
// a concurrent batch of another replica took first.
const maxAttempts = 3

// maxStale bounds the retries of a batch whose home lines another
// replica's batch (or a health change) wrote between reading and locking
// them; the last try holds the pool lock exclusively, so no batch can
// overtake it (a health change of one of its home lines still fails it).
const maxStale = 2

// errStalePlan says a home line changed between the batch's read and its
// row lock: the plan is redone on a fresh read.
var errStalePlan = errors.New("home line changed while planning")

// runBatch assigns a batch of jobs in one transaction.
func (s *Service) runBatch(ctx context.Context, jobs []*job) {
	s.analyzeAfterBurst(ctx)
	err := s.tryBatch(ctx, jobs)
	if err != nil && len(jobs) > 1 && errors.Is(store.Interpret(err), store.ErrInvalidData) {
		// A value Postgres refused is one caller's: the others batched
		// with it must not fail for it, so each runs on its own.
		for _, j := range jobs {
			s.runBatch(ctx, []*job{j})
		}
		return
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "signup batch failed", slog.Int("signups", len(jobs)), slog.Any("error", err))
		for _, j := range jobs {
			j.err = fmt.Errorf("assign line: %w", err)
		}
	}
}

// analyzeAfterBurst refreshes the statistics of the signup buckets once
// this replica has written AnalyzeEvery signups since it last did. The
// table can grow many times over in seconds, and until autovacuum looks
// again (up to a minute) plans cached on its old size rank candidate lines
// by scanning it whole, once per line (2 ms a batch instead of 0.3). It
// runs before the next batch, on the batches' connection: a few
// milliseconds once every AnalyzeEvery signups.
func (s *Service) analyzeAfterBurst(ctx context.Context) {
	if s.cfg.AnalyzeEvery <= 0 || s.sinceAnalyze < s.cfg.AnalyzeEvery {
		return
	}
	s.sinceAnalyze = 0
	conn, err := s.batchConnection(ctx)
	if err == nil {
		err = s.q.LineSignupsAnalyze(ctx, conn)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "analyze signup buckets", slog.Any("error", err))
	}
}

// tryBatch runs assignTx until it succeeds or a retry would not help.
func (s *Service) tryBatch(ctx context.Context, jobs []*job) (err error) {
	defer func() {
		if err != nil {
			// Whatever state a failure left the connection in, the next
			// batch starts on a fresh one.
			s.releaseBatchConn()
		}
	}()
	conflicts, stale, deadlocks, reconnected := 0, 0, 0, false
	for {
		var conn *pgxpool.Conn
		if conn, err = s.batchConnection(ctx); err != nil {
			return err
		}
		for _, j := range jobs {
			j.res, j.err, j.exists = Assignment{}, nil, false
		}
		err = s.assignTx(ctx, conn, jobs, stale >= maxStale)
		if err != nil && conn.Conn().IsClosed() && !reconnected {
			// The connection kept from the last batch broke: try once on
			// another. Redoing a batch that did commit is safe: its users
			// exist then and are answered as repeats.
			s.releaseBatchConn()
			reconnected = true
			continue
		}
		if errors.Is(err, errStalePlan) && stale < maxStale {
			stale++
			continue
		}
		if store.Deadlocked(err) && deadlocks+1 < store.DeadlockTries && ctx.Err() == nil {
			// Nothing of the victim committed, and the transaction it
			// waited on has gone on.
			deadlocks++
			continue
		}
		if !errors.Is(store.Interpret(err), store.ErrConflict) || conflicts+1 >= maxAttempts {
			return err
		}
		conflicts++
		if err = mintAll(jobs); err != nil {
			return err
		}
	}
}

// batchConnection is the connection signup batches run on. Batches of one
// process run one at a time, back to back under load, so they keep one
// connection until the batcher goes idle: their statements stay prepared
// on it, past the first runs Postgres plans afresh (five per statement and
// connection), instead of starting over on whichever connection is free.
func (s *Service) batchConnection(ctx context.Context) (*pgxpool.Conn, error) {
	if s.batchConn == nil {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquire connection: %w", err)
		}
		s.batchConn = c
	}
	return s.batchConn, nil
}

// releaseBatchConn gives the batches' connection back to the pool.
func (s *Service) releaseBatchConn() {
	if s.batchConn != nil {
		s.batchConn.Release()
		s.batchConn = nil
	}
}

// assignTx plans and writes one batch. It holds lines.PoolLockKey shared
// (exclusive when exclusive is set): moves, admin changes and health
// changes that move users wait, other signups do not. It reads only the
// candidate lines, picks homes in memory, then locks the home lines and
// checks that no other batch or health change wrote them since the read
// (errStalePlan if one did). Other lines can only have gained users
// meanwhile, which leaves the picks the greedy ones, or changed health
// without moving anyone, which is as if the batch had committed first.
func (s *Service) assignTx(ctx context.Context, conn store.TxBeginner, jobs []*job, exclusive bool) error {
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
	err = store.WithTx(ctx, conn, func(ctx context.Context, tx pgx.Tx) error {
		created, unavail = nil, nil
		lock := s.q.LinePoolLockShared
		if exclusive {
			lock = s.q.LinePoolLock
		}
		if err := lock(ctx, tx, lines.PoolLockKey); err != nil {
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
		own, err := s.ownLines(ctx, tx, handles)
		if err != nil {
			return err
		}
		// One more than the batch: the runner-up of the last pick names
		// its reason.
		cands, err := s.lines.SignupCandidates(ctx, tx, usage.PerUserPerDay, len(jobs)+1)
		if err != nil {
			return err
		}
		read := make(map[int64]lines.Line, len(cands))
		for _, l := range cands {
			read[l.ID] = l
		}
		last, err := s.lines.LastAssigned(ctx, tx)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		p := newPlanner(cands, now)
		p.assignedAfter(last)
		whole := false
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
			if own[j.handle] {
				j.err = handleIsLine()
				continue
			}
			home, reason, un := p.pickHome()
			if un != nil && !whole {
				// No candidate is left, so no line of the pool is: read it
				// all once for the reason and the retry hint.
				all, err := s.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
				if err != nil {
					return err
				}
				for _, l := range all {
					if _, ok := read[l.ID]; !ok {
						read[l.ID] = l
					}
				}
				p.add(all)
				whole = true
				home, reason, un = p.pickHome()
			}
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
		if err := s.lockHomes(ctx, tx, homeIDs, read); err != nil {
			return err
		}
		backups, err := s.planBackups(ctx, tx, p, usage.PerUserPerDay, created, homes, whole)
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
			for i, b := range backups[j] {
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
	s.sinceAnalyze += len(created)
	for _, j := range unavail {
		ae, _ := apperr.As(j.err)
		s.metrics.PoolUnavailable.WithLabelValues(ae.Code).Inc()
		s.logger.ErrorContext(ctx, "no line eligible for a new user",
			slog.String("reason", ae.Code), slog.Duration("retry_after", ae.RetryAfter))
	}
	return nil
}

// ownLines is the set of handles that are numbers of the pool's own lines.
// A user with one would be messaged line to line, and each line's inbound
// would reach the product as the other's user: a loop, not a person (a
// visitor typing the number the signup page shows is enough).
func (s *Service) ownLines(ctx context.Context, db store.DBTX, handles []string) (map[string]bool, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	numbers, err := s.q.LineNumbersAmong(ctx, db, handles)
	if err != nil {
		return nil, fmt.Errorf("find line numbers among handles: %w", err)
	}
	own := make(map[string]bool, len(numbers))
	for _, n := range numbers {
		own[n] = true
	}
	return own, nil
}

func handleIsLine() error {
	return apperr.Field("handle", "is the number of one of this pool's lines")
}

// lockHomes locks the home lines of a batch in id order and checks that
// they are as the batch read them (errStalePlan otherwise). Under the
// shared pool lock signups write lines, each changing the user count and
// last assignment of the lines it writes, and so do health changes that
// move nobody (ok to at_risk, say), which lock only the line's row: a
// line whose signup verdict may have changed since the read is stale too.
func (s *Service) lockHomes(ctx context.Context, tx pgx.Tx, ids []int64, read map[int64]lines.Line) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := s.q.LineLockForSignup(ctx, tx, ids)
	if err != nil {
		return fmt.Errorf("lock home lines: %w", err)
	}
	if len(rows) != len(ids) {
		return errStalePlan
	}
	for _, r := range rows {
		l, ok := read[r.ID]
		if !ok || !asRead(r, l) {
			return errStalePlan
		}
	}
	return nil
}

// asRead reports whether a locked home line still has the users, last
// assignment and signup verdict inputs the batch planned with.
func asRead(r store.LineLockForSignupRow, l lines.Line) bool {
	return int(r.UserCount) == l.UserCount && equalTime(r.LastAssignedAt, l.LastAssignedAt) &&
		r.AdminState == l.AdminState && r.HealthState == l.HealthState &&
		r.ServiceStatus == l.ServiceStatus && r.Reputation == l.Reputation &&
		r.Ineligible == (l.IneligibleAt != nil) && r.Missing == (l.MissingAt != nil) && r.Held == (l.HeldAt != nil)
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// backupMargin is how many lines of each class beyond the least a batch
// could need are read for backups: lines holding slots for a home rank
// last for its users, and a few of them may be among the first of a class.
const backupMargin = 32

// planBackups picks the backups of a batch's new users. Backups rank by
// the slots a line holds for the home's users, then utilization, then id.
// It reads the first k lines of each class of one cap, k covering the
// backups to pick (BackupCount per signup), the lines the batch's homes
// and bookings moved down (one home and BackupCount slots per signup), the
// home itself and a margin. Within a class a line not read ranks after the
// class's edge line, so a user's picks are exact when the last of them
// holds no slot for the home and ranks before every edge; otherwise (rare)
// the whole pool is read and the batch's backups are picked again.
func (s *Service) planBackups(ctx context.Context, tx pgx.Tx, p *planner, msgsPerUserPerDay float64,
	created []*job, homes map[*job]*lines.Line, whole bool,
) (map[*job][]*lines.Line, error) {
	n := s.cfg.BackupCount
	if n <= 0 {
		return nil, nil
	}
	homeIDs := make([]int64, 0, len(created))
	for _, j := range created {
		homeIDs = append(homeIDs, homes[j].ID)
	}
	slots, err := s.loadBackupSlots(ctx, tx, homeIDs)
	if err != nil {
		return nil, err
	}
	if !whole {
		k := n*(len(created)+1) + len(created) + 1 + backupMargin
		more, edges, err := s.lines.BackupCandidates(ctx, tx, msgsPerUserPerDay, k)
		if err != nil {
			return nil, err
		}
		p.add(more)
		if out, ok := pickBatchBackups(p, created, homes, n, slots.clone(), edges); ok {
			return out, nil
		}
		all, err := s.lines.Snapshot(ctx, tx, msgsPerUserPerDay)
		if err != nil {
			return nil, err
		}
		p.add(all)
	}
	out, _ := pickBatchBackups(p, created, homes, n, slots, nil)
	return out, nil
}

// pickBatchBackups picks n backups for each job and reports whether every
// pick is sure to be the one the whole pool gives: the last pick of each
// user held no slot for the home and ranks before every edge line.
func pickBatchBackups(p *planner, created []*job, homes map[*job]*lines.Line, n int, slots backupSlots, edges []lines.Line) (map[*job][]*lines.Line, bool) {
	out := make(map[*job][]*lines.Line, len(created))
	for _, j := range created {
		home := homes[j].ID
		bs := p.pickBackups(home, n, slots)
		out[j] = bs
		if len(edges) == 0 {
			continue
		}
		if len(bs) < n {
			return nil, false
		}
		last := bs[len(bs)-1]
		if slots[home][last.ID] != 1 { // booked just now, so none was held before
			return nil, false
		}
		for i := range edges {
			if backupCmp(last, &edges[i]) > 0 {
				return nil, false
			}
		}
	}
	return out, true
}

// existing loads the assignment a user_ref already has, minting a new
// signup link when the last one expired or is past half its life: its body is prefill's, as the
// signup's was, so a repeat signup past the link's life still prefills
// the product's text. store.ErrNotFound when none.
func (s *Service) existing(ctx context.Context, userRef, prefill string) (Assignment, error) {
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
	// A link is handed out again only while half its life is left: the
	// product shows it (short link, QR, vCard) for a while, and one
	// minutes from its end would die on the user's page.
	link, err := s.q.SignupLinkLatest(ctx, s.pool, store.SignupLinkLatestParams{UserID: u.ID, Now: now.Add(s.cfg.SignupLinkTTL / 2)})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		token, terr := deeplink.NewToken()
		if terr != nil {
			return Assignment{}, terr
		}
		link, err = s.q.SignupLinkCreate(ctx, s.pool, store.SignupLinkCreateParams{
			Token: token, UserID: u.ID, Body: deeplink.Body(prefill, u.Code), ExpiresAt: now.Add(s.cfg.SignupLinkTTL), Now: now,
		})
	}
	if err != nil {
		return Assignment{}, fmt.Errorf("signup link: %w", err)
	}
	a.Token, a.Body, a.ExpiresAt = link.Token, link.Body, link.ExpiresAt
	return a, nil
}

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/router"
)

type lineBudget struct {
	Default      int     `json:"default"`
	Override     *int    `json:"override"`
	WarmupFactor float64 `json:"warmup_factor"`
	Effective    int     `json:"effective"`
}

type lineView struct {
	ID              int64      `json:"id"`
	Number          string     `json:"number"`
	LinqID          string     `json:"linq_id"`
	Reputation      string     `json:"reputation"`
	ServiceStatus   string     `json:"service_status"`
	AdminState      string     `json:"admin_state"`
	Eligible        bool       `json:"eligible"`
	BlockedReason   string     `json:"blocked_reason,omitempty"`
	Users           int        `json:"users"`
	Cap             int        `json:"cap"`
	Utilization     float64    `json:"utilization"`
	HeadroomLeft    int        `json:"headroom_left"`
	SignupsLastHour int        `json:"signups_last_hour"`
	SignupRamp      int        `json:"signup_ramp_per_hour"`
	Budget          lineBudget `json:"budget"`
	WarmupStartedAt time.Time  `json:"warmup_started_at"`
	LastAssignedAt  *time.Time `json:"last_assigned_at"`
	IneligibleAt    *time.Time `json:"ineligible_at"`
	MissingAt       *time.Time `json:"missing_from_linq_at"`
	StatusChangedAt time.Time  `json:"status_changed_at"`
	SyncedAt        *time.Time `json:"synced_at"`
}

func toLineView(l lines.Line, defaultBudget int) lineView {
	block := l.BlockReason()
	return lineView{
		ID: l.ID, Number: l.Number, LinqID: l.LinqID, Reputation: l.Reputation, ServiceStatus: l.ServiceStatus,
		AdminState: l.AdminState, Eligible: block == "", BlockedReason: block,
		Users: l.UserCount, Cap: l.Cap, Utilization: l.Utilization(), HeadroomLeft: l.HeadroomLeft(),
		SignupsLastHour: l.SignupsLastHour, SignupRamp: l.RampLimit,
		Budget:          lineBudget{Default: defaultBudget, Override: l.BudgetOverride, WarmupFactor: l.WarmupFactor, Effective: l.EffectiveBudget},
		WarmupStartedAt: l.WarmupStartedAt, LastAssignedAt: l.LastAssignedAt, IneligibleAt: l.IneligibleAt,
		MissingAt: l.MissingAt, StatusChangedAt: l.StatusChangedAt, SyncedAt: l.SyncedAt,
	}
}

// poolSummary's users and capacity are lines.FillOf's, as in the capacity
// plan: capacity_left is the plan's room under the name it had here first.
type poolSummary struct {
	Lines          int            `json:"lines"`
	Eligible       int            `json:"eligible"`
	UsableLines    int            `json:"usable_lines"`
	Users          int            `json:"users"`
	UsersElsewhere int            `json:"users_elsewhere"`
	Capacity       int            `json:"capacity"`
	CapacityLeft   int            `json:"capacity_left"`
	Headroom       float64        `json:"headroom"`
	Usage          lines.Usage    `json:"usage"`
	BlockedReasons map[string]int `json:"blocked_reasons"`
}

// Pages of GET /v1/ops/lines.
const (
	defaultLinesPage = 100
	maxLinesPage     = 1000
)

// listLines is one page of the pool as ops see it, in id order (limit
// lines after the line id after; next is the cursor of the following page,
// absent on the last), with the summary of the whole pool, whose users and
// capacity are the capacity plan's (lines.FillOf: the usable lines).
func (s *server) listLines(w http.ResponseWriter, r *http.Request) {
	limit, after, err := idPage(r, "a line id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	ls, usage, err := s.Lines.List(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	cfg := s.Lines.Config()
	fill := lines.FillOf(ls)
	sum := poolSummary{Lines: len(ls), UsableLines: fill.UsableLines, Users: fill.Users, UsersElsewhere: fill.UsersElsewhere,
		Capacity: fill.Capacity, CapacityLeft: fill.Room, Headroom: cfg.Headroom, Usage: usage, BlockedReasons: map[string]int{}}
	views := make([]lineView, 0, min(limit, len(ls)))
	var next int64
	for _, l := range ls {
		v := toLineView(l, cfg.DefaultBudget)
		switch {
		case l.ID <= after:
		case len(views) < limit:
			views = append(views, v)
		case next == 0:
			next = views[len(views)-1].ID
		}
		if v.Eligible {
			sum.Eligible++
		} else {
			sum.BlockedReasons[v.BlockedReason]++
		}
	}
	out := map[string]any{"lines": views, "summary": sum}
	if next != 0 {
		out["next"] = strconv.FormatInt(next, 10)
	}
	s.resp.JSON(w, http.StatusOK, out)
}

// idPage reads a page's limit (1 to maxLinesPage, default
// defaultLinesPage) and its after cursor (the id in the previous page's
// next cursor; default 0). what names the ids in an error.
func idPage(r *http.Request, what string) (limit int, after int64, err error) {
	q := r.URL.Query()
	limit = defaultLinesPage
	if raw := q.Get("limit"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > maxLinesPage {
			return 0, 0, apperr.Field("limit", "must be an integer from 1 to "+strconv.Itoa(maxLinesPage))
		}
		limit = v
	}
	if raw := q.Get("after"); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 0 {
			return 0, 0, apperr.Field("after", "must be "+what+" (the next cursor of the previous page)")
		}
		after = v
	}
	return limit, after, nil
}

// lineUsers pages the users whose current line the line is.
func (s *server) lineUsers(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	limit, after, err := idPage(r, "a user id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	page, err := s.Router.UsersOnLine(r.Context(), id, after, limit)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, page)
}

type patchLineRequest struct {
	AdminState     *string         `json:"admin_state"`
	BudgetOverride json.RawMessage `json:"budget_override"`
}

// patchLine sets a line's admin state and budget override
// (budget_override null clears it) in one transaction. Retiring a line moves
// its users off it through the router, the path failover uses, in that same
// transaction.
func (s *server) patchLine(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	var req patchLineRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	upd := lines.Update{AdminState: req.AdminState}
	if req.BudgetOverride != nil {
		upd.SetBudget = true
		if !bytes.Equal(bytes.TrimSpace(req.BudgetOverride), []byte("null")) {
			var v int
			if err := json.Unmarshal(req.BudgetOverride, &v); err != nil {
				s.resp.Error(w, r, apperr.Field("budget_override", "must be a positive integer or null"))
				return
			}
			upd.BudgetOverride = &v
		}
	}
	if upd.AdminState == nil && !upd.SetBudget {
		s.resp.Error(w, r, apperr.New(apperr.Invalid, "empty_patch", "give admin_state and/or budget_override"))
		return
	}
	var moved *router.MoveResult
	retire := func(ctx context.Context, id int64, first func(ctx context.Context, tx pgx.Tx) error) error {
		res, err := s.Router.RetireWith(ctx, id, first)
		moved = &res
		return err
	}
	l, err := s.Lines.Patch(r.Context(), id, upd, retire)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	out := map[string]any{"line": toLineView(l, s.Lines.Config().DefaultBudget)}
	if moved != nil {
		out["moved"] = moved
	}
	s.resp.JSON(w, http.StatusOK, out)
}

func (s *server) syncLines(w http.ResponseWriter, r *http.Request) {
	res, err := s.Lines.Sync(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, res)
}

// rotation previews the next n signups (default 10, at most
// router.MaxRotation) with the assignment's own picking code.
func (s *server) rotation(w http.ResponseWriter, r *http.Request) {
	n := 10
	if raw := r.URL.Query().Get("n"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > router.MaxRotation {
			s.resp.Error(w, r, apperr.Field("n", "must be an integer from 1 to "+strconv.Itoa(router.MaxRotation)))
			return
		}
		n = v
	}
	rot, err := s.Router.Rotation(r.Context(), n)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, rot)
}

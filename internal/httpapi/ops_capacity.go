package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
)

// capacityRoutes are the capacity plan and the per-line volume series.
func (s *server) capacityRoutes() []Route {
	if s.Lines == nil {
		return nil
	}
	return []Route{
		{"GET", "/v1/ops/capacity", apikey.ScopeOpsRead, s.capacity},
		{"GET", "/v1/ops/lines/{id}/volume", apikey.ScopeOpsRead, s.lineVolume},
	}
}

// capacityPlan is lines.CapacityPlan with line health's single-failure
// check (absent when line health is not wired).
type capacityPlan struct {
	lines.CapacityPlan
	SingleFailure *health.SingleFailure `json:"single_failure"`
}

func (s *server) capacity(w http.ResponseWriter, r *http.Request) {
	// One read of the lines for both the plan and the check.
	ls, usage, err := s.Lines.List(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	plan, err := s.Lines.CapacityOf(r.Context(), ls, usage)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	out := capacityPlan{CapacityPlan: plan}
	if s.Health != nil {
		sf := s.Health.SingleFailureOf(ls, usage)
		out.SingleFailure = &sf
	}
	s.resp.JSON(w, http.StatusOK, out)
}

// volumeBuckets are the bucket sizes the series offers.
var volumeBuckets = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour,
}

// maxVolumeHours bounds the span: the records go back 7 days.
const maxVolumeHours = lines.ObservedDays * 24

// lineVolume is one line's inbound and outbound messages over the last
// hours (24 by default) in buckets (15m by default).
func (s *server) lineVolume(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	name := q.Get("bucket")
	if name == "" {
		name = "15m"
	}
	bucket, ok := volumeBuckets[name]
	if !ok {
		s.resp.Error(w, r, apperr.Field("bucket", "must be one of 1m, 5m, 15m, 30m, 1h"))
		return
	}
	hours := 24
	if raw := q.Get("hours"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > maxVolumeHours {
			s.resp.Error(w, r, apperr.Field("hours", "must be an integer from 1 to "+strconv.Itoa(maxVolumeHours)))
			return
		}
		hours = v
	}
	if name == "1m" && hours > 24 {
		s.resp.Error(w, r, apperr.Field("hours", "at most 24 with 1m buckets"))
		return
	}
	points, err := s.Lines.Volume(r.Context(), id, bucket, time.Duration(hours)*time.Hour)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"line_id": id, "bucket": name, "hours": hours, "points": points})
}

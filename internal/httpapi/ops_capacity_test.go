package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

// opsBundle is a gateway with the pool, line health and ops sessions wired
// and the database clock pinned to the test clock.
type opsBundle struct {
	handler http.Handler
	pool    *pgxpool.Pool
	clock   *testkit.Clock
	keys    *apikey.Service
	opsKey  string
}

var opsNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func opsSetup(t *testing.T, publicURL string) *opsBundle {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, store.PoolConfig{URL: pgtest.NewURL(t), MaxConns: 5})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `INSERT INTO clock_override (at) VALUES ($1)`, opsNow)
	require.NoError(t, err)
	c := testkit.NewClock(opsNow)
	logger := slog.New(slog.DiscardHandler)
	m := metrics.New()
	keys := apikey.New(pool, apikey.Config{Now: c.Now})
	ls := lines.New(pool, nil, logger, lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.15, MsgsPerUserPerDay: 20, SignupRampPerHour: 200, Now: c.Now})
	rt := router.New(pool, ls, logger, m, router.Config{Now: c.Now})
	hs := health.New(pool, ls, rt, nil, nil, logger, m, health.Config{Now: c.Now})
	b := &opsBundle{pool: pool, clock: c, keys: keys, handler: httpapi.New(httpapi.Deps{
		Logger: logger, Metrics: m, DB: pool, Auth: keys, Keys: keys, Lines: ls, Router: rt, Health: hs,
		Signup:   httpapi.SignupConfig{PublicURL: publicURL, CompanyName: "Acme", PublicRatePerMin: 100, Now: c.Now},
		Sessions: httpapi.NewOpsSessions(pool, httpapi.OpsSessionConfig{TTL: time.Hour, Now: c.Now}),
	})}
	b.opsKey, _, err = keys.Create(ctx, "ops", []string{apikey.ScopeOpsRead, apikey.ScopeOpsWrite})
	require.NoError(t, err)
	return b
}

func (b *opsBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

// request runs one request; header holds extra headers, cookie the
// session cookie ("" for none).
func (b *opsBundle) request(t *testing.T, method, path string, body any, cookie string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.OpsSessionCookie, Value: cookie})
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

// addFixtureLine inserts a line with user_count users.
func (b *opsBundle) addFixtureLine(t *testing.T, number string, users int, extra string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, warmup_started_at, user_count) VALUES ($1, '2020-01-01', $2) RETURNING id`, number, users).Scan(&id))
	if extra != "" {
		b.exec(t, `UPDATE lines SET `+extra+` WHERE id = $1`, id)
	}
	return id
}

// volume records inbound and outbound messages on a line in the minute ago
// before the pinned clock.
func (b *opsBundle) volume(t *testing.T, line int64, ago time.Duration, in, out int) {
	t.Helper()
	b.exec(t, `INSERT INTO line_volume (line_id, minute, inbound, outbound) VALUES ($1, $2, $3, $4)`, line, opsNow.Add(-ago), in, out)
}

// signups records n users whose home is line, signed up ago before the
// clock (lines.user_count is set apart: these are the signup history).
func (b *opsBundle) signups(t *testing.T, line int64, ago time.Duration, n int) {
	t.Helper()
	b.exec(t, `INSERT INTO users (user_ref, code, home_line_id, current_line_id, created_at)
		SELECT 'u-' || $1::bigint || '-' || $2::bigint || '-' || g, 'c-' || $1::bigint || '-' || $2::bigint || '-' || g, $1, $1, $3
		FROM generate_series(1, $4::int) g`, line, int64(ago/time.Minute), opsNow.Add(-ago), n)
}

type capacityAnswer struct {
	Usage struct {
		PerUserPerDay float64 `json:"msgs_per_user_per_day"`
		Source        string  `json:"source"`
	} `json:"usage"`
	Pool struct {
		Lines          int      `json:"lines"`
		UsableLines    int      `json:"usable_lines"`
		Users          int      `json:"users"`
		UsersElsewhere int      `json:"users_elsewhere"`
		Capacity       int      `json:"capacity"`
		Room           int      `json:"room"`
		WarmedCapacity int      `json:"warmed_capacity"`
		Fill           float64  `json:"fill"`
		Volume24h      int64    `json:"volume_24h"`
		Inbound7d      int64    `json:"inbound_7d"`
		Outbound7d     int64    `json:"outbound_7d"`
		Reciprocity    *float64 `json:"reciprocity"`
		Signups24h     int      `json:"signups_24h"`
		Signups7d      int      `json:"signups_7d"`
		SignupsPerDay  float64  `json:"signups_per_day"`
		DaysUntilFull  *float64 `json:"days_until_full"`
		ProjectedUsers int      `json:"projected_users"`
		LinesToAdd     int      `json:"lines_to_add"`
		NewLineCap     int      `json:"new_line_cap"`
		LinesToAddNow  int      `json:"lines_to_add_now"`
		NewLineCapNow  int      `json:"new_line_cap_now"`
	} `json:"pool"`
	Lines []struct {
		LineID          int64    `json:"line_id"`
		Usable          bool     `json:"usable"`
		Users           int      `json:"users"`
		Cap             int      `json:"cap"`
		WarmedCap       int      `json:"warmed_cap"`
		WarmupFactor    float64  `json:"warmup_factor"`
		EffectiveBudget int      `json:"effective_budget"`
		Inbound24h      int64    `json:"inbound_24h"`
		Outbound24h     int64    `json:"outbound_24h"`
		Volume24h       int64    `json:"volume_24h"`
		BudgetUsed      float64  `json:"budget_used"`
		Reciprocity     *float64 `json:"reciprocity"`
		Signups24h      int      `json:"signups_24h"`
		Signups7d       int      `json:"signups_7d"`
	} `json:"lines"`
	SingleFailure struct {
		OK          bool `json:"ok"`
		WouldStrand []struct {
			LineID   int64 `json:"line_id"`
			Stranded int   `json:"would_strand"`
		} `json:"would_strand"`
		LinesToAdd int `json:"lines_to_add"`
	} `json:"single_failure"`
}

// TestCapacityPlan checks the plan of a five-line pool against numbers
// worked out by hand (budget 7,000, headroom 0.15, 20 messages per user per
// day: a warmed-up line's cap is ⌊7000 × 0.85 ÷ 20⌋ = 297).
func TestCapacityPlan(t *testing.T) {
	t.Parallel()

	t.Run("FiveLinePoolMatchesHandComputedPlan", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		// L1 warmed up, near its cap of 297.
		l1 := b.addFixtureLine(t, "+15550100001", 290, "")
		// L2 half-way through its 14-day warm-up: factor 0.2 + 0.8 × ½ =
		// 0.6, budget 4,200, cap ⌊4200 × 0.85 ÷ 20⌋ = 178 (297 warmed).
		l2 := b.addFixtureLine(t, "+15550100002", 170, "warmup_started_at = '2026-02-23 10:00+00'")
		// L3 draining with a 3,500 override: cap ⌊148.75⌋ = 148, no room counted.
		l3 := b.addFixtureLine(t, "+15550100003", 80, "admin_state = 'draining', budget_override = 3500")
		// L4 down: takes no users.
		l4 := b.addFixtureLine(t, "+15550100004", 0, "health_state = 'down'")
		// L5 with a 14,000 override: cap ⌊595⌋ = 595.
		l5 := b.addFixtureLine(t, "+15550100005", 400, "budget_override = 14000")

		b.volume(t, l1, time.Hour, 50, 150)
		b.volume(t, l1, 24*time.Hour, 5, 5) // the minute 1,440 back has left the budget's window
		b.volume(t, l1, 3*24*time.Hour, 100, 200)
		b.volume(t, l2, 2*time.Hour, 10, 20)
		b.volume(t, l3, 30*time.Minute, 0, 40)
		b.volume(t, l5, 8*24*time.Hour, 300, 300) // older than 7 days

		b.signups(t, l1, time.Hour, 10)
		b.signups(t, l1, 3*24*time.Hour, 20)
		b.signups(t, l1, 8*24*time.Hour, 7) // older than 7 days
		b.signups(t, l2, 2*time.Hour, 5)
		b.signups(t, l2, 5*24*time.Hour, 9)
		b.signups(t, l5, 6*24*time.Hour, 26)

		rec := b.request(t, "GET", "/v1/ops/capacity", nil, "", map[string]string{"Authorization": "Bearer " + b.opsKey})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[capacityAnswer](t, rec)

		require.Equal(t, "config", got.Usage.Source)
		require.InDelta(t, 20, got.Usage.PerUserPerDay, 1e-9)
		require.Len(t, got.Lines, 5)
		byID := map[int64]int{}
		for i, l := range got.Lines {
			byID[l.LineID] = i
		}
		type want struct {
			usable                bool
			users, cap, warmedCap int
			factor                float64
			effBudget             int
			in24, out24           int64
			recip                 *float64
			signups24, signups7   int
		}
		f := func(v float64) *float64 { return &v }
		wants := map[int64]want{
			l1: {true, 290, 297, 297, 1, 7000, 50, 150, f(155.0 / 355), 10, 30},
			l2: {true, 170, 178, 297, 0.6, 4200, 10, 20, f(0.5), 5, 14},
			l3: {false, 80, 148, 148, 1, 3500, 0, 40, f(0), 0, 0},
			l4: {false, 0, 297, 297, 1, 7000, 0, 0, nil, 0, 0},
			l5: {true, 400, 595, 595, 1, 14000, 0, 0, nil, 0, 26},
		}
		for id, w := range wants {
			l := got.Lines[byID[id]]
			require.Equal(t, w.usable, l.Usable, "line %d usable", id)
			require.Equal(t, w.users, l.Users, "line %d users", id)
			require.Equal(t, w.cap, l.Cap, "line %d cap", id)
			require.Equal(t, w.warmedCap, l.WarmedCap, "line %d warmed cap", id)
			require.InDelta(t, w.factor, l.WarmupFactor, 1e-9, "line %d warm-up", id)
			if id != l4 { // a down line's budget is line_policy's business
				require.Equal(t, w.effBudget, l.EffectiveBudget, "line %d budget", id)
			}
			require.Equal(t, w.in24, l.Inbound24h, "line %d inbound", id)
			require.Equal(t, w.out24, l.Outbound24h, "line %d outbound", id)
			require.Equal(t, w.in24+w.out24, l.Volume24h, "line %d volume", id)
			if w.recip == nil {
				require.Nil(t, l.Reciprocity, "line %d reciprocity", id)
			} else {
				require.NotNil(t, l.Reciprocity, "line %d reciprocity", id)
				require.InDelta(t, *w.recip, *l.Reciprocity, 1e-9, "line %d reciprocity", id)
			}
			require.Equal(t, w.signups24, l.Signups24h, "line %d signups 24 h", id)
			require.Equal(t, w.signups7, l.Signups7d, "line %d signups 7 d", id)
		}
		require.InDelta(t, 200.0/7000, got.Lines[byID[l1]].BudgetUsed, 1e-9)

		p := got.Pool
		require.Equal(t, 5, p.Lines)
		require.Equal(t, 3, p.UsableLines)
		require.Equal(t, 290+170+400, p.Users)          // 860 on the usable lines
		require.Equal(t, 80, p.UsersElsewhere)          // L3 draining
		require.Equal(t, 297+178+595, p.Capacity)       // 1,070
		require.Equal(t, 7+8+195, p.Room)               // 210
		require.Equal(t, 297+297+595, p.WarmedCapacity) // 1,189
		require.InDelta(t, 860.0/1070, p.Fill, 1e-9)
		require.Equal(t, int64(270), p.Volume24h)
		require.Equal(t, int64(165), p.Inbound7d)
		require.Equal(t, int64(415), p.Outbound7d)
		require.InDelta(t, 165.0/415, *p.Reciprocity, 1e-9)
		require.Equal(t, 15, p.Signups24h)
		require.Equal(t, 70, p.Signups7d)
		require.InDelta(t, 10, p.SignupsPerDay, 1e-9)
		require.NotNil(t, p.DaysUntilFull)
		require.InDelta(t, 21, *p.DaysUntilFull, 1e-9) // 210 ÷ 10
		require.Equal(t, 940+300, p.ProjectedUsers)
		require.Equal(t, 297, p.NewLineCap)
		require.Equal(t, 1, p.LinesToAdd)     // ⌈(1,240 − 1,189) ÷ 297⌉
		require.Equal(t, 59, p.NewLineCapNow) // warm-up factor 0.2: ⌊1400 × 0.85 ÷ 20⌋
		require.Zero(t, p.LinesToAddNow)      // 940 users under 1,070

		// Room on the ok, active lines is 7 + 8 + 195 = 210: L1 (290
		// users) has 203 elsewhere and strands 87, L5 (400) has 15 and
		// strands 385; ⌈385 ÷ 297⌉ = 2 lines absorb the worst.
		sf := got.SingleFailure
		require.False(t, sf.OK)
		strand := map[int64]int{}
		for _, w := range sf.WouldStrand {
			strand[w.LineID] = w.Stranded
		}
		require.Equal(t, map[int64]int{l1: 87, l5: 385}, strand)
		require.Equal(t, 2, sf.LinesToAdd)
	})

	// The pool's users, capacity, room and fill are those of the usable
	// lines; the users of lines that take none are counted apart.
	usableOnly := []struct {
		name                    string
		usable                  int // users on the one usable line (cap 297)
		elsewhere               []string
		wantElsewhere, wantRoom int
		wantFill                float64
	}{
		{"DrainingDownAndHeldLinesUsersAreCountedApart", 24,
			[]string{"admin_state = 'draining', user_count = 6", "health_state = 'down', user_count = 3", "held_at = '2026-03-02 09:00+00', user_count = 2"},
			11, 273, 24.0 / 297},
		{"FillIsOneWhenTheUsableLinesAreFull", 297, []string{"admin_state = 'draining', user_count = 60"}, 60, 0, 1},
	}
	for _, tc := range usableOnly {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := opsSetup(t, "http://lg.example.com")
			b.addFixtureLine(t, "+15550100001", tc.usable, "")
			for i, extra := range tc.elsewhere {
				b.addFixtureLine(t, fmt.Sprintf("+1555010010%d", i), 0, extra)
			}
			rec := b.request(t, "GET", "/v1/ops/capacity", nil, "", map[string]string{"Authorization": "Bearer " + b.opsKey})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			p := decodeJSON[capacityAnswer](t, rec).Pool
			require.Equal(t, 1, p.UsableLines)
			require.Equal(t, tc.usable, p.Users, "users on usable lines")
			require.Equal(t, tc.wantElsewhere, p.UsersElsewhere, "users on lines that take none")
			require.Equal(t, 297, p.Capacity)
			require.Equal(t, tc.wantRoom, p.Room)
			require.Equal(t, p.Capacity-p.Users, p.Room, "no usable line is over its cap")
			require.InDelta(t, tc.wantFill, p.Fill, 1e-9)
			require.Equal(t, tc.usable+tc.wantElsewhere, p.ProjectedUsers, "no signups: every user")
		})
	}

	// The observed 503: the only usable line is warming up and full, its
	// warmed cap would hold everyone, so the 30-day plan adds nothing.
	t.Run("LinesToAddNowFitsTodaysUsersUnderTodaysCaps", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		// Warm-up starts now: factor 0.2, budget 1,400, cap ⌊1400 × 0.85 ÷ 20⌋ = 59.
		fresh := b.addFixtureLine(t, "+15550100001", 59, "warmup_started_at = '2026-03-02 10:00+00'")
		b.addFixtureLine(t, "+15550100002", 70, "admin_state = 'draining'")
		rec := b.request(t, "GET", "/v1/ops/capacity", nil, "", map[string]string{"Authorization": "Bearer " + b.opsKey})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[capacityAnswer](t, rec)
		p := got.Pool
		require.Equal(t, 0, p.Room)
		require.Equal(t, 297, p.WarmedCapacity)
		require.Equal(t, 129, p.ProjectedUsers)
		require.Zero(t, p.LinesToAdd, "warmed up, the line holds all 129")
		require.Equal(t, 59, p.NewLineCapNow)
		require.Equal(t, got.Lines[0].Cap, p.NewLineCapNow, "a line added now is capped as line %d, which started now", fresh)
		require.Equal(t, 2, p.LinesToAddNow) // ⌈(129 − 59) ÷ 59⌉
	})

	t.Run("EmptyPoolHasNoRateAndNeedsNoLines", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		rec := b.request(t, "GET", "/v1/ops/capacity", nil, "", map[string]string{"Authorization": "Bearer " + b.opsKey})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[capacityAnswer](t, rec)
		require.Empty(t, got.Lines)
		require.Nil(t, got.Pool.DaysUntilFull)
		require.Zero(t, got.Pool.LinesToAdd)
		require.True(t, got.SingleFailure.OK)
	})
}

type volumeAnswer struct {
	Points []struct {
		Start    time.Time `json:"start"`
		Inbound  int64     `json:"inbound"`
		Outbound int64     `json:"outbound"`
	} `json:"points"`
}

func TestLineVolumeSeries(t *testing.T) {
	t.Parallel()
	b := opsSetup(t, "http://lg.example.com")
	line := b.addFixtureLine(t, "+15550100001", 0, "")
	b.volume(t, line, time.Hour, 50, 150)
	b.volume(t, line, time.Hour-10*time.Minute, 1, 2)
	b.volume(t, line, 3*24*time.Hour, 100, 200)
	auth := map[string]string{"Authorization": "Bearer " + b.opsKey}

	t.Run("HourlyBucketsCoverTheDayWithZeros", func(t *testing.T) {
		t.Parallel()
		rec := b.request(t, "GET", "/v1/ops/lines/"+itoa64(line)+"/volume?bucket=1h", nil, "", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[volumeAnswer](t, rec)
		require.Len(t, got.Points, 25) // 10:00 yesterday … 10:00 today
		require.True(t, got.Points[0].Start.Equal(opsNow.Add(-24*time.Hour)))
		var in, out int64
		for _, p := range got.Points {
			in, out = in+p.Inbound, out+p.Outbound
		}
		require.Equal(t, int64(51), in)
		require.Equal(t, int64(152), out)
		at9 := got.Points[23]
		require.True(t, at9.Start.Equal(opsNow.Add(-time.Hour)))
		require.Equal(t, int64(51), at9.Inbound)
	})

	t.Run("FifteenMinuteBucketsByDefault", func(t *testing.T) {
		t.Parallel()
		rec := b.request(t, "GET", "/v1/ops/lines/"+itoa64(line)+"/volume", nil, "", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[volumeAnswer](t, rec)
		require.Len(t, got.Points, 97)
	})

	cases := []struct {
		name, path string
		status     int
	}{
		{"UnknownBucketIsInvalid", "/volume?bucket=7m", http.StatusUnprocessableEntity},
		{"TooLongSpanIsInvalid", "/volume?hours=1000", http.StatusUnprocessableEntity},
		{"MinuteBucketsAtMostADay", "/volume?bucket=1m&hours=48", http.StatusUnprocessableEntity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := b.request(t, "GET", "/v1/ops/lines/"+itoa64(line)+tc.path, nil, "", auth)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
		})
	}

	t.Run("UnknownLineIsNotFound", func(t *testing.T) {
		t.Parallel()
		rec := b.request(t, "GET", "/v1/ops/lines/999999/volume", nil, "", auth)
		require.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

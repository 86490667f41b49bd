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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

const poolPublicURL = "https://lg.example.com"

// poolBundle is a gateway with the line pool wired, real keys, no lines yet.
type poolBundle struct {
	handler   http.Handler
	pool      *pgxpool.Pool
	metrics   *metrics.Metrics
	clock     *testkit.Clock
	signupKey string
	opsKey    string
}

type poolOptions struct {
	rampPerHour int
	publicRate  int
}

func poolSetup(t *testing.T, opts ...func(*poolOptions)) *poolBundle {
	t.Helper()
	return poolInstance(t, pgtest.NewURL(t), testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)), opts...)
}

// poolInstance builds one gateway instance (own pool, services, handler,
// keys) on the database at url.
func poolInstance(t *testing.T, url string, c *testkit.Clock, opts ...func(*poolOptions)) *poolBundle {
	t.Helper()
	o := poolOptions{rampPerHour: 10_000, publicRate: 10_000}
	for _, f := range opts {
		f(&o)
	}
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: url, MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	logger := slog.New(slog.DiscardHandler)
	m := metrics.New()
	keys := apikey.New(pool, apikey.Config{Now: c.Now})
	ls := lines.New(pool, nil, logger, lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.15, MsgsPerUserPerDay: 20, SignupRampPerHour: o.rampPerHour, Now: c.Now})
	rcfg := router.DefaultConfig()
	rcfg.Now = c.Now
	rt := router.New(pool, ls, logger, m, rcfg)
	b := &poolBundle{pool: pool, clock: c, metrics: m, handler: httpapi.New(httpapi.Deps{
		Logger: logger, Metrics: m, DB: pool, Auth: keys, Keys: keys, Lines: ls, Router: rt,
		Signup: httpapi.SignupConfig{PublicURL: poolPublicURL, CompanyName: "Acme, Inc.", PublicRatePerMin: o.publicRate, Now: c.Now},
	})}
	b.signupKey, _, err = keys.Create(context.Background(), "product", []string{apikey.ScopeSignup})
	require.NoError(t, err)
	b.opsKey, _, err = keys.Create(context.Background(), "ops", []string{apikey.ScopeOpsRead, apikey.ScopeOpsWrite})
	require.NoError(t, err)
	return b
}

// addLine inserts a line whose warm-up is over: cap 297 at the defaults.
func (b *poolBundle) addLine(t *testing.T, number string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, warmup_started_at) VALUES ($1, '2020-01-01') RETURNING id`, number).Scan(&id))
	return id
}

func (b *poolBundle) do(t *testing.T, method, path, key string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

type signupAnswer struct {
	UserRef     string           `json:"user_ref"`
	Handle      *string          `json:"handle"`
	Code        string           `json:"code"`
	Line        router.LineRef   `json:"line"`
	CurrentLine router.LineRef   `json:"current_line"`
	Reason      string           `json:"reason"`
	Backups     []router.LineRef `json:"backups"`
	Body        string           `json:"body"`
	Links       struct {
		IOS     string `json:"ios"`
		Android string `json:"android"`
		Short   string `json:"short"`
	} `json:"links"`
	VCardURL  string    `json:"vcard_url"`
	QRURL     string    `json:"qr_url"`
	ExpiresAt time.Time `json:"expires_at"`
}

type errorAnswer struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Field      string `json:"field"`
		Reason     string `json:"reason"`
		RetryAfter int    `json:"retry_after"`
	} `json:"error"`
}

func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "body %s", rec.Body.String())
	return v
}

func (b *poolBundle) signup(t *testing.T, body map[string]any) signupAnswer {
	t.Helper()
	rec := b.do(t, "POST", "/v1/signups", b.signupKey, body)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return decodeJSON[signupAnswer](t, rec)
}

var codeShape = regexp.MustCompile(`^LG-[0-9A-HJKMNP-TV-Z]{8}$`)

func TestSignups(t *testing.T) {
	t.Parallel()

	t.Run("CreatesSignupWithExactLinks", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		l1 := b.addLine(t, "+15550100001")
		l2 := b.addLine(t, "+15550100002")
		l3 := b.addLine(t, "+15550100003")
		a := b.signup(t, map[string]any{"user_ref": "user:42", "handle": "+1 (415) 555-2671", "prefill_text": "Join the waitlist"})

		require.Equal(t, "user:42", a.UserRef)
		require.Equal(t, "+14155552671", *a.Handle)
		require.Regexp(t, codeShape, a.Code)
		require.Equal(t, router.LineRef{ID: l1, Number: "+15550100001"}, a.Line)
		require.Equal(t, a.Line, a.CurrentLine)
		require.Equal(t, router.ReasonLowestID, a.Reason)
		require.Equal(t, []router.LineRef{{ID: l2, Number: "+15550100002"}, {ID: l3, Number: "+15550100003"}}, a.Backups)
		require.Equal(t, "Join the waitlist ["+a.Code+"]", a.Body)
		require.Equal(t, "sms:+15550100001&body=Join%20the%20waitlist%20%5B"+a.Code+"%5D", a.Links.IOS)
		require.Equal(t, "sms:+15550100001?body=Join%20the%20waitlist%20%5B"+a.Code+"%5D", a.Links.Android)
		require.Regexp(t, `^https://lg\.example\.com/s/[A-Za-z0-9_-]{22}$`, a.Links.Short)
		require.Equal(t, a.Links.Short+"/contact.vcf", a.VCardURL)
		require.Equal(t, a.Links.Short+"/qr.png", a.QRURL)
		require.Equal(t, b.clock.Now().Add(720*time.Hour), a.ExpiresAt)
	})

	t.Run("DefaultBodyWithoutPrefill", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		a := b.signup(t, map[string]any{"user_ref": "u1"})
		require.Nil(t, a.Handle)
		require.Equal(t, "sms:+15550100001&body=Hi%21%20My%20code%3A%20%5B"+a.Code+"%5D", a.Links.IOS)
		require.Equal(t, "sms:+15550100001?body=Hi%21%20My%20code%3A%20%5B"+a.Code+"%5D", a.Links.Android)
	})

	t.Run("SameUserRefTwiceIsOneAssignment", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		first := b.signup(t, map[string]any{"user_ref": "u1", "handle": "a@example.com"})
		rec := b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u1", "handle": "a@example.com"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		again := decodeJSON[signupAnswer](t, rec)
		require.Equal(t, router.ReasonExisting, again.Reason)
		first.Reason = again.Reason
		require.Equal(t, first, again)
		var users int
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users))
		require.Equal(t, 1, users)
	})

	t.Run("InvalidInputIs422NamingTheField", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		tests := []struct {
			name    string
			body    map[string]any
			field   string
			message string // when set, the whole message
		}{
			{"MissingUserRef", map[string]any{"handle": "+14155552671"}, "user_ref", ""},
			{"UserRefWithSlash", map[string]any{"user_ref": "a/b"}, "user_ref", ""},
			{"UserRefTooLong", map[string]any{"user_ref": string(bytes.Repeat([]byte("a"), 201))}, "user_ref", ""},
			{"HandleGibberish", map[string]any{"user_ref": "u1", "handle": "call me maybe"}, "handle", "handle: is neither a phone number nor an email address"},
			{"HandleTooShortNumber", map[string]any{"user_ref": "u1", "handle": "+1 555"}, "handle", ""},
			{"HandleBareDomain", map[string]any{"user_ref": "u1", "handle": "ann@localhost"}, "handle", "handle: must have a domain name such as example.com"},
			{"HandleWrongType", map[string]any{"user_ref": "u1", "handle": 14155552671}, "handle", ""},
			{"PrefillTooLong", map[string]any{"user_ref": "u1", "prefill_text": string(bytes.Repeat([]byte("x"), 501))}, "prefill_text", ""},
			// Valid JSON and UTF-8 that Postgres text cannot hold.
			{"DisplayNameWithNUL", map[string]any{"user_ref": "u1", "display_name": "a\x00b"}, "display_name", ""},
			{"PrefillWithNUL", map[string]any{"user_ref": "u1", "prefill_text": "a\x00b"}, "prefill_text", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.do(t, "POST", "/v1/signups", b.signupKey, tt.body)
				require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
				ans := decodeJSON[errorAnswer](t, rec)
				require.Equal(t, tt.field, ans.Error.Field)
				if tt.message != "" {
					require.Equal(t, tt.message, ans.Error.Message)
				}
			})
		}
	})

	t.Run("HandleOfAnotherUserIs409", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "u1", "handle": "+14155552671"})
		rec := b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u2", "handle": "415-555-2671"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		require.Equal(t, "handle_taken", decodeJSON[errorAnswer](t, rec).Error.Code)
	})

	t.Run("RepeatWithAnotherHandleIs409", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "u1", "handle": "+14155552671"})
		b.signup(t, map[string]any{"user_ref": "u2", "handle": "+14155552672"})
		tests := []struct {
			name, handle, code string
		}{
			{"OwnedByAnotherUser", "+14155552672", "handle_taken"},
			{"Free", "+14155552679", "handle_mismatch"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u1", "handle": tt.handle})
				require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
				require.Equal(t, tt.code, decodeJSON[errorAnswer](t, rec).Error.Code)
				u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/u1", b.signupKey, nil))
				require.Equal(t, "+14155552671", *u.Handle)
			})
		}
	})

	t.Run("NonObjectBodyIs400WithoutInternals", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		for _, body := range []string{`[{"user_ref":"u1"}]`, `"u1"`, `1`, `null`} {
			t.Run(body, func(t *testing.T) {
				t.Parallel()
				req := httptest.NewRequest("POST", "/v1/signups", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+b.signupKey)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				b.handler.ServeHTTP(rec, req)
				require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
				require.Equal(t, "invalid_json", decodeJSON[errorAnswer](t, rec).Error.Code)
				require.NotContains(t, rec.Body.String(), "httpapi")
				require.NotContains(t, rec.Body.String(), "Request")
			})
		}
	})

	t.Run("NoEligibleLineIs503WithRetryAfter", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			ramp   int
			budget int
			reason string
		}{
			{"Exhausted", 10_000, 24, router.PoolExhausted}, // cap 1
			{"RampLimited", 1, 7000, router.PoolRampLimited},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := poolSetup(t, func(o *poolOptions) { o.rampPerHour = tt.ramp })
				id := b.addLine(t, "+15550100001")
				_, err := b.pool.Exec(context.Background(), `UPDATE lines SET budget_override = $1 WHERE id = $2`, tt.budget, id)
				require.NoError(t, err)
				b.signup(t, map[string]any{"user_ref": "u1"})
				rec := b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u2"})
				require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
				require.NotEmpty(t, rec.Header().Get("Retry-After"))
				e := decodeJSON[errorAnswer](t, rec)
				require.Equal(t, tt.reason, e.Error.Reason)
				require.Positive(t, e.Error.RetryAfter)
				var users int
				require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE user_ref = 'u2'`).Scan(&users))
				require.Zero(t, users)
			})
		}
	})

	t.Run("NeedsTheSignupScope", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		require.Equal(t, http.StatusUnauthorized, b.do(t, "POST", "/v1/signups", "", map[string]any{"user_ref": "u1"}).Code)
		require.Equal(t, http.StatusForbidden, b.do(t, "POST", "/v1/signups", b.opsKey, map[string]any{"user_ref": "u1"}).Code)
	})

	t.Run("TwoInstancesStayUnderCapAndEven", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		c := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		a, b := poolInstance(t, url, c), poolInstance(t, url, c)
		// Budgets giving caps 20, 40, 60 and 85 (× 0.85 ÷ 20): 205 places.
		caps := map[int64]int{}
		for i, budget := range []int{471, 942, 1412, 2000} {
			id := a.addLine(t, fmt.Sprintf("+1555010000%d", i))
			_, err := a.pool.Exec(context.Background(), `UPDATE lines SET budget_override = $1 WHERE id = $2`, budget, id)
			require.NoError(t, err)
			caps[id] = []int{20, 40, 60, 85}[i]
		}
		var wg sync.WaitGroup
		codes := make(chan int, 200)
		for i := range 200 {
			inst := []*poolBundle{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- inst.do(t, "POST", "/v1/signups", inst.signupKey, map[string]any{"user_ref": fmt.Sprintf("u%d", i)}).Code
			}()
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			require.Equal(t, http.StatusCreated, code)
		}
		users := map[int64]int{}
		rows, err := a.pool.Query(context.Background(), `SELECT home_line_id, count(*) FROM users GROUP BY 1`)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var n int
			require.NoError(t, rows.Scan(&id, &n))
			users[id] = n
		}
		require.NoError(t, rows.Err())
		for i, ci := range caps {
			require.LessOrEqual(t, users[i], ci)
			for j, cj := range caps {
				require.LessOrEqual(t, (users[i]-1)*cj, users[j]*ci, "line %d is more than one user ahead of line %d", i, j)
			}
		}
	})
}

package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/testkit"
)

// linqWithHook serves the simulator and calls onCreate with the signing
// secret of each subscription it creates, before its creator has Linq's
// answer (Linq may deliver that early). refuse makes creation fail.
func linqWithHook(t *testing.T, onCreate func(secret string), refuse *atomic.Bool) *linq.Client {
	t.Helper()
	sim := linqsim.New(linqsim.Config{Logger: testkit.Logger(t)})
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/webhook-subscriptions" {
			h.ServeHTTP(w, r)
			return
		}
		if refuse != nil && refuse.Load() {
			http.Error(w, `{"error":{"status":400,"code":1000,"message":"refused"}}`, http.StatusBadRequest)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var sub struct {
			SigningSecret string `json:"signing_secret"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &sub) == nil && sub.SigningSecret != "" {
			onCreate(sub.SigningSecret)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() { srv.Close(); sim.Close() })
	lc, err := linq.New(linq.Config{BaseURL: srv.URL, APIKey: "k", MaxRetries: -1, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	return lc
}

// Linq delivers with a new subscription's secret before the replica that
// asked for it has committed it. Another replica, which has just read the
// secrets, cannot verify the delivery yet: it answers 503 (Linq retries),
// not 401 (Linq drops it), and verifies the retry once the secret is
// committed.
func TestDeliveryDuringSubscriptionChangeIsRetried(t *testing.T) {
	t.Parallel()
	e := newSecretsEnv(t)
	e.save(t, "sub_stale", oldSecret) // not at Linq: replaced
	require.NoError(t, e.deliver(e.svc, "evt_warm", oldSecret))

	var secret string
	var early error
	lc := linqWithHook(t, func(s string) {
		secret = s
		early = e.deliver(e.svc, "evt_early", s)
	}, nil)
	creator, _ := e.replica(t, lc)
	require.NoError(t, creator.EnsureSubscription(context.Background()))

	require.NotEmpty(t, secret)
	requireRefused(t, early, apperr.Unavailable, "signature_unconfirmed")
	require.NoError(t, e.deliver(e.svc, "evt_early", secret), "Linq's retry")
	var changes int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM linq_webhook_subscription_changes`).Scan(&changes))
	require.Zero(t, changes, "the change ended with the secret's commit")
	requireRefused(t, e.deliver(e.svc, "evt_forged", forgedSecret), apperr.Unauthorized, "invalid_signature")
}

// A change Linq refused ends at once: forged deliveries are refused again.
func TestRefusedSubscriptionChangeEnds(t *testing.T) {
	t.Parallel()
	e := newSecretsEnv(t)
	var refuse atomic.Bool
	refuse.Store(true)
	creator, _ := e.replica(t, linqWithHook(t, func(string) {}, &refuse))
	require.Error(t, creator.EnsureSubscription(context.Background()))
	e.save(t, "sub_other", oldSecret)
	requireRefused(t, e.deliver(e.svc, "evt_forged", forgedSecret), apperr.Unauthorized, "invalid_signature")
}

// A change in progress makes unmatched signatures retryable only for a
// bounded time: one whose replica died before ending it lapses.
func TestSubscriptionChangeInProgressLapses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		age  string
		kind apperr.Kind
		code string
	}{
		{"Recent", "1 second", apperr.Unavailable, "signature_unconfirmed"},
		{"PastItsBound", "6 minutes", apperr.Unauthorized, "invalid_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSecretsEnv(t)
			e.save(t, "sub_old", oldSecret)
			_, err := e.pool.Exec(context.Background(), `INSERT INTO linq_webhook_subscription_changes (target_url, started_at)
				VALUES ($1, now() - $2::interval)`, testTarget, tc.age)
			require.NoError(t, err)
			require.Less(t, subscriptionChangeFor, 6*time.Minute)
			requireRefused(t, e.deliver(e.svc, "evt_forged", forgedSecret), tc.kind, tc.code)
		})
	}
}

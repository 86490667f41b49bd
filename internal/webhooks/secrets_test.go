package webhooks

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

const (
	oldSecret    = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ="
	newSecret    = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ="
	forgedSecret = "whsec_Zm9yZ2VkLWZvcmdlZC1mb3JnZWQtZm9yZ2VkLWZvcmdlZA=="
	testTarget   = "https://gw.example/v1/linq/webhooks?version=2026-02-03"
)

// secretsEnv is one database and one replica's intake, on a clock that
// moves only when told (it is also the read budget's).
type secretsEnv struct {
	pool    *pgxpool.Pool
	clock   *testkit.Clock
	metrics *metrics.Metrics
	svc     *Service
}

func newSecretsEnv(t *testing.T) *secretsEnv {
	t.Helper()
	e := &secretsEnv{pool: pgtest.NewPool(t), clock: testkit.NewClock(time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC))}
	e.svc, e.metrics = e.replica(t, nil)
	return e
}

// replica builds another gateway's intake on the same database.
func (e *secretsEnv) replica(t *testing.T, lc *linq.Client) (*Service, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	return New(e.pool, &jobLog{ids: map[string]int{}}, lc, testkit.Logger(t), m, Config{
		Now: e.clock.Now, PublicURL: "https://gw.example",
	}), m
}

// save stores a subscription's secret as EnsureSubscription commits it.
func (e *secretsEnv) save(t *testing.T, id, secret string) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), `INSERT INTO linq_webhook_subscriptions (id, target_url, signing_secret, event_types, created_at)
		VALUES ($1, $2, $3, '{message.received}', now())
		ON CONFLICT (target_url) DO UPDATE SET id = excluded.id, signing_secret = excluded.signing_secret`, id, testTarget, secret)
	require.NoError(t, err)
}

// deliver posts an event signed with secret to svc, as Linq does.
func (e *secretsEnv) deliver(svc *Service, id, secret string) error {
	now := e.clock.Now()
	body := []byte(`{"event_id":"` + id + `","event_type":"message.received","created_at":"2026-02-03T10:00:00Z","data":{"id":"m"}}`)
	h := http.Header{}
	h.Set(linq.HeaderWebhookID, "msg_"+id)
	h.Set(linq.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(linq.HeaderWebhookSignature, linq.SignStandard(secret, "msg_"+id, now, body))
	_, err := svc.Accept(context.Background(), h, body)
	return err
}

// requireRefused checks err is the apperr of kind and code.
func requireRefused(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	require.Error(t, err)
	ae, ok := apperr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, kind, ae.Kind, "%v", err)
	require.Equal(t, code, ae.Code)
	if kind == apperr.Unavailable {
		require.Positive(t, ae.RetryAfter)
	}
}

// Another replica stored a new subscription's secret after this one last
// read the secrets: a delivery signed with it is verified against a new
// read, however recently this replica read them last.
func TestSecretStoredByAnotherReplicaVerifies(t *testing.T) {
	t.Parallel()
	e := newSecretsEnv(t)
	e.save(t, "sub_old", oldSecret)
	require.NoError(t, e.deliver(e.svc, "evt_1", oldSecret))

	// Before the other replica commits it, the secret is unknown: no change
	// in progress was recorded, so the answer is final.
	requireRefused(t, e.deliver(e.svc, "evt_2", newSecret), apperr.Unauthorized, "invalid_signature")
	e.save(t, "sub_new", newSecret)
	require.NoError(t, e.deliver(e.svc, "evt_3", newSecret))
}

// Verifications that fail share the reads of the secrets in flight: many
// deliveries signed with a newly stored secret, at once, all verify on one
// read, though the read budget is smaller than their number.
func TestConcurrentDeliveriesShareOneReadOfTheSecrets(t *testing.T) {
	t.Parallel()
	e := newSecretsEnv(t)
	e.save(t, "sub_old", oldSecret)
	require.NoError(t, e.deliver(e.svc, "evt_warm", oldSecret))
	e.save(t, "sub_new", newSecret)

	const n = 4 * secretReloadBurst
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = e.deliver(e.svc, "evt_"+strconv.Itoa(i), newSecret) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "delivery %d", i)
	}
}

// Failed verifications read the secrets within a budget, so forged traffic
// costs the database little. Once it is spent, a signature no known secret
// matches may be one with a secret stored since: it gets a 503, which Linq
// retries, never a 401, which Linq drops. The rejection metric says which.
func TestUnmatchedSignatureOverTheReadBudgetIsRetryable(t *testing.T) {
	t.Parallel()
	e := newSecretsEnv(t)
	e.save(t, "sub_old", oldSecret)
	require.NoError(t, e.deliver(e.svc, "evt_warm", oldSecret))
	for i := range secretReloadBurst {
		requireRefused(t, e.deliver(e.svc, "evt_forged_"+strconv.Itoa(i), forgedSecret), apperr.Unauthorized, "invalid_signature")
	}

	e.save(t, "sub_new", newSecret) // another replica commits a new secret
	requireRefused(t, e.deliver(e.svc, "evt_new", newSecret), apperr.Unavailable, "signature_unconfirmed")
	requireRefused(t, e.deliver(e.svc, "evt_forged", forgedSecret), apperr.Unavailable, "signature_unconfirmed")
	require.InDelta(t, secretReloadBurst, testutil.ToFloat64(e.metrics.WebhooksRejected.WithLabelValues("invalid_signature")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(e.metrics.WebhooksRejected.WithLabelValues("signature_unconfirmed")), 0)

	// Linq's retry, once the budget has refilled, verifies.
	e.clock.Advance(secretReload)
	require.NoError(t, e.deliver(e.svc, "evt_new", newSecret))
}

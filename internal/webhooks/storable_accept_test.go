package webhooks

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

// A correctly signed inbound message whose text holds what jsonb cannot
// (a NUL, a lone surrogate, bytes that are not UTF-8) is stored with its
// job, the characters replaced: refused, Linq would never send it again.
func TestAcceptKeepsTextPostgresCannotHold(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	now := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	jobs := &jobLog{ids: map[string]int{}}
	svc := New(pool, jobs, nil, testkit.Logger(t), metrics.New(), Config{
		Secrets: []string{fuzzSecret}, Now: func() time.Time { return now },
	})
	for i, text := range []string{`a\u0000b`, `a\ud800b`, "a\xffb"} {
		id := "evt_" + string(rune('a'+i))
		body := []byte(`{"event_id":"` + id + `","event_type":"message.received","created_at":"2026-02-03T10:00:00Z",` +
			`"data":{"id":"m1","parts":[{"type":"text","value":"` + text + `"}]}}`)
		h := http.Header{}
		h.Set(linq.HeaderWebhookID, "msg_"+id)
		h.Set(linq.HeaderWebhookTimestamp, "1770112800")
		h.Set(linq.HeaderWebhookSignature, linq.SignStandard(fuzzSecret, "msg_"+id, now, body))
		_, err := svc.Accept(context.Background(), h, body)
		require.NoError(t, err, "%q", text)
		var stored string
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT payload->'data'->'parts'->0->>'value' FROM webhook_events WHERE event_id = $1`, id).Scan(&stored))
		require.Equal(t, "a\ufffdb", stored)
		require.Equal(t, 1, jobs.count(id))
	}
}

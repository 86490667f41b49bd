package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/webhooks"
)

// benchWebhookSecret signs the benchmark's deliveries; the bench gateway is
// configured with it (LINQ_WEBHOOK_SECRETS).
const benchWebhookSecret = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==" //nolint:gosec // a throwaway secret of the benchmark's own gateway

// webhookBench runs (e) signed message.received deliveries through POST
// /v1/linq/webhooks with C clients and (f) the same store-and-enqueue
// transaction in a tight loop, prints both with their ratio (target ≥ 0.6),
// then starts processing and reports how long the backlog took and the
// processing lag.
func webhookBench(ctx context.Context, cfg Config, out io.Writer, a *app.App, gwURL string, hc *http.Client, numbers []string) error {
	var seq atomic.Int64
	event := func(rng *rand.Rand) (*linq.WebhookEvent, []byte) {
		id := "evt_bench_" + strconv.FormatInt(seq.Add(1), 10)
		b, _ := json.Marshal(map[string]any{
			"event_id": id, "event_type": linq.EventMessageReceived, "created_at": time.Now().UTC(),
			"api_version": "v3", "webhook_version": linq.WebhookVersion20260203, "partner_id": "bench", "trace_id": id,
			"data": map[string]any{
				"id": "m_" + id, "direction": "inbound", "service": "iMessage",
				"chat":          map[string]any{"id": "chat_" + id, "owner_handle": map[string]any{"handle": numbers[rng.IntN(len(numbers))], "is_me": true}},
				"sender_handle": map[string]any{"handle": fmt.Sprintf("+1444%07d", rng.IntN(100000))},
				"parts":         []map[string]any{{"type": "text", "value": "bench inbound"}},
			},
		})
		return &linq.WebhookEvent{EventID: id, EventType: linq.EventMessageReceived, CreatedAt: time.Now()}, b
	}

	intake := load(ctx, phaseName("(e) webhook intake", cfg.Concurrency), cfg.Concurrency, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
		_, body := event(rng)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gwURL+webhooks.Path, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		ts := time.Now()
		msgID := "msg_" + strconv.FormatInt(ts.UnixNano(), 36)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(linq.HeaderWebhookID, msgID)
		req.Header.Set(linq.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(linq.HeaderWebhookSignature, linq.SignStandard(benchWebhookSecret, msgID, ts, body))
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return strconv.Itoa(resp.StatusCode), nil
		}
		return "", nil
	})
	ceiling := load(ctx, phaseName("(f) intake SQL ceiling", cfg.Concurrency), cfg.Concurrency, cfg.Duration, func(ctx context.Context, rng *rand.Rand) (string, error) {
		ev, body := event(rng)
		_, err := a.Webhooks().Store(ctx, ev, body)
		return "", err
	})

	printTable(out, intake, ceiling)
	r := ratio(intake.perSecond(), ceiling.perSecond())
	fmt.Fprintf(out, "webhook intake / SQL ceiling: %.2f (target >= 0.60: %s)\n", r, verdict(r >= 0.6))

	// Processing: the events above were only stored; start the workers and
	// time the backlog.
	start := time.Now()
	if err := a.Start(ctx); err != nil {
		return fmt.Errorf("start processing: %w", err)
	}
	drained, err := waitProcessed(ctx, a.Pool(), 5*time.Minute)
	if err != nil {
		return err
	}
	var h dto.Metric
	_ = a.Metrics().WebhookLag.Write(&h)
	mean := 0.0
	if n := h.GetHistogram().GetSampleCount(); n > 0 {
		mean = h.GetHistogram().GetSampleSum() / float64(n)
	}
	state := "drained"
	if !drained {
		state = "NOT drained"
	}
	fmt.Fprintf(out, "webhook processing: %d events %s in %s (%.0f/s); lag from accept to processed: mean %.2f s\n",
		h.GetHistogram().GetSampleCount(), state, time.Since(start).Round(time.Millisecond),
		float64(h.GetHistogram().GetSampleCount())/time.Since(start).Seconds(), mean)
	return nil
}

// waitProcessed polls until no accepted webhook waits for processing, or
// the limit passes.
func waitProcessed(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		left, err := store.New().WebhookEventCountUnprocessed(ctx, pool)
		if err != nil {
			return false, fmt.Errorf("count unprocessed webhooks: %w", err)
		}
		if left == 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false, nil
}

package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// DeliverArgs is the River job that sends one delivery. It holds only the
// delivery's id and generation: the body lives in event_deliveries, where
// it can be dropped once delivered.
type DeliverArgs struct {
	DeliveryID int64 `json:"delivery_id"`
	// Generation is the delivery's generation the job was queued for: a
	// retry or replay queues the next one, and this job then sends nothing.
	Generation int32 `json:"generation,omitempty"`
}

// Kind names the job in River.
func (DeliverArgs) Kind() string { return "event_delivery" }

// Worker returns the River worker that sends deliveries.
func (s *Service) Worker() river.Worker[DeliverArgs] { return &deliveryWorker{s: s} }

type deliveryWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Service
}

// NextRetry doubles the wait after each failure, from RetryBase up to
// RetryMaxDelay. River schedules on the wall clock.
func (w *deliveryWorker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return time.Now().Add(retryDelay(w.s.cfg.RetryBase, w.s.cfg.RetryMaxDelay, job.Attempt))
}

// Timeout leaves the attempt time to record its outcome.
func (w *deliveryWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.s.cfg.DeliveryTimeout + 10*time.Second
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.s.deliver(ctx, job.Args, job.Attempt >= job.MaxAttempts)
}

// deliver makes one attempt. It returns an error when the attempt failed,
// so River retries it (or, on the last attempt, discards the job: the
// delivery is then dead until ops replay it); when the database failed
// instead, River runs it again later (putOff).
func (s *Service) deliver(ctx context.Context, args DeliverArgs, last bool) error {
	id := args.DeliveryID
	d, err := s.q.EventDeliveryGetForSend(ctx, s.pool, id)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return nil // its subscription was deleted
	}
	if err != nil {
		return s.putOff(ctx, fmt.Errorf("delivery %d: %w", id, err))
	}
	if d.State == StateDelivered || d.Payload == nil {
		return nil // a replay raced a retry that got through
	}
	if d.Generation != args.Generation {
		return nil // a retry or replay queued it again: that job sends it
	}
	return s.attempt(ctx, d, args, last)
}

// attempt sends d, read for args's job, and records the outcome.
func (s *Service) attempt(ctx context.Context, d store.EventDeliveryGetForSendRow, args DeliverArgs, last bool) error {
	id := args.DeliveryID
	status, sendErr := s.send(ctx, d)
	if sendErr != nil && errors.Is(ctx.Err(), context.Canceled) {
		// The gateway is stopping (River cancels the jobs still running when
		// the grace runs out): no answer came, which says nothing of the
		// endpoint, so no attempt is spent and the next start sends it.
		return river.JobSnooze(0)
	}
	rec := store.EventDeliveryRecordParams{ID: id, Generation: args.Generation, Now: s.cfg.Now().UTC(), KeepText: s.cfg.StoreMessageText}
	if status != 0 {
		st := int32(status)
		rec.LastStatus = &st
	}
	result := StateDelivered
	switch {
	case sendErr == nil:
		rec.State = StateDelivered
	case last:
		rec.State, result = StateDead, StateDead
	default:
		rec.State, result = StateRetrying, "failed"
	}
	if sendErr != nil {
		msg := sendErr.Error()
		rec.LastError = &msg
	}
	// Record even when the job's context ran out: the outcome must not be
	// lost with it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n, err := s.q.EventDeliveryRecord(rctx, s.pool, rec)
	if err != nil {
		return s.putOff(ctx, fmt.Errorf("delivery %d: record: %w", id, err))
	}
	s.metrics.EventDeliveries.WithLabelValues(result).Inc()
	if n == 0 {
		// A retry or replay queued the delivery again while this attempt
		// was under way; the new job goes on trying, so this one ends.
		return nil
	}
	if rec.State == StateDead {
		s.log.WarnContext(ctx, "event delivery is dead after its last attempt",
			slog.Int64("delivery_id", id), slog.Int64("subscription_id", d.SubscriptionID),
			slog.String("event_id", d.EventID), slog.String("error", *rec.LastError))
	}
	return sendErr
}

// putOff has River run the job again later without spending an attempt:
// the delivery could not be read or its outcome recorded (Postgres
// restarting), which says nothing of the endpoint. Failing instead would,
// on the last attempt, discard the job without recording the delivery
// dead (only the orphan sweep would find it, hours later).
func (s *Service) putOff(ctx context.Context, err error) error {
	s.log.WarnContext(ctx, "event delivery put off: database unavailable", slog.String("error", err.Error()))
	return river.JobSnooze(s.cfg.RetryBase)
}

// send POSTs the body with Standard Webhooks headers: webhook-id is the
// event id, the same on every attempt, so consumers can dedupe on it.
func (s *Service) send(ctx context.Context, d store.EventDeliveryGetForSendRow) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	now := s.cfg.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Linegate-Events/1")
	req.Header.Set(linq.HeaderWebhookID, d.EventID)
	req.Header.Set(linq.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(linq.HeaderWebhookSignature, Signature(signingSecrets(d, now), d.EventID, now, d.Payload))
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// signingSecrets is the current secret plus, during rotations' overlaps,
// the ones they replaced.
func signingSecrets(d store.EventDeliveryGetForSendRow, now time.Time) []string {
	out := []string{d.Secret}
	for _, r := range retiredSecrets(d.RetiredSecrets, d.RetiredUntil, now) {
		out = append(out, r.secret)
	}
	return out
}

// Signature is the webhook-signature header value: one space-separated
// `v1,<base64>` per secret, as Standard Webhooks allows for rotation.
func Signature(secrets []string, id string, at time.Time, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, sec := range secrets {
		sigs[i] = linq.SignStandard(sec, id, at, body)
	}
	return strings.Join(sigs, " ")
}

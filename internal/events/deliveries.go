package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// Delivery states.
const (
	StatePending   = "pending"
	StateRetrying  = "retrying"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// Delivery is one event sent (or being sent) to one subscription.
type Delivery struct {
	ID             int64      `json:"id"`
	SubscriptionID int64      `json:"subscription_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	State          string     `json:"state"`
	Attempts       int32      `json:"attempts"`
	LastStatus     *int32     `json:"last_status"`
	LastError      *string    `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
}

// DeliveryFilter selects deliveries; zero fields match everything.
type DeliveryFilter struct {
	// State is pending, retrying (or its alias failed), delivered or dead.
	State          string
	SubscriptionID int64
	AfterID        int64
	Limit          int
}

// Deliveries lists deliveries in id order.
func (s *Service) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	p := store.EventDeliveryListParams{AfterID: f.AfterID, MaxRows: 100}
	if f.Limit > 0 && f.Limit < 1000 {
		p.MaxRows = int32(f.Limit)
	}
	switch f.State {
	case "":
	case "failed", StateRetrying:
		st := StateRetrying
		p.State = &st
	case StatePending, StateDelivered, StateDead:
		p.State = &f.State
	default:
		return nil, apperr.Field("state", "must be pending, retrying, failed, delivered or dead")
	}
	if f.SubscriptionID != 0 {
		p.SubscriptionID = &f.SubscriptionID
	}
	rows, err := s.q.EventDeliveryList(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = Delivery{
			ID: r.ID, SubscriptionID: r.SubscriptionID, EventID: r.EventID, EventType: r.EventType, State: r.State,
			Attempts: r.Attempts, LastStatus: r.LastStatus, LastError: r.LastError, CreatedAt: r.CreatedAt,
			UpdatedAt: r.UpdatedAt, DeliveredAt: r.DeliveredAt,
		}
	}
	return out, nil
}

// Retry sends a failed or dead delivery again now, with a fresh set of
// attempts and the same event id.
func (s *Service) Retry(ctx context.Context, id int64) error {
	ids, err := s.requeue(ctx, store.EventDeliveryRequeueParams{ID: &id, Page: 1})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		return nil
	}
	state, err := s.q.EventDeliveryState(ctx, s.pool, id)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "delivery_not_found", fmt.Sprintf("no event delivery %d", id))
	}
	if err != nil {
		return fmt.Errorf("event delivery %d: %w", id, err)
	}
	return apperr.New(apperr.Conflict, "delivery_not_retryable",
		fmt.Sprintf("delivery %d is %s; only a failed (retrying) or dead delivery is sent again", id, state))
}

// replayPage is how many deliveries a replay queues per transaction: a
// subscription down for a day can hold a million, which one transaction
// would hold locked (and lose whole when the request ends) for minutes.
const replayPage = 1000

// Replay sends every failed or dead delivery of a subscription again and
// returns how many. It commits page by page: when ctx ends midway, the
// pages queued stay queued, and a replay again queues the rest.
func (s *Service) Replay(ctx context.Context, subscriptionID int64) (int, error) {
	if _, err := s.Subscription(ctx, subscriptionID); err != nil {
		return 0, err
	}
	total := 0
	p := store.EventDeliveryRequeueParams{SubscriptionID: &subscriptionID, Page: replayPage}
	for {
		ids, err := s.requeue(ctx, p)
		total += len(ids)
		if err != nil {
			return total, err
		}
		if len(ids) < replayPage {
			return total, nil
		}
		p.After = slices.Max(ids)
	}
}

// requeue queues a page of deliveries again in one transaction, each for
// its next generation, and returns their ids.
func (s *Service) requeue(ctx context.Context, p store.EventDeliveryRequeueParams) ([]int64, error) {
	p.Now = s.cfg.Now().UTC()
	return store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) ([]int64, error) {
		rows, err := s.q.EventDeliveryRequeue(ctx, tx, p)
		if err != nil {
			return nil, fmt.Errorf("requeue deliveries: %w", err)
		}
		ids, args := make([]int64, len(rows)), make([]DeliverArgs, len(rows))
		for i, r := range rows {
			ids[i], args[i] = r.ID, DeliverArgs{DeliveryID: r.ID, Generation: r.Generation}
		}
		return ids, s.enqueue(ctx, tx, args)
	})
}

package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// EventTypes are the Linq events Linegate subscribes to.
var EventTypes = []string{
	linq.EventMessageReceived, linq.EventMessageSent, linq.EventMessageDelivered, linq.EventMessageRead,
	linq.EventMessageFailed, linq.EventPhoneNumberStatusUpdated, linq.EventChatCreated,
}

// EnsureSubscription makes sure Linq delivers EventTypes to TargetURL
// through a subscription whose secret Linegate holds. A subscription to
// that URL whose secret is not stored (say, after a database restore) is
// replaced, since its deliveries could not be verified. Replicas take turns
// under an advisory lock, so only one creates it.
//
// Linq can deliver with a new subscription's secret before the transaction
// that stores it commits. So the change is recorded, committed, before Linq
// is asked, and ends in that transaction: meanwhile every replica's intake
// answers a delivery it cannot verify with a 503, which Linq retries.
func (s *Service) EnsureSubscription(ctx context.Context) error {
	target := s.TargetURL()
	created := false
	err := store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.q.LinqWebhookSubscriptionLock(ctx, tx, store.AdvisoryKey("linq_webhook_subscription")); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		row, err := s.q.LinqWebhookSubscriptionGet(ctx, tx, target)
		known := err == nil
		if err != nil && !errors.Is(store.Interpret(err), store.ErrNotFound) {
			return fmt.Errorf("stored subscription: %w", err)
		}
		list, err := s.linq.ListWebhookSubscriptions(ctx)
		if err != nil {
			return fmt.Errorf("list linq subscriptions: %w", err)
		}
		for _, sub := range list.Subscriptions {
			if sub.TargetURL != target {
				continue
			}
			if known && sub.ID == row.ID && sub.IsActive && covers(sub.SubscribedEvents) {
				return nil
			}
			if _, err := s.linq.DeleteWebhookSubscription(ctx, sub.ID); err != nil {
				s.log.WarnContext(ctx, "could not delete a stale Linq webhook subscription",
					slog.String("subscription_id", sub.ID), slog.Any("error", err))
			}
		}
		if known {
			if err := s.q.LinqWebhookSubscriptionDelete(ctx, tx, row.ID); err != nil {
				return fmt.Errorf("forget subscription: %w", err)
			}
		}
		// On the pool, not tx: committed at once.
		if err := s.q.LinqWebhookSubscriptionChangeBegin(ctx, s.pool, target); err != nil {
			return fmt.Errorf("record subscription change: %w", err)
		}
		sub, err := s.linq.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
			TargetURL: target, SubscribedEvents: EventTypes,
		})
		if err != nil {
			// Linq answered no secret: nothing can be signed with it. Ended
			// while the lock is held, so no other replica's change is.
			s.endChange(ctx, target)
			return fmt.Errorf("create linq subscription: %w", err)
		}
		if sub.SigningSecret == "" {
			s.endChange(ctx, target)
			return errors.New("create linq subscription: no signing secret in the answer")
		}
		created = true
		if err := s.q.LinqWebhookSubscriptionSave(ctx, tx, store.LinqWebhookSubscriptionSaveParams{
			ID: sub.ID, TargetUrl: target, SigningSecret: sub.SigningSecret, EventTypes: EventTypes,
			CreatedAt: s.cfg.Now().UTC(),
		}); err != nil {
			return fmt.Errorf("store subscription: %w", err)
		}
		// Ends with the secret's commit: a read sees one or the other.
		if err := s.q.LinqWebhookSubscriptionChangeEnd(ctx, tx, target); err != nil {
			return fmt.Errorf("end subscription change: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure linq webhook subscription: %w", err)
	}
	if created {
		s.forgetSecrets()
		s.log.InfoContext(ctx, "created the Linq webhook subscription", slog.String("target_url", target))
	}
	return nil
}

// endChange ends a change that stored nothing; should it fail, the change
// lapses after subscriptionChangeFor.
func (s *Service) endChange(ctx context.Context, target string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.q.LinqWebhookSubscriptionChangeEnd(ctx, s.pool, target); err != nil {
		s.log.WarnContext(ctx, "could not end a Linq webhook subscription change", slog.Any("error", err))
	}
}

// HasSubscription reports whether a subscription to TargetURL is stored:
// Linq was set up to deliver here before.
func (s *Service) HasSubscription(ctx context.Context) (bool, error) {
	_, err := s.q.LinqWebhookSubscriptionGet(ctx, s.pool, s.TargetURL())
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stored subscription: %w", err)
	}
	return true, nil
}

func covers(have []string) bool {
	for _, t := range EventTypes {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

// SubscriptionArgs is the periodic River job that re-checks the
// subscription (Linq may have been unreachable at start).
type SubscriptionArgs struct{}

// Kind names the job in River.
func (SubscriptionArgs) Kind() string { return "linq_webhook_subscription" }

// SubscriptionWorker returns the worker of SubscriptionArgs.
func (s *Service) SubscriptionWorker() river.Worker[SubscriptionArgs] {
	return &subscriptionWorker{s: s}
}

type subscriptionWorker struct {
	river.WorkerDefaults[SubscriptionArgs]
	s *Service
}

func (w *subscriptionWorker) Work(ctx context.Context, _ *river.Job[SubscriptionArgs]) error {
	return w.s.EnsureSubscription(ctx)
}

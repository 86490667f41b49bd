package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// Types lists every event type a subscription may ask for.
var Types = []string{
	TypeMessageReceived, TypeMessageStatus, TypeUserConnected, TypeUserOptedOut,
	TypeUserOptedIn, TypeUserLineChanged, TypeUserDeleted, TypeLineStatusChanged,
}

// Subscription is a product service's subscription. Its secret is shown
// only when it is created or rotated.
type Subscription struct {
	ID         int64     `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// PreviousSecretUntil is when the secret that a rotation replaced stops
	// signing; nil when no rotation is in its overlap.
	PreviousSecretUntil *time.Time `json:"previous_secret_until"`
}

// SubscriptionInput creates a subscription or, with nil fields left alone,
// changes one.
type SubscriptionInput struct {
	URL        *string
	EventTypes []string
}

func toSubscription(r store.EventSubscription, now time.Time) Subscription {
	s := Subscription{ID: r.ID, URL: r.URL, EventTypes: r.EventTypes, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if live := retiredSecrets(r.RetiredSecrets, r.RetiredUntil, now); len(live) > 0 {
		s.PreviousSecretUntil = &live[0].until
	}
	return s
}

func validURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2000 {
		return apperr.Field("url", "must be an absolute http(s) URL")
	}
	return nil
}

func validTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, apperr.Field("event_types", "must name at least one event type")
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(Types, t) {
			return nil, apperr.Field("event_types", fmt.Sprintf("unknown event type %q", t))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// newSecret is a Standard Webhooks secret: whsec_ and 32 random bytes.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return linq.WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// CreateSubscription subscribes a URL to event types and returns the
// signing secret, which is never shown again.
func (s *Service) CreateSubscription(ctx context.Context, in SubscriptionInput) (Subscription, string, error) {
	if in.URL == nil {
		return Subscription{}, "", apperr.Field("url", "is required")
	}
	if err := validURL(*in.URL); err != nil {
		return Subscription{}, "", err
	}
	types, err := validTypes(in.EventTypes)
	if err != nil {
		return Subscription{}, "", err
	}
	secret, err := newSecret()
	if err != nil {
		return Subscription{}, "", err
	}
	now := s.cfg.Now().UTC()
	r, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (store.EventSubscription, error) {
		if err := s.urlFree(ctx, tx, *in.URL, 0); err != nil {
			return store.EventSubscription{}, err
		}
		return s.q.EventSubscriptionCreate(ctx, tx, store.EventSubscriptionCreateParams{
			URL: *in.URL, EventTypes: types, Secret: secret, Now: now,
		})
	})
	if err != nil {
		return Subscription{}, "", fmt.Errorf("create subscription: %w", err)
	}
	return toSubscription(r, now), secret, nil
}

// urlFree refuses a URL that another subscription (not except) has
// already: every event would reach it twice, one copy signed with a secret
// it may not hold (a create retried after its answer was lost, a deploy
// that subscribes at each start). The lock it takes makes the check hold
// until tx ends, across replicas.
func (s *Service) urlFree(ctx context.Context, tx pgx.Tx, url string, except int64) error {
	if err := s.q.EventSubscriptionLockWriters(ctx, tx); err != nil {
		return fmt.Errorf("lock subscriptions: %w", err)
	}
	id, err := s.q.EventSubscriptionIDByURL(ctx, tx, store.EventSubscriptionIDByURLParams{URL: url, ExceptID: except})
	switch {
	case errors.Is(store.Interpret(err), store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("subscription by url: %w", err)
	}
	e := apperr.New(apperr.Conflict, "subscription_exists",
		fmt.Sprintf("event subscription %d has this url already; change its event_types, or rotate its secret if it was lost", id))
	e.Field, e.Details = "url", map[string]any{"subscription_id": id}
	return e
}

// Subscriptions lists every subscription.
func (s *Service) Subscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := s.q.EventSubscriptionList(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	now := s.cfg.Now()
	out := make([]Subscription, len(rows))
	for i, r := range rows {
		out[i] = toSubscription(r, now)
	}
	return out, nil
}

// Subscription returns one subscription.
func (s *Service) Subscription(ctx context.Context, id int64) (Subscription, error) {
	r, err := s.q.EventSubscriptionGet(ctx, s.pool, id)
	if err != nil {
		return Subscription{}, notFound(err, id)
	}
	return toSubscription(r, s.cfg.Now()), nil
}

// UpdateSubscription changes the URL or event types.
func (s *Service) UpdateSubscription(ctx context.Context, id int64, in SubscriptionInput) (Subscription, error) {
	if in.URL == nil && in.EventTypes == nil {
		return Subscription{}, apperr.New(apperr.Invalid, "empty_patch", "give url and/or event_types")
	}
	p := store.EventSubscriptionUpdateParams{ID: id, Now: s.cfg.Now().UTC()}
	if in.URL != nil {
		if err := validURL(*in.URL); err != nil {
			return Subscription{}, err
		}
		p.URL = in.URL
	}
	if in.EventTypes != nil {
		types, err := validTypes(in.EventTypes)
		if err != nil {
			return Subscription{}, err
		}
		p.EventTypes = types
	}
	r, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (store.EventSubscription, error) {
		if p.URL != nil {
			if err := s.urlFree(ctx, tx, *p.URL, id); err != nil {
				return store.EventSubscription{}, err
			}
		}
		return s.q.EventSubscriptionUpdate(ctx, tx, p)
	})
	if err != nil {
		return Subscription{}, notFound(err, id)
	}
	return toSubscription(r, p.Now), nil
}

// maxRetiredSecrets bounds how many replaced secrets sign beside the
// current one (each adds a signature to every delivery); past it the
// oldest stops early.
const maxRetiredSecrets = 8

// RotateSecret gives the subscription a new secret and returns it; the old
// one keeps signing beside it for the configured overlap, and so do the
// secrets earlier rotations replaced until their own overlaps end.
func (s *Service) RotateSecret(ctx context.Context, id int64) (Subscription, string, error) {
	secret, err := newSecret()
	if err != nil {
		return Subscription{}, "", err
	}
	now := s.cfg.Now().UTC()
	r, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (store.EventSubscription, error) {
		cur, err := s.q.EventSubscriptionGetForRotate(ctx, tx, id)
		if err != nil {
			return store.EventSubscription{}, err
		}
		p := store.EventSubscriptionRotateParams{
			ID: id, Secret: secret, Now: now,
			RetiredSecrets: []string{cur.Secret}, RetiredUntil: []time.Time{now.Add(s.cfg.SecretOverlap)},
		}
		for _, old := range retiredSecrets(cur.RetiredSecrets, cur.RetiredUntil, now) {
			if len(p.RetiredSecrets) == maxRetiredSecrets {
				break
			}
			p.RetiredSecrets = append(p.RetiredSecrets, old.secret)
			p.RetiredUntil = append(p.RetiredUntil, old.until)
		}
		return s.q.EventSubscriptionRotate(ctx, tx, p)
	})
	if err != nil {
		return Subscription{}, "", notFound(err, id)
	}
	return toSubscription(r, now), secret, nil
}

type retiredSecret struct {
	secret string
	until  time.Time
}

// retiredSecrets are the replaced secrets that still sign at now, newest
// first.
func retiredSecrets(secrets []string, until []time.Time, now time.Time) []retiredSecret {
	var out []retiredSecret
	for i, sec := range secrets {
		if i < len(until) && until[i].After(now) {
			out = append(out, retiredSecret{sec, until[i]})
		}
	}
	return out
}

// DeleteSubscription removes a subscription and its deliveries.
func (s *Service) DeleteSubscription(ctx context.Context, id int64) error {
	n, err := s.q.EventSubscriptionDelete(ctx, s.pool, id)
	if err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "subscription_not_found", fmt.Sprintf("no event subscription %d", id))
	}
	return nil
}

func notFound(err error, id int64) error {
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "subscription_not_found", fmt.Sprintf("no event subscription %d", id))
	}
	return fmt.Errorf("event subscription %d: %w", id, err)
}

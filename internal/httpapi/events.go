package httpapi

import (
	"net/http"
	"strconv"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/events"
)

// eventRoutes manage product services' event subscriptions and their
// deliveries.
func (s *server) eventRoutes() []Route {
	if s.Events == nil {
		return nil
	}
	return []Route{
		{"GET", "/v1/ops/event-subscriptions", apikey.ScopeOpsRead, s.listEventSubscriptions},
		{"POST", "/v1/ops/event-subscriptions", apikey.ScopeOpsWrite, s.createEventSubscription},
		{"GET", "/v1/ops/event-subscriptions/{id}", apikey.ScopeOpsRead, s.getEventSubscription},
		{"PATCH", "/v1/ops/event-subscriptions/{id}", apikey.ScopeOpsWrite, s.updateEventSubscription},
		{"DELETE", "/v1/ops/event-subscriptions/{id}", apikey.ScopeOpsWrite, s.deleteEventSubscription},
		{"POST", "/v1/ops/event-subscriptions/{id}/rotate-secret", apikey.ScopeOpsWrite, s.rotateEventSecret},
		{"POST", "/v1/ops/event-subscriptions/{id}/replay", apikey.ScopeOpsWrite, s.replayEventSubscription},
		{"GET", "/v1/ops/event-deliveries", apikey.ScopeOpsRead, s.listEventDeliveries},
		{"POST", "/v1/ops/event-deliveries/{id}/retry", apikey.ScopeOpsWrite, s.retryEventDelivery},
	}
}

type eventSubscriptionRequest struct {
	URL        *string  `json:"url"`
	EventTypes []string `json:"event_types"`
}

// subscriptionWithSecret is the one answer that shows the secret.
type subscriptionWithSecret struct {
	Subscription events.Subscription `json:"subscription"`
	Secret       string              `json:"secret"`
}

func (s *server) listEventSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := s.Events.Subscriptions(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"subscriptions": subs})
}

func (s *server) createEventSubscription(w http.ResponseWriter, r *http.Request) {
	var req eventSubscriptionRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	sub, secret, err := s.Events.CreateSubscription(r.Context(), events.SubscriptionInput{URL: req.URL, EventTypes: req.EventTypes})
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusCreated, subscriptionWithSecret{Subscription: sub, Secret: secret})
}

func (s *server) getEventSubscription(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	sub, err := s.Events.Subscription(r.Context(), id)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"subscription": sub})
}

func (s *server) updateEventSubscription(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	var req eventSubscriptionRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	sub, err := s.Events.UpdateSubscription(r.Context(), id, events.SubscriptionInput{URL: req.URL, EventTypes: req.EventTypes})
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"subscription": sub})
}

func (s *server) deleteEventSubscription(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if err := s.Events.DeleteSubscription(r.Context(), id); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) rotateEventSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	sub, secret, err := s.Events.RotateSecret(r.Context(), id)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, subscriptionWithSecret{Subscription: sub, Secret: secret})
}

func (s *server) replayEventSubscription(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	n, err := s.Events.Replay(r.Context(), id)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusAccepted, map[string]any{"replayed": n})
}

func (s *server) listEventDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := events.DeliveryFilter{State: q.Get("state")}
	for name, dst := range map[string]*int64{"subscription_id": &f.SubscriptionID, "after": &f.AfterID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.resp.Error(w, r, apperr.Field(name, "must be a non-negative integer"))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.resp.Error(w, r, apperr.Field("limit", "must be between 1 and 500"))
			return
		}
		f.Limit = n
	}
	ds, err := s.Events.Deliveries(r.Context(), f)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

func (s *server) retryEventDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if err := s.Events.Retry(r.Context(), id); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusAccepted, map[string]any{"retried": id})
}

package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/webhooks"
)

// defaultWebhookMaxBody caps a Linq delivery when Deps does not say.
const defaultWebhookMaxBody = 256 << 10

// webhookRoutes is Linq's door: public, authenticated by signature only.
func (s *server) webhookRoutes() []Route {
	if s.Webhooks == nil {
		return nil
	}
	return []Route{{"POST", webhooks.Path, "", s.linqWebhook}}
}

type linqWebhookResponse struct {
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
}

func (s *server) linqWebhook(w http.ResponseWriter, r *http.Request) {
	limit := s.WebhookMaxBodyBytes
	if limit <= 0 {
		limit = defaultWebhookMaxBody
	}
	// A body declared too large is refused before any of it is read (see
	// limitBody).
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		s.webhookTooLarge(w, r, limit)
		return
	}
	// The signature covers the raw bytes, so they are read as they came.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.webhookTooLarge(w, r, tooBig.Limit)
			return
		}
		s.resp.Error(w, r, apperr.New(apperr.Invalid, "invalid_body", "could not read the webhook body"))
		return
	}
	res, err := s.Webhooks.Accept(r.Context(), r.Header, body)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, linqWebhookResponse{EventID: res.EventID, Duplicate: res.Duplicate})
}

func (s *server) webhookTooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	s.Metrics.WebhooksRejected.WithLabelValues("body_too_large").Inc()
	s.resp.Error(w, r, apperr.New(apperr.TooLarge, "body_too_large", "webhook body exceeds "+strconv.FormatInt(limit, 10)+" bytes"))
}

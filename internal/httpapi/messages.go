package httpapi

import (
	"net/http"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/messaging"
)

// messageRoutes are sending, the pass-throughs on the user's line and chat,
// and the loop guard's ops routes. They exist only when the services are
// wired.
func (s *server) messageRoutes() []Route {
	if s.Messages == nil || s.Limiter == nil {
		return nil
	}
	return []Route{
		{"POST", "/v1/messages", apikey.ScopeSend, s.sendMessage},
		{"POST", "/v1/messages/{id}/reactions", apikey.ScopeSend, s.reactToMessage},
		{"GET", "/v1/messages/{id}", apikey.ScopeSend, s.getMessage},
		{"PATCH", "/v1/messages/{id}", apikey.ScopeSend, s.editMessage},
		{"DELETE", "/v1/messages/{id}", apikey.ScopeSend, s.deleteMessage},
		{"POST", "/v1/users/{user_ref}/typing", apikey.ScopeSend, s.startTyping},
		{"DELETE", "/v1/users/{user_ref}/typing", apikey.ScopeSend, s.stopTyping},
		{"POST", "/v1/users/{user_ref}/share-contact-card", apikey.ScopeSend, s.shareContactCard},
		// Quarantined pairs; release with the line id and the URL-escaped
		// handle, e.g. DELETE /v1/ops/quarantines/3/%2B14155550100.
		{"GET", "/v1/ops/quarantines", apikey.ScopeOpsRead, s.listQuarantines},
		{"DELETE", "/v1/ops/quarantines/{line_id}/{handle}", apikey.ScopeOpsWrite, s.releaseQuarantine},
	}
}

// sendMessageRequest is the body of POST /v1/messages: the send itself
// (parts are Linq's: text, media, link; see the wire doc) and the
// idempotency key, which may come in the body or the Idempotency-Key header.
type sendMessageRequest struct {
	messaging.SendRequest
	IdempotencyKey string `json:"idempotency_key"`
}

func (s *server) sendMessage(w http.ResponseWriter, r *http.Request) {
	var req sendMessageRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	key := req.IdempotencyKey
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			s.resp.Error(w, r, apperr.Field("idempotency_key", "differs from the Idempotency-Key header"))
			return
		}
		key = h
	}
	p, _ := PrincipalFrom(r.Context())
	send := req.SendRequest
	send.APIKeyID, send.IdempotencyKey = p.KeyID, key
	sent, err := s.Messages.Send(r.Context(), send)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if sent.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	s.resp.JSON(w, http.StatusCreated, sent)
}

func (s *server) reactToMessage(w http.ResponseWriter, r *http.Request) {
	var req messaging.ReactRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.answerAction(w, r)(s.Messages.React(r.Context(), pathParam(r, "id"), req))
}

func (s *server) editMessage(w http.ResponseWriter, r *http.Request) {
	var req messaging.EditRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.answerAction(w, r)(s.Messages.Edit(r.Context(), pathParam(r, "id"), req))
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.Messages.Message(r.Context(), pathParam(r, "id"))
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, m)
}

func (s *server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	s.answerAction(w, r)(s.Messages.Delete(r.Context(), pathParam(r, "id")))
}

func (s *server) startTyping(w http.ResponseWriter, r *http.Request) {
	s.answerAction(w, r)(s.Messages.Typing(r.Context(), userRefParam(r), true))
}

func (s *server) stopTyping(w http.ResponseWriter, r *http.Request) {
	s.answerAction(w, r)(s.Messages.Typing(r.Context(), userRefParam(r), false))
}

func (s *server) shareContactCard(w http.ResponseWriter, r *http.Request) {
	s.answerAction(w, r)(s.Messages.ShareContactCard(r.Context(), userRefParam(r)))
}

func (s *server) answerAction(w http.ResponseWriter, r *http.Request) func(*messaging.Action, error) {
	return func(a *messaging.Action, err error) {
		if err != nil {
			s.resp.Error(w, r, err)
			return
		}
		s.resp.JSON(w, http.StatusOK, a)
	}
}

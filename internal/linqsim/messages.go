package linqsim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

type createMessageBody struct {
	To             []string   `json:"to"`
	Message        *inContent `json:"message"`
	OverrideOptout bool       `json:"override_optout"`
	ExcludeFrom    []string   `json:"exclude_from"`
}

// handleCreateMessage is POST /v3/messages: Linq picks the line. It keeps
// the newest chat with the same recipients on a line that can send
// (reused_active_chat); if such chats exist only on flagged lines it opens
// a new chat on a fresh line (failover_flagged); otherwise it picks the
// least recently used eligible line, healthier reputation first
// (new_best_number).
func (s *Sim) handleCreateMessage(w http.ResponseWriter, r *http.Request) {
	var body createMessageBody
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	recipients, aerr := parseRecipients(body.To, "")
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ct, aerr := parseContent(body.Message)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if hk := r.Header.Get("Idempotency-Key"); hk != "" {
		if ct.idemKey != "" && ct.idemKey != hk {
			writeError(w, errInvalid("Idempotency-Key header and message.idempotency_key differ"))
			return
		}
		ct.idemKey = hk
	}
	excluded := map[string]bool{}
	for i, e := range body.ExcludeFrom {
		if !isE164(e) {
			writeError(w, errInvalid("exclude_from[%d] %q is not an E.164 number", i, e))
			return
		}
		excluded[e] = true
	}

	recipKey := strings.Join(recipients, ",")
	s.chatsMu.RLock()
	matching := slices.Clone(s.chatsByRecip[recipKey])
	s.chatsMu.RUnlock()
	var reuse, abandoned *chat
	for i := len(matching) - 1; i >= 0; i-- {
		if !matching[i].line.flagged.Load() {
			reuse = matching[i]
			break
		}
		if abandoned == nil {
			abandoned = matching[i]
		}
	}
	a := sendArgs{recipients: recipients, content: ct, override: body.OverrideOptout, linkAllowed: true}
	reason := "reused_active_chat"
	if reuse != nil {
		a.line, a.chat = reuse.line, reuse
	} else {
		l, aerr := s.pickLine(excluded)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		a.line = l
		reason = "new_best_number"
		if abandoned != nil {
			reason = "failover_flagged"
		}
	}
	res, aerr := s.send(r.Context(), a)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if res.replay {
		reason, abandoned = "reused_active_chat", nil
	}
	var prev *string
	if abandoned != nil {
		prev = &abandoned.id
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"chat_id":          res.chat.id,
		"created_new_chat": res.newChat,
		"from":             res.chat.line.number,
		"from_selection":   map[string]any{"reason": reason, "reused_existing_chat": !res.newChat},
		"handles":          res.chat.handles,
		"is_group":         res.chat.isGroup,
		"message":          res.sent,
		"service":          res.chat.service,
		"previous_chat_id": prev,
	})
}

// liveMessage returns a message that exists and was not deleted.
func (s *Sim) liveMessage(w http.ResponseWriter, r *http.Request) *message {
	m := s.getMessage(r.PathValue("messageId"))
	if m != nil {
		m.chat.mu.Lock()
		deleted := m.deleted
		m.chat.mu.Unlock()
		if !deleted {
			return m
		}
	}
	writeError(w, errNotFound("message not found"))
	return nil
}

func (s *Sim) handleGetMessage(w http.ResponseWriter, r *http.Request) {
	m := s.liveMessage(w, r)
	if m == nil {
		return
	}
	m.chat.mu.Lock()
	out := m.messageJSON()
	m.chat.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

const (
	maxEdits   = 5
	editWindow = 15 * time.Minute
)

func (s *Sim) handleEditMessage(w http.ResponseWriter, r *http.Request) {
	m := s.liveMessage(w, r)
	if m == nil {
		return
	}
	var body struct {
		Text      *string `json:"text"`
		PartIndex *int    `json:"part_index"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if body.Text == nil || *body.Text == "" {
		writeError(w, errInvalid("text is required"))
		return
	}
	if m.chat.line.flagged.Load() {
		writeError(w, errLineIneligible(m.chat.line.number))
		return
	}
	idx := 0
	if body.PartIndex != nil {
		idx = *body.PartIndex
	}
	now := s.ts()
	c := m.chat
	c.mu.Lock()
	var aerr *apiError
	switch {
	case m.inbound:
		aerr = &apiError{status: http.StatusBadRequest, code: codeEditRejected, message: "only your own messages can be edited"}
	case m.edits >= maxEdits:
		aerr = &apiError{status: http.StatusBadRequest, code: codeEditRejected, message: "a message can be edited at most 5 times"}
	case now.Sub(m.createdAt) > editWindow:
		aerr = &apiError{status: http.StatusBadRequest, code: codeEditRejected, message: "a message can be edited only within 15 minutes of sending"}
	case idx < 0 || idx >= len(m.parts):
		aerr = errInvalid("part_index %d is out of range", idx)
	case m.parts[idx].typ != "text":
		aerr = errInvalid("part %d is not a text part", idx)
	}
	if aerr != nil {
		c.mu.Unlock()
		writeError(w, aerr)
		return
	}
	parts := slices.Clone(m.parts) // responses already built hold the old slice
	parts[idx].value = *body.Text
	m.parts = parts
	m.edits++
	m.updatedAt = now
	out := m.messageJSON()
	c.mu.Unlock()
	if s.hooks.enabled() {
		s.emit(eventMessageEdited, c.line.number, c.id, s.editedData(m, idx, *body.Text, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleDeleteMessage(w http.ResponseWriter, r *http.Request) {
	m := s.liveMessage(w, r)
	if m == nil {
		return
	}
	m.chat.mu.Lock()
	m.deleted = true
	m.chat.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

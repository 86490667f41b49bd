package linqsim

import (
	"net/http"
	"slices"
)

type createChatBody struct {
	From           string     `json:"from"`
	To             []string   `json:"to"`
	Message        *inContent `json:"message"`
	OverrideOptout bool       `json:"override_optout"`
}

func (s *Sim) handleCreateChat(w http.ResponseWriter, r *http.Request) {
	var body createChatBody
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	l, aerr := s.fromLine(body.From)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	recipients, aerr := parseRecipients(body.To, l.number)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	c, aerr := parseContent(body.Message)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	res, aerr := s.send(r.Context(), sendArgs{line: l, recipients: recipients, content: c, override: body.OverrideOptout})
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ch := s.chatJSON(res.chat)
	writeJSON(w, http.StatusCreated, map[string]wCreatedChat{"chat": {
		ID: ch.ID, DisplayName: ch.DisplayName, Handles: ch.Handles, HealthStatus: ch.HealthStatus,
		IsGroup: ch.IsGroup, Service: ch.Service, Message: res.sent,
	}})
}

type sendMessageBody struct {
	Message        *inContent `json:"message"`
	OverrideOptout bool       `json:"override_optout"`
}

func (s *Sim) handleSendMessage(w http.ResponseWriter, r *http.Request) {
	c := s.getChat(r.PathValue("chatId"))
	if c == nil {
		writeError(w, errNotFound("chat not found"))
		return
	}
	var body sendMessageBody
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	ct, aerr := parseContent(body.Message)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	res, aerr := s.send(r.Context(), sendArgs{line: c.line, chat: c, recipients: c.recipients, content: ct,
		override: body.OverrideOptout})
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		ChatID  string       `json:"chat_id"`
		Message wSentMessage `json:"message"`
	}{res.chat.id, res.sent})
}

func (s *Sim) handleGetChat(w http.ResponseWriter, r *http.Request) {
	c := s.getChat(r.PathValue("chatId"))
	if c == nil {
		writeError(w, errNotFound("chat not found"))
		return
	}
	writeJSON(w, http.StatusOK, s.chatJSON(c))
}

func (s *Sim) handleListChats(w http.ResponseWriter, r *http.Request) {
	q, aerr := query(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	limit, offset, aerr := pageParams(q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	from := q.Get("from")
	if from != "" && !isE164(from) {
		writeError(w, errInvalid("from %q is not an E.164 phone number", from))
		return
	}
	var to []string
	for _, h := range splitList(q["to"]) {
		n, ok := normalizeHandle(h)
		if !ok {
			writeError(w, errInvalid("to %q is not an E.164 number or email address", h))
			return
		}
		to = append(to, n)
	}
	s.chatsMu.RLock()
	var matched []*chat
	for _, c := range s.chatOrder {
		if from != "" && c.line.number != from {
			continue
		}
		if len(to) > 0 && !containsAll(c.recipients, to) {
			continue
		}
		matched = append(matched, c)
	}
	s.chatsMu.RUnlock()
	out := make([]wChat, len(matched))
	for i, c := range matched {
		out[i] = s.chatJSON(c)
	}
	slices.SortStableFunc(out, func(a, b wChat) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	items, next := page(out, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"chats": items, "next_cursor": next})
}

func containsAll(set, want []string) bool {
	for _, x := range want {
		if !slices.Contains(set, x) {
			return false
		}
	}
	return true
}

func (s *Sim) handleListMessages(w http.ResponseWriter, r *http.Request) {
	c := s.getChat(r.PathValue("chatId"))
	if c == nil {
		writeError(w, errNotFound("chat not found"))
		return
	}
	q, aerr := query(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	limit, offset, aerr := pageParams(q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	c.mu.Lock()
	out := make([]wMessage, 0, len(c.msgs))
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if m := c.msgs[i]; !m.deleted {
			out = append(out, m.messageJSON())
		}
	}
	c.mu.Unlock()
	items, next := page(out, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"messages": items, "next_cursor": next})
}

// chatForActivity resolves a chat for new activity (typing, read, contact
// card): 404 when unknown, 403/2027 when its line is flagged.
func (s *Sim) chatForActivity(w http.ResponseWriter, r *http.Request) *chat {
	c := s.getChat(r.PathValue("chatId"))
	if c == nil {
		writeError(w, errNotFound("chat not found"))
		return nil
	}
	if c.line.flagged.Load() {
		writeError(w, errLineIneligible(c.line.number))
		return nil
	}
	return c
}

func (s *Sim) handleTyping(w http.ResponseWriter, r *http.Request) {
	if s.chatForActivity(w, r) == nil {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleMarkRead(w http.ResponseWriter, r *http.Request) {
	c := s.chatForActivity(w, r)
	if c == nil {
		return
	}
	now := s.ts()
	c.mu.Lock()
	for _, m := range c.msgs {
		if m.inbound && m.readAt.IsZero() {
			m.readAt, m.status, m.updatedAt = now, "read", now
		}
	}
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleShareContactCard(w http.ResponseWriter, r *http.Request) {
	c := s.chatForActivity(w, r)
	if c == nil {
		return
	}
	s.cardsMu.Lock()
	card := s.cards[c.line.number]
	s.cardsMu.Unlock()
	if card == nil {
		writeError(w, errNotFound("no active contact card for "+c.line.number))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

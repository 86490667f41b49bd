package linqsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const maxBody = 1 << 20

func (s *Sim) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/phone_numbers", s.handleListPhoneNumbers)
	mux.HandleFunc("GET /v3/phonenumbers", s.handleListPhoneNumbersLegacy)
	mux.HandleFunc("POST /v3/chats", s.handleCreateChat)
	mux.HandleFunc("GET /v3/chats", s.handleListChats)
	mux.HandleFunc("GET /v3/chats/{chatId}", s.handleGetChat)
	mux.HandleFunc("POST /v3/chats/{chatId}/messages", s.handleSendMessage)
	mux.HandleFunc("GET /v3/chats/{chatId}/messages", s.handleListMessages)
	mux.HandleFunc("POST /v3/chats/{chatId}/read", s.handleMarkRead)
	mux.HandleFunc("POST /v3/chats/{chatId}/typing", s.handleTyping)
	mux.HandleFunc("DELETE /v3/chats/{chatId}/typing", s.handleTyping)
	mux.HandleFunc("POST /v3/chats/{chatId}/share_contact_card", s.handleShareContactCard)
	mux.HandleFunc("POST /v3/messages", s.handleCreateMessage)
	mux.HandleFunc("GET /v3/messages/{messageId}", s.handleGetMessage)
	mux.HandleFunc("PATCH /v3/messages/{messageId}", s.handleEditMessage)
	mux.HandleFunc("DELETE /v3/messages/{messageId}", s.handleDeleteMessage)
	mux.HandleFunc("POST /v3/messages/{messageId}/reactions", s.handleReact)
	mux.HandleFunc("POST /v3/capability/check_imessage", s.handleCheckIMessage)
	mux.HandleFunc("POST /v3/capability/check_rcs", s.handleCheckRCS)
	mux.HandleFunc("GET /v3/contact_card", s.handleGetContactCards)
	mux.HandleFunc("POST /v3/contact_card", s.handleCreateContactCard)
	mux.HandleFunc("PATCH /v3/contact_card", s.handleUpdateContactCard)
	mux.HandleFunc("POST /v3/webhook-subscriptions", s.handleCreateSubscription)
	mux.HandleFunc("GET /v3/webhook-subscriptions", s.handleListSubscriptions)
	mux.HandleFunc("GET /v3/webhook-subscriptions/{id}", s.handleGetSubscription)
	mux.HandleFunc("PUT /v3/webhook-subscriptions/{id}", s.handleUpdateSubscription)
	mux.HandleFunc("DELETE /v3/webhook-subscriptions/{id}", s.handleDeleteSubscription)
	mux.HandleFunc("GET /v3/webhook-events", s.handleListEventTypes)
	mux.HandleFunc("/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such endpoint: "+r.Method+" "+r.URL.Path))
	})
	return mux
}

// serveAPI adds latency, checks the bearer token and applies request
// faults before the endpoint runs.
func (s *Sim) serveAPI(mux http.Handler, w http.ResponseWriter, r *http.Request) {
	f := s.faults.Load()
	latency := s.cfg.Latency
	if f != nil {
		latency += f.Latency
	}
	if latency > 0 && s.sleep(r.Context(), latency) != nil {
		return
	}
	if !s.authorized(r) {
		writeError(w, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: "missing or invalid API key"})
		return
	}
	if f == nil || !s.faultHits(f, w, r, mux) {
		mux.ServeHTTP(w, r)
	}
}

func (s *Sim) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return false
	}
	return s.cfg.APIKey == "" || token == s.cfg.APIKey
}

// decode reads a JSON body into v: malformed JSON, wrong types or trailing
// data answer 400 in Linq's envelope.
func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errInvalid("request body is required")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errInvalid("field %s has the wrong type (want %s)", te.Field, te.Type)
		}
		return errInvalid("request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalid("request body holds more than one JSON value")
	}
	return nil
}

// --- phone numbers ---

type wReputation struct {
	Status string `json:"status"`
	DocURL string `json:"doc_url"`
}

type wPhoneNumber struct {
	ID               string      `json:"id"`
	PhoneNumber      string      `json:"phone_number"`
	Reputation       wReputation `json:"reputation"`
	HealthStatus     wReputation `json:"health_status"`
	ForwardingNumber *string     `json:"forwarding_number"`
}

func (s *Sim) handleListPhoneNumbers(w http.ResponseWriter, _ *http.Request) {
	s.linesMu.RLock()
	out := make([]wPhoneNumber, 0, len(s.lineOrder))
	for _, l := range s.lineOrder {
		rep := wReputation{Status: l.reputation, DocURL: reputationDoc(l.reputation)}
		out = append(out, wPhoneNumber{ID: l.id, PhoneNumber: l.number, Reputation: rep, HealthStatus: rep,
			ForwardingNumber: sptr(l.forwarding)})
	}
	s.linesMu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"phone_numbers": out})
}

func (s *Sim) handleListPhoneNumbersLegacy(w http.ResponseWriter, _ *http.Request) {
	type caps struct {
		SMS   bool `json:"sms"`
		MMS   bool `json:"mms"`
		Voice bool `json:"voice"`
	}
	type legacy struct {
		ID           string  `json:"id"`
		PhoneNumber  string  `json:"phone_number"`
		Capabilities caps    `json:"capabilities"`
		CountryCode  *string `json:"country_code"`
		Type         *string `json:"type"`
	}
	s.linesMu.RLock()
	out := make([]legacy, 0, len(s.lineOrder))
	for _, l := range s.lineOrder {
		out = append(out, legacy{ID: l.id, PhoneNumber: l.number, Capabilities: caps{SMS: true, MMS: true, Voice: true}})
	}
	s.linesMu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"phone_numbers": out})
}

// --- sends ---

type sendArgs struct {
	line        *line
	chat        *chat // known chat (chat send); nil: find or create by key
	recipients  []string
	content     *content
	override    bool
	linkAllowed bool // POST /v3/messages: a link may open a new chat
}

type sendResult struct {
	msg     *message
	chat    *chat
	newChat bool
	replay  bool
	sent    wSentMessage // the message as the answer shows it
}

// send runs one send: idempotency first (a known key returns the original
// message, nothing is sent), then the checks Linq makes before anything is
// created (line eligibility, opt-out, block, first-message rule, pair limit),
// then the message is stored, logged and its webhooks queued.
func (s *Sim) send(ctx context.Context, a sendArgs) (*sendResult, *apiError) {
	if key := a.content.idemKey; key != "" {
		orig, release, aerr := s.idemClaim(ctx, key)
		if aerr != nil {
			return nil, aerr
		}
		if orig != nil {
			orig.chat.mu.Lock()
			sent := orig.sentJSON()
			orig.chat.mu.Unlock()
			return &sendResult{msg: orig, chat: orig.chat, replay: true, sent: sent}, nil
		}
		res, aerr := s.sendNew(a)
		if aerr != nil {
			release(nil)
			return nil, aerr
		}
		release(res.msg)
		s.complete(res)
		return res, nil
	}
	res, aerr := s.sendNew(a)
	if aerr != nil {
		return nil, aerr
	}
	s.complete(res)
	return res, nil
}

func (s *Sim) sendNew(a sendArgs) (*sendResult, *apiError) {
	l := a.line
	if l.flagged.Load() {
		return nil, errLineIneligible(l.number)
	}
	s.handlesMu.RLock()
	for _, r := range a.recipients {
		if !a.override && s.optOut[r].optedOut {
			s.handlesMu.RUnlock()
			return nil, &apiError{status: http.StatusForbidden, code: codeOptedOut,
				message: "recipient " + r + " has opted out of messages"}
		}
	}
	blocked := len(a.recipients) == 1 && s.blocked[a.recipients[0]]
	s.handlesMu.RUnlock()
	if blocked {
		return nil, &apiError{status: http.StatusForbidden, code: codeBlocked, message: "recipient handle is blocked"}
	}

	c := a.chat
	if c == nil {
		s.chatsMu.RLock()
		c = s.chatsByKey[chatKey(l.number, a.recipients)]
		s.chatsMu.RUnlock()
	}
	newChat := c == nil
	if newChat {
		if aerr := firstMessageRule(a.content, a.linkAllowed); aerr != nil {
			return nil, aerr
		}
	} else if rt := a.content.replyTo; rt != nil {
		if target := s.getMessage(rt.MessageID); target == nil || target.chat != c {
			return nil, errInvalid("message.reply_to.message_id is not a message of this chat")
		}
	}

	now := s.ts()
	if wait := s.takePairSlots(l.number, a.recipients, now); wait > 0 {
		s.count429.Add(1)
		return nil, &apiError{status: http.StatusTooManyRequests, code: codePairLimit, retryAfter: wait,
			message: "too many messages to this recipient from this phone number; retry after " + strconv.Itoa(wait) + "s"}
	}
	if newChat {
		c, newChat = s.indexChat(s.newChat(l, a.recipients, now))
	}
	m := &message{
		id:               newID(),
		chat:             c,
		sender:           c.ourHandle(),
		effect:           a.content.effect,
		replyTo:          a.content.replyTo,
		idemKey:          a.content.idemKey,
		preferredService: a.content.preferredService,
		createdAt:        now,
		parts:            a.content.parts,
		updatedAt:        now,
		status:           "queued",
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.updatedAt = now
	sent := m.sentJSON()
	c.mu.Unlock()
	s.putMessage(m)
	l.lastUsed.Store(now.UnixNano())

	s.logMu.Lock()
	s.sendLog = append(s.sendLog, SendRecord{At: now, From: l.number, To: c.recipients, ChatID: c.id,
		MessageID: m.id, IdempotencyKey: m.idemKey})
	s.logMu.Unlock()
	return &sendResult{msg: m, chat: c, newChat: newChat, sent: sent}, nil
}

// complete moves an accepted outbound message through its lifecycle: sent,
// then delivered and read at once (or failed, under the fail_messages fault),
// and queues the webhooks in that order.
func (s *Sim) complete(res *sendResult) {
	m, c := res.msg, res.chat
	now := s.ts()
	failed := false
	if f := s.faults.Load(); f != nil {
		failed = s.chance(f.FailMessages)
	}
	c.mu.Lock()
	m.sentAt, m.updatedAt = now, now
	if failed {
		m.status = "failed"
	} else {
		m.deliveredAt, m.readAt, m.status = now, now, "read"
	}
	c.mu.Unlock()

	if !s.hooks.enabled() {
		return
	}
	if res.newChat {
		s.emit(eventChatCreated, "", c.id, s.chatCreatedData(c))
	}
	s.emit(eventMessageSent, c.line.number, c.id, s.messageEvent(m, now, time.Time{}, time.Time{}))
	if failed {
		s.emit(eventMessageFailed, c.line.number, c.id, s.failedData(m, now))
		return
	}
	s.emit(eventMessageDelivered, c.line.number, c.id, s.messageEvent(m, now, now, time.Time{}))
	s.emit(eventMessageRead, c.line.number, c.id, s.messageEvent(m, now, now, now))
}

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

// fromLine resolves a from number to one of the partner's lines.
func (s *Sim) fromLine(from string) (*line, *apiError) {
	if from == "" {
		return nil, errInvalid("from is required")
	}
	if !isE164(from) {
		return nil, errInvalid("from %q is not an E.164 phone number", from)
	}
	l := s.lineByNumber(from)
	if l == nil {
		return nil, errInvalid("from %s is not one of your phone numbers", from)
	}
	return l, nil
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

// pickLine picks the least recently used eligible line, healthier first.
func (s *Sim) pickLine(excluded map[string]bool) (*line, *apiError) {
	rank := map[string]int{RepHealthy: 0, RepAtRisk: 1, RepCritical: 2}
	s.linesMu.RLock()
	defer s.linesMu.RUnlock()
	var best *line
	notExcluded := 0
	for _, l := range s.lineOrder {
		if excluded[l.number] {
			continue
		}
		notExcluded++
		if l.flagged.Load() {
			continue
		}
		if best == nil || rank[l.reputation] < rank[best.reputation] ||
			(rank[l.reputation] == rank[best.reputation] && l.lastUsed.Load() < best.lastUsed.Load()) {
			best = l
		}
	}
	switch {
	case len(s.lineOrder) > 0 && notExcluded == 0:
		return nil, errInvalid("exclude_from excludes every phone number")
	case best == nil:
		return nil, errConflict("no phone number is eligible to send")
	}
	best.lastUsed.Store(s.ts().UnixNano())
	return best, nil
}

// --- chats ---

func (s *Sim) handleGetChat(w http.ResponseWriter, r *http.Request) {
	c := s.getChat(r.PathValue("chatId"))
	if c == nil {
		writeError(w, errNotFound("chat not found"))
		return
	}
	writeJSON(w, http.StatusOK, s.chatJSON(c))
}

// Cursors are opaque to clients; inside they hold an offset into a list
// ordered newest first, so items arriving between pages shift the pages (as
// an offset cursor would on Linq).
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "o:") {
		return 0, false
	}
	return n, true
}

// query parses the query string; a malformed one is a 400 rather than
// silently dropped parameters.
func query(r *http.Request) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalid("query string is malformed")
	}
	return q, nil
}

func pageParams(q url.Values) (limit, offset int, aerr *apiError) {
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, errInvalid("limit must be between 1 and 100")
		}
		limit = n
	}
	offset, ok := decodeCursor(q.Get("cursor"))
	if !ok {
		return 0, 0, errInvalid("cursor is not valid")
	}
	return limit, offset, nil
}

func page[T any](items []T, limit, offset int) ([]T, *string) {
	if offset >= len(items) {
		return []T{}, nil
	}
	end := min(offset+limit, len(items))
	if end < len(items) {
		next := encodeCursor(end)
		return items[offset:end], &next
	}
	return items[offset:end], nil
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

// --- messages ---

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

var reactionTypes = map[string]bool{"love": true, "like": true, "dislike": true, "laugh": true,
	"emphasize": true, "question": true, "custom": true, "sticker": true}

func (s *Sim) handleReact(w http.ResponseWriter, r *http.Request) {
	m := s.liveMessage(w, r)
	if m == nil {
		return
	}
	var body struct {
		Operation   string `json:"operation"`
		Type        string `json:"type"`
		CustomEmoji string `json:"custom_emoji"`
		PartIndex   *int   `json:"part_index"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	switch {
	case body.Operation != "add" && body.Operation != "remove":
		writeError(w, errInvalid("operation must be add or remove"))
		return
	case !reactionTypes[body.Type]:
		writeError(w, errInvalid("type %q is not a reaction type", body.Type))
		return
	case body.Type == "custom" && body.CustomEmoji == "":
		writeError(w, errInvalid("custom_emoji is required for type custom"))
		return
	case body.Type == "sticker":
		writeError(w, errInvalid("sticker reactions cannot be sent through the API"))
		return
	}
	c := m.chat
	if c.line.flagged.Load() {
		writeError(w, errLineIneligible(c.line.number))
		return
	}
	idx := 0
	if body.PartIndex != nil {
		idx = *body.PartIndex
	}
	now := s.ts()
	me := c.ourHandle()
	c.mu.Lock()
	if idx < 0 || idx >= len(m.parts) {
		c.mu.Unlock()
		writeError(w, errInvalid("part_index %d is out of range", idx))
		return
	}
	parts := slices.Clone(m.parts)
	kept := make([]reaction, 0, len(parts[idx].reactions)+1)
	for _, x := range parts[idx].reactions {
		// One reaction per person per part: adding replaces ours, removing
		// drops ours of that type.
		if x.handle.IsMe && (body.Operation == "add" || x.typ == body.Type) {
			continue
		}
		kept = append(kept, x)
	}
	if body.Operation == "add" {
		kept = append(kept, reaction{handle: me, typ: body.Type, customEmoji: body.CustomEmoji})
	}
	parts[idx].reactions = kept
	m.parts = parts
	m.updatedAt = now
	c.mu.Unlock()

	evt := eventReactionAdded
	msg := "Reaction added successfully"
	if body.Operation == "remove" {
		evt, msg = eventReactionRemoved, "Reaction removed successfully"
	}
	if s.hooks.enabled() {
		s.emit(evt, "", c.id, s.reactionData(m, me, body.Type, body.CustomEmoji, idx, now))
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": msg, "status": "success", "trace_id": newTraceID()})
}

// --- capability ---

type capabilityBody struct {
	Address string `json:"address"`
	From    string `json:"from"`
}

func (s *Sim) capabilityCheck(w http.ResponseWriter, r *http.Request, rcs bool) {
	var body capabilityBody
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	addr, ok := normalizeHandle(body.Address)
	switch {
	case !ok:
		writeError(w, errInvalid("address must be an E.164 number or email address"))
		return
	case rcs && strings.Contains(addr, "@"):
		writeError(w, errInvalid("check_rcs takes an E.164 phone number, not an email address"))
		return
	}
	if body.From != "" {
		l, aerr := s.fromLine(body.From)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if l.flagged.Load() {
			writeError(w, errLineIneligible(l.number))
			return
		}
	}
	svc := serviceFor(addr)
	want := serviceIMessage
	if rcs {
		want = serviceRCS
	}
	out := map[string]any{"address": body.Address, "available": svc == want, "selected_service": svc}
	if svc != want {
		out["reason"] = "not_supported"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleCheckIMessage(w http.ResponseWriter, r *http.Request) {
	s.capabilityCheck(w, r, false)
}
func (s *Sim) handleCheckRCS(w http.ResponseWriter, r *http.Request) { s.capabilityCheck(w, r, true) }

// --- contact card ---

type wContactCard struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	ImageURL    string `json:"image_url,omitempty"`
	IsActive    bool   `json:"is_active"`
}

func cardJSON(c *contactCard) wContactCard {
	return wContactCard{PhoneNumber: c.phoneNumber, FirstName: c.firstName, LastName: c.lastName, ImageURL: c.imageURL, IsActive: true}
}

func (s *Sim) handleGetContactCards(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("phone_number")
	s.cardsMu.Lock()
	out := []wContactCard{}
	for _, c := range s.cards {
		if filter == "" || c.phoneNumber == filter {
			out = append(out, cardJSON(c))
		}
	}
	s.cardsMu.Unlock()
	slices.SortFunc(out, func(a, b wContactCard) int { return strings.Compare(a.PhoneNumber, b.PhoneNumber) })
	writeJSON(w, http.StatusOK, map[string]any{"contact_cards": out})
}

func (s *Sim) handleCreateContactCard(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PhoneNumber string `json:"phone_number"`
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		ImageURL    string `json:"image_url"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if body.FirstName == "" {
		writeError(w, errInvalid("first_name is required"))
		return
	}
	l, aerr := s.fromLine(body.PhoneNumber)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.cardsMu.Lock()
	if s.cards[l.number] != nil {
		s.cardsMu.Unlock()
		writeError(w, &apiError{status: http.StatusConflict, code: codeContactCardExist,
			message: "a contact card is already active for this phone number; use PATCH"})
		return
	}
	c := &contactCard{phoneNumber: l.number, firstName: body.FirstName, lastName: body.LastName, imageURL: body.ImageURL}
	s.cards[l.number] = c
	out := cardJSON(c)
	s.cardsMu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleUpdateContactCard(w http.ResponseWriter, r *http.Request) {
	number := r.URL.Query().Get("phone_number")
	if number == "" {
		writeError(w, errInvalid("phone_number is required"))
		return
	}
	var body struct {
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
		ImageURL  *string `json:"image_url"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.cardsMu.Lock()
	c := s.cards[number]
	if c == nil {
		s.cardsMu.Unlock()
		writeError(w, errNotFound("no contact card for "+number))
		return
	}
	if body.FirstName != nil {
		if *body.FirstName == "" {
			s.cardsMu.Unlock()
			writeError(w, errInvalid("first_name may not be empty"))
			return
		}
		c.firstName = *body.FirstName
	}
	if body.LastName != nil {
		c.lastName = *body.LastName
	}
	if body.ImageURL != nil {
		c.imageURL = *body.ImageURL
	}
	out := cardJSON(c)
	s.cardsMu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

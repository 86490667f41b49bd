package linqsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linegate/linegate/internal/linq"
)

const (
	eventMessageSent      = "message.sent"
	eventMessageReceived  = "message.received"
	eventMessageDelivered = "message.delivered"
	eventMessageRead      = "message.read"
	eventMessageFailed    = "message.failed"
	eventMessageEdited    = "message.edited"
	eventReactionAdded    = "reaction.added"
	eventReactionRemoved  = "reaction.removed"
	eventChatCreated      = "chat.created"
	eventLineStatus       = "phone_number.status_updated"

	webhookVersion = "2026-02-03"
	apiVersion     = "v3"
	eventsDocURL   = "https://docs.linqapp.com/guides/webhooks/events"
	// failedCode is the message.failed code the simulator uses; Linq's
	// codes (3007, 4001, 4002, 4005–4008) are undocumented.
	failedCode = 4001
)

// knownEvents are the 45 event types Linq knows (wire doc §9).
var knownEvents = []string{
	"message.sent", "message.received", "message.read", "message.delivered", "message.failed", "message.edited",
	"reaction.added", "reaction.removed",
	"poll.received", "poll.sent", "poll.delivered", "poll.read", "poll.failed", "poll.updated",
	"poll.vote.added", "poll.vote.removed", "poll.reaction.added",
	"participant.added", "participant.removed",
	"chat.created", "chat.group_name_updated", "chat.group_icon_updated", "chat.group_name_update_failed",
	"chat.group_icon_update_failed", "chat.background_updated", "chat.background_update_failed",
	"chat.typing_indicator.started", "chat.typing_indicator.stopped",
	"phone_number.status_updated",
	"call.initiated", "call.ringing", "call.answered", "call.ended", "call.failed", "call.declined", "call.no_answer",
	"location.sharing.started", "location.sharing.stopped",
	"payment.succeeded", "payment.canceled", "payment.expired", "payment.declined", "payment.authorized",
	"connection.created", "connection.revoked",
}

// WebhookStats counts webhook work since the simulator started.
type WebhookStats struct {
	Events     int64 `json:"events"`     // events built (one per event, any number of targets)
	Queued     int64 `json:"queued"`     // deliveries queued, duplicates included
	Delivered  int64 `json:"delivered"`  // deliveries answered 2xx
	Retried    int64 `json:"retried"`    // attempts that failed and were scheduled again
	Failed     int64 `json:"failed"`     // deliveries given up (other 4xx, or 10 attempts)
	Dropped    int64 `json:"dropped"`    // deliveries dropped by the drop_webhooks fault
	Duplicated int64 `json:"duplicated"` // extra deliveries from the duplicate_webhooks fault
	Reordered  int64 `json:"reordered"`  // deliveries held back by the reorder_webhooks fault
	Overflow   int64 `json:"overflow"`   // deliveries lost to a full queue
}

type subscription struct {
	id         string
	secret     string
	configured bool // Config.WebhookURL

	// Guarded by hookEngine.mu.
	targetURL string
	events    []string
	phones    []string
	active    bool
	deleted   bool
	createdAt time.Time
	updatedAt time.Time
}

func (sub *subscription) wants(eventType, lineNumber string) bool {
	if !sub.active || sub.deleted || !slices.Contains(sub.events, eventType) {
		return false
	}
	// Only events that name their line are filtered by phone_numbers; events
	// that carry just a chat_id (reactions, chat.created) reach every
	// subscription (open question 10, the harder reading).
	return len(sub.phones) == 0 || lineNumber == "" || slices.Contains(sub.phones, lineNumber)
}

type delivery struct {
	sub       *subscription
	eventType string
	body      []byte
	eventID   string
	webhookID string // stable across the retries of this delivery
	order     string // chat id or line: picks the worker, so order holds per chat
	attempt   int
}

// hookEngine delivers webhooks: a fixed set of workers, each with a bounded
// queue; a delivery goes to the worker chosen by its subscription and chat, so
// events of one chat reach a target in order on their first attempt. Failed
// attempts are rescheduled by timer and do not hold up the queue.
type hookEngine struct {
	s       *Sim
	mu      sync.RWMutex
	subs    []*subscription
	nActive atomic.Int32

	startOnce sync.Once
	queues    []chan *delivery
	client    *http.Client
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	events, queued, delivered, retried, failed, dropped, duplicated, reordered, overflow atomic.Int64

	log deliveryLog
}

func newHookEngine(s *Sim) *hookEngine {
	ctx, cancel := context.WithCancel(context.Background())
	return &hookEngine{s: s, ctx: ctx, cancel: cancel}
}

func (h *hookEngine) start() {
	h.startOnce.Do(func() {
		n := max(h.s.cfg.WebhookWorkers, 1)
		if h.s.cfg.WebhookWorkers == 0 {
			n = DefaultWebhookWorkers
		}
		qlen := h.s.cfg.WebhookQueue
		if qlen <= 0 {
			qlen = DefaultWebhookQueue
		}
		timeout := h.s.cfg.WebhookTimeout
		if timeout <= 0 {
			timeout = DefaultWebhookTimeout
		}
		h.client = &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		h.queues = make([]chan *delivery, n)
		for i := range h.queues {
			h.queues[i] = make(chan *delivery, qlen)
			h.wg.Add(1)
			go h.worker(h.queues[i])
		}
	})
}

func (h *hookEngine) stop() {
	h.cancel()
	h.wg.Wait()
	if h.client != nil {
		h.client.CloseIdleConnections()
	}
}

// enabled is the hot-path check: no active subscription, no webhook work.
func (h *hookEngine) enabled() bool { return h.nActive.Load() > 0 }

func (h *hookEngine) recount() {
	n := int32(0)
	for _, sub := range h.subs {
		if sub.active && !sub.deleted {
			n++
		}
	}
	if n > 0 {
		h.start() // before the store: emit may enqueue as soon as it sees n > 0
	}
	h.nActive.Store(n)
}

func (h *hookEngine) addConfigured(target, secret string) {
	now := h.s.ts()
	h.mu.Lock()
	h.subs = append(h.subs, &subscription{id: newID(), secret: secret, configured: true, targetURL: target,
		events: slices.Clone(knownEvents), active: true, createdAt: now, updatedAt: now})
	h.recount()
	h.mu.Unlock()
}

func (h *hookEngine) enqueue(d *delivery) {
	if h.s.closed.Load() {
		return
	}
	q := h.queues[hashKey(d.sub.id+"|"+d.order)%uint32(len(h.queues))]
	select {
	case q <- d:
	default:
		h.overflow.Add(1)
		h.s.log.Warn("linqsim: webhook queue full, delivery dropped",
			slog.String("event_type", d.eventType), slog.String("subscription_id", d.sub.id))
	}
}

func (h *hookEngine) worker(q chan *delivery) {
	defer h.wg.Done()
	for {
		select {
		case d := <-q:
			h.attempt(d)
		case <-h.ctx.Done():
			return
		}
	}
}

// attempt makes one delivery attempt, signed with both header sets, and
// reschedules it on 5xx, 429 or a network error with backoff
// RetryBase·2^(attempt-1), up to MaxWebhookAttempts attempts.
func (h *hookEngine) attempt(d *delivery) {
	h.mu.RLock()
	target, live := d.sub.targetURL, d.sub.active && !d.sub.deleted
	h.mu.RUnlock()
	if !live {
		return
	}
	d.attempt++
	ts := h.s.now()
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		h.failed.Add(1)
		return
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Linq-Webhooks/linegate-sim")
	req.Header.Set(linq.HeaderWebhookID, d.webhookID)
	req.Header.Set(linq.HeaderWebhookTimestamp, unix)
	req.Header.Set(linq.HeaderWebhookSignature, linq.SignStandard(d.sub.secret, d.webhookID, ts, d.body))
	req.Header.Set(linq.HeaderLegacyEvent, d.eventType)
	req.Header.Set(linq.HeaderLegacySubscriptionID, d.sub.id)
	req.Header.Set(linq.HeaderLegacyTimestamp, unix)
	req.Header.Set(linq.HeaderLegacySignature, linq.SignLegacy(d.sub.secret, ts, d.body))

	status := 0
	resp, err := h.client.Do(req)
	if err == nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if status >= 200 && status < 300 {
			h.delivered.Add(1)
			h.log.add(d, status, ts)
			return
		}
	}
	if h.ctx.Err() != nil {
		return
	}
	retryable := err != nil || status == http.StatusTooManyRequests || status >= 500
	if retryable && d.attempt < MaxWebhookAttempts {
		h.retried.Add(1)
		base := h.s.cfg.RetryBase
		if base <= 0 {
			base = DefaultRetryBase
		}
		time.AfterFunc(base<<(d.attempt-1), func() { h.enqueue(d) })
		return
	}
	h.failed.Add(1)
	attrs := []slog.Attr{slog.String("event_type", d.eventType), slog.String("webhook_id", d.webhookID),
		slog.Int("attempts", d.attempt), slog.Int("status", status)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.s.log.LogAttrs(h.ctx, slog.LevelWarn, "linqsim: webhook delivery given up", attrs...)
}

type envelope struct {
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	CreatedAt      time.Time `json:"created_at"`
	APIVersion     string    `json:"api_version"`
	WebhookVersion string    `json:"webhook_version"`
	PartnerID      string    `json:"partner_id"`
	TraceID        string    `json:"trace_id"`
	Data           any       `json:"data"`
}

func newWebhookID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// emit builds one event in the 2026-02-03 envelope and queues a delivery to
// every subscription that wants it. lineNumber is the line the event comes
// from ("" when the event names none); order groups events that must reach a
// target in order (a chat id or a line).
func (s *Sim) emit(eventType, lineNumber, order string, data any) {
	h := s.hooks
	if !h.enabled() {
		return
	}
	h.mu.RLock()
	var targets []*subscription
	for _, sub := range h.subs {
		if sub.wants(eventType, lineNumber) {
			targets = append(targets, sub)
		}
	}
	h.mu.RUnlock()
	if len(targets) == 0 {
		return
	}
	eventID := newID()
	body, err := json.Marshal(envelope{
		EventID: eventID, EventType: eventType, CreatedAt: s.ts(), APIVersion: apiVersion,
		WebhookVersion: webhookVersion, PartnerID: s.partnerID, TraceID: newTraceID(), Data: data,
	})
	if err != nil {
		s.log.Error("linqsim: encode webhook", slog.String("event_type", eventType), slog.String("error", err.Error()))
		return
	}
	h.events.Add(1)
	f := s.faults.Load()
	for _, sub := range targets {
		if f != nil && s.chance(f.DropWebhooks) {
			h.dropped.Add(1)
			continue
		}
		h.queued.Add(1)
		h.enqueueMaybeLate(f, &delivery{sub: sub, eventType: eventType, body: body, eventID: eventID, webhookID: newWebhookID(), order: order})
		if f != nil && s.chance(f.DuplicateWebhooks) {
			// A duplicate is a second, independent delivery of the same
			// event: same body and event_id, its own webhook-id.
			h.duplicated.Add(1)
			h.queued.Add(1)
			h.enqueueMaybeLate(f, &delivery{sub: sub, eventType: eventType, body: body, eventID: eventID, webhookID: newWebhookID(), order: order})
		}
	}
}

// WebhookStats returns the webhook counters.
func (s *Sim) WebhookStats() WebhookStats {
	h := s.hooks
	return WebhookStats{
		Events: h.events.Load(), Queued: h.queued.Load(), Delivered: h.delivered.Load(), Retried: h.retried.Load(),
		Failed: h.failed.Load(), Dropped: h.dropped.Load(), Duplicated: h.duplicated.Load(), Reordered: h.reordered.Load(),
		Overflow: h.overflow.Load(),
	}
}

// --- event data (2026-02-03) ---

type wEventChat struct {
	ID           string   `json:"id"`
	HealthStatus wHealth  `json:"health_status"`
	IsGroup      bool     `json:"is_group"`
	OwnerHandle  *wHandle `json:"owner_handle"`
}

type wMessageEvent struct {
	ID               string     `json:"id"`
	Chat             wEventChat `json:"chat"`
	Direction        string     `json:"direction"`
	SenderHandle     wHandle    `json:"sender_handle"`
	Parts            []partOut  `json:"parts"`
	Service          string     `json:"service"`
	PreferredService *string    `json:"preferred_service"`
	IdempotencyKey   *string    `json:"idempotency_key"`
	Effect           *wEffect   `json:"effect"`
	ReplyTo          *wReplyTo  `json:"reply_to"`
	SentAt           *time.Time `json:"sent_at"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	ReadAt           *time.Time `json:"read_at"`
}

func (s *Sim) eventChat(c *chat) wEventChat {
	owner := c.ourHandle()
	return wEventChat{ID: c.id, HealthStatus: s.health(c), IsGroup: c.isGroup, OwnerHandle: &owner}
}

// messageEvent renders m for message.* events with the given timestamps,
// so the events of one message show its state at each step.
func (s *Sim) messageEvent(m *message, sent, delivered, read time.Time) wMessageEvent {
	m.chat.mu.Lock()
	parts := partsOut(m.parts, true)
	m.chat.mu.Unlock()
	dir := "outbound"
	if m.inbound {
		dir = "inbound"
	}
	return wMessageEvent{
		ID: m.id, Chat: s.eventChat(m.chat), Direction: dir, SenderHandle: m.sender, Parts: parts,
		Service: m.chat.service, PreferredService: sptr(m.preferredService), IdempotencyKey: sptr(m.idemKey),
		Effect: m.effect, ReplyTo: m.replyTo, SentAt: tptr(sent), DeliveredAt: tptr(delivered), ReadAt: tptr(read),
	}
}

func (s *Sim) chatCreatedData(c *chat) any {
	return struct {
		ID           string    `json:"id"`
		CreatedAt    time.Time `json:"created_at"`
		UpdatedAt    time.Time `json:"updated_at"`
		DisplayName  string    `json:"display_name"`
		Handles      []wHandle `json:"handles"`
		IsGroup      bool      `json:"is_group"`
		HealthStatus wHealth   `json:"health_status"`
		Service      string    `json:"service"`
	}{c.id, c.createdAt, c.createdAt, c.recipKey, c.handles, c.isGroup, s.health(c), c.service}
}

func (s *Sim) failedData(m *message, at time.Time) any {
	return map[string]any{
		"code": failedCode, "failed_at": at, "chat_id": m.chat.id, "message_id": m.id,
		"reason": "simulated delivery failure", "detail_code": nil, "service": nil, "preferred_service": nil,
	}
}

func (s *Sim) editedData(m *message, idx int, text string, at time.Time) any {
	return map[string]any{
		"id": m.id, "chat": s.eventChat(m.chat), "direction": "outbound", "sender_handle": m.sender,
		"edited_at": at, "part": map[string]any{"index": idx, "text": text},
	}
}

func (s *Sim) reactionData(m *message, from wHandle, typ, emoji string, idx int, at time.Time) any {
	return map[string]any{
		"is_from_me": from.IsMe, "reaction_type": typ, "chat_id": m.chat.id, "message_id": m.id,
		"part_index": idx, "reacted_at": at, "from_handle": from, "from": from.Handle,
		"custom_emoji": sptr(emoji), "sticker": nil, "service": m.chat.service,
	}
}

func (s *Sim) emitLineStatus(number, prevStatus, newStatus, prevRep, newRep string) {
	if !s.hooks.enabled() {
		return
	}
	s.emit(eventLineStatus, number, number, map[string]any{
		"phone_number": number, "changed_at": s.ts(),
		"previous_status": prevStatus, "new_status": newStatus,
		"previous_reputation": prevRep, "new_reputation": newRep,
		"previous_health_status": prevRep, "new_health_status": newRep,
	})
}

// --- subscriptions API ---

type wSubscription struct {
	ID               string    `json:"id"`
	TargetURL        string    `json:"target_url"`
	SubscribedEvents []string  `json:"subscribed_events"`
	IsActive         bool      `json:"is_active"`
	PhoneNumbers     []string  `json:"phone_numbers"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	SigningSecret    string    `json:"signing_secret,omitempty"`
}

func subJSON(sub *subscription) wSubscription {
	return wSubscription{ID: sub.id, TargetURL: sub.targetURL, SubscribedEvents: slices.Clone(sub.events),
		IsActive: sub.active, PhoneNumbers: slices.Clone(sub.phones), CreatedAt: sub.createdAt, UpdatedAt: sub.updatedAt}
}

// checkTarget accepts https URLs, and plain http to loopback hosts only (a
// simulator relaxation so local receivers work; Linq requires https).
func checkTarget(raw string) *apiError {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" {
		return errInvalid("target_url must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return errInvalid("target_url must use https")
}

func checkEvents(events []string) *apiError {
	if len(events) == 0 {
		return errInvalid("subscribed_events is required")
	}
	for i, e := range events {
		if !slices.Contains(knownEvents, e) {
			return errInvalid("subscribed_events[%d] %q is not an event type", i, e)
		}
	}
	return nil
}

func checkPhones(phones []string) *apiError {
	for i, p := range phones {
		if !isE164(p) {
			return errInvalid("phone_numbers[%d] %q is not an E.164 number", i, p)
		}
	}
	return nil
}

// targetTaken reports whether another live subscription uses target (each
// target URL may be used once per account). Call with h.mu held.
func (h *hookEngine) targetTaken(target string, except *subscription) bool {
	for _, sub := range h.subs {
		if sub != except && !sub.deleted && sub.targetURL == target {
			return true
		}
	}
	return false
}

func (h *hookEngine) find(id string) *subscription {
	for _, sub := range h.subs {
		if sub.id == id && !sub.deleted {
			return sub
		}
	}
	return nil
}

func (s *Sim) handleCreateSubscription(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TargetURL        string   `json:"target_url"`
		SubscribedEvents []string `json:"subscribed_events"`
		PhoneNumbers     []string `json:"phone_numbers"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	for _, aerr := range []*apiError{checkTarget(body.TargetURL), checkEvents(body.SubscribedEvents), checkPhones(body.PhoneNumbers)} {
		if aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	h := s.hooks
	now := s.ts()
	sub := &subscription{id: newID(), secret: NewWebhookSecret(), targetURL: body.TargetURL,
		events: slices.Compact(slices.Clone(body.SubscribedEvents)), phones: body.PhoneNumbers, active: true,
		createdAt: now, updatedAt: now}
	h.mu.Lock()
	if h.targetTaken(sub.targetURL, nil) {
		h.mu.Unlock()
		writeError(w, errConflict("target_url is already used by another subscription"))
		return
	}
	h.subs = append(h.subs, sub)
	h.recount()
	out := subJSON(sub)
	h.mu.Unlock()
	out.SigningSecret = sub.secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Sim) handleListSubscriptions(w http.ResponseWriter, _ *http.Request) {
	h := s.hooks
	h.mu.RLock()
	out := []wSubscription{}
	for _, sub := range h.subs {
		if !sub.deleted {
			out = append(out, subJSON(sub))
		}
	}
	h.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
}

func (s *Sim) handleGetSubscription(w http.ResponseWriter, r *http.Request) {
	h := s.hooks
	h.mu.RLock()
	sub := h.find(r.PathValue("id"))
	var out wSubscription
	if sub != nil {
		out = subJSON(sub)
	}
	h.mu.RUnlock()
	if sub == nil {
		writeError(w, errNotFound("subscription not found"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleUpdateSubscription(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TargetURL        *string  `json:"target_url"`
		SubscribedEvents []string `json:"subscribed_events"`
		IsActive         *bool    `json:"is_active"`
		// Raw, not a pointer: a JSON null would leave a pointer nil, alike to
		// an absent key, yet null clears the filter.
		PhoneNumbers json.RawMessage `json:"phone_numbers"`
	}
	if aerr := decode(r, &body); aerr != nil {
		writeError(w, aerr)
		return
	}
	var phones []string
	if body.PhoneNumbers != nil {
		if err := json.Unmarshal(body.PhoneNumbers, &phones); err != nil {
			writeError(w, errInvalid("phone_numbers must be a list of E.164 numbers or null"))
			return
		}
		if aerr := checkPhones(phones); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	if body.TargetURL != nil {
		if aerr := checkTarget(*body.TargetURL); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	if body.SubscribedEvents != nil {
		if aerr := checkEvents(body.SubscribedEvents); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	h := s.hooks
	h.mu.Lock()
	sub := h.find(r.PathValue("id"))
	if sub == nil {
		h.mu.Unlock()
		writeError(w, errNotFound("subscription not found"))
		return
	}
	if body.TargetURL != nil && h.targetTaken(*body.TargetURL, sub) {
		h.mu.Unlock()
		writeError(w, errConflict("target_url is already used by another subscription"))
		return
	}
	if body.TargetURL != nil {
		sub.targetURL = *body.TargetURL
	}
	if body.SubscribedEvents != nil {
		sub.events = slices.Compact(slices.Clone(body.SubscribedEvents))
	}
	if body.IsActive != nil {
		sub.active = *body.IsActive
	}
	if body.PhoneNumbers != nil {
		sub.phones = phones // [] or null removes the filter
	}
	sub.updatedAt = s.ts()
	h.recount()
	out := subJSON(sub)
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleDeleteSubscription(w http.ResponseWriter, r *http.Request) {
	h := s.hooks
	h.mu.Lock()
	sub := h.find(r.PathValue("id"))
	if sub != nil {
		sub.deleted = true
		h.recount()
	}
	h.mu.Unlock()
	if sub == nil {
		writeError(w, errNotFound("subscription not found"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleListEventTypes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"doc_url": eventsDocURL, "events": knownEvents})
}

package linqsim

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reputation values and line statuses.
const (
	RepHealthy  = "HEALTHY"
	RepAtRisk   = "AT_RISK"
	RepCritical = "CRITICAL"

	StatusActive  = "ACTIVE"
	StatusFlagged = "FLAGGED"
)

const (
	serviceIMessage = "iMessage"
	serviceSMS      = "SMS"
	serviceRCS      = "RCS"
)

type line struct {
	id       string
	number   string
	flagged  atomic.Bool
	lastUsed atomic.Int64 // unix nanos of the last send or pick

	// Guarded by Sim.linesMu.
	reputation string
	forwarding string
}

type chat struct {
	id         string
	key        string
	recipKey   string
	line       *line
	recipients []string // normalized, sorted
	handles    []wHandle
	isGroup    bool
	service    string
	createdAt  time.Time

	mu        sync.Mutex
	updatedAt time.Time
	msgs      []*message // oldest first
}

type part struct {
	typ          string
	value        string
	decorations  json.RawMessage
	mention      string
	mentionRange []int
	mediaID      string
	filename     string
	mimeType     string
	url          string
	app          json.RawMessage
	layout       json.RawMessage
	fallbackText string
	reactions    []reaction
}

type reaction struct {
	handle      wHandle
	typ         string
	customEmoji string
}

type message struct {
	id               string
	chat             *chat
	inbound          bool
	sender           wHandle
	effect           *wEffect
	replyTo          *wReplyTo
	idemKey          string
	preferredService string
	createdAt        time.Time

	// Guarded by chat.mu.
	parts       []part
	updatedAt   time.Time
	status      string
	sentAt      time.Time
	deliveredAt time.Time
	readAt      time.Time
	deleted     bool
	edits       int
}

type messageShard struct {
	mu sync.RWMutex
	m  map[string]*message
}

type optState struct {
	optedOut bool
	at       time.Time
}

type contactCard struct {
	phoneNumber string
	firstName   string
	lastName    string
	imageURL    string
}

// SendRecord is one accepted send, as the admin send log reports it.
type SendRecord struct {
	At             time.Time `json:"at"`
	From           string    `json:"from"`
	To             []string  `json:"to"`
	ChatID         string    `json:"chat_id"`
	MessageID      string    `json:"message_id"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
}

// LineInfo describes a line for the admin API, service status included
// (which Linq's own API never shows).
type LineInfo struct {
	ID          string `json:"id"`
	PhoneNumber string `json:"phone_number"`
	Status      string `json:"status"`
	Reputation  string `json:"reputation"`
}

var (
	e164Re = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// A whole trimmed inbound text that opts the sender out (wire doc §2):
	// the keywords in exact case, or "opt out" in any spacing, hyphen or case.
	stopExact = map[string]bool{"STOP": true, "UNSUBSCRIBE": true, "OPTOUT": true, "CANCEL": true, "END": true, "QUIT": true}
	optOutRe  = regexp.MustCompile(`(?i)^opt[\s\-]*out$`)
)

func isE164(s string) bool { return e164Re.MatchString(s) }

// isStopKeyword reports whether an inbound text opts its sender out.
func isStopKeyword(text string) bool {
	t := strings.TrimSpace(text)
	return stopExact[t] || optOutRe.MatchString(t)
}

// normalizeHandle validates a handle (E.164 or email) and returns its
// canonical form (emails lowercased).
func normalizeHandle(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if isE164(h) {
		return h, true
	}
	if strings.Contains(h, "@") {
		if a, err := mail.ParseAddress(h); err == nil && a.Address == h {
			return strings.ToLower(h), true
		}
	}
	return "", false
}

// serviceFor is the simulator's deterministic reachability rule: emails and
// numbers ending 0–7 use iMessage, numbers ending in 8 RCS, in 9 SMS.
func serviceFor(handle string) string {
	if strings.Contains(handle, "@") {
		return serviceIMessage
	}
	switch handle[len(handle)-1] {
	case '8':
		return serviceRCS
	case '9':
		return serviceSMS
	}
	return serviceIMessage
}

func chatService(recipients []string) string {
	svc := serviceIMessage
	for _, r := range recipients {
		switch serviceFor(r) {
		case serviceSMS:
			return serviceSMS
		case serviceRCS:
			svc = serviceRCS
		}
	}
	return svc
}

// AddLine adds a line and returns its id. An empty number generates the next
// free +1555010xxxx number; adding an existing number returns its id.
func (s *Sim) AddLine(number string) string {
	s.linesMu.Lock()
	defer s.linesMu.Unlock()
	if number == "" {
		for {
			number = fmt.Sprintf("+1555010%04d", s.nextLine)
			s.nextLine++
			if s.lines[number] == nil {
				break
			}
		}
	}
	if l := s.lines[number]; l != nil {
		return l.id
	}
	l := &line{id: newID(), number: number, reputation: RepHealthy}
	s.lines[number] = l
	s.linesByID[l.id] = l
	s.lineOrder = append(s.lineOrder, l)
	return l.id
}

func (s *Sim) lineByNumber(number string) *line {
	s.linesMu.RLock()
	defer s.linesMu.RUnlock()
	return s.lines[number]
}

// Lines lists the lines with their service status and reputation.
func (s *Sim) Lines() []LineInfo {
	s.linesMu.RLock()
	defer s.linesMu.RUnlock()
	out := make([]LineInfo, 0, len(s.lineOrder))
	for _, l := range s.lineOrder {
		out = append(out, lineInfo(l))
	}
	return out
}

func lineInfo(l *line) LineInfo {
	st := StatusActive
	if l.flagged.Load() {
		st = StatusFlagged
	}
	return LineInfo{ID: l.id, PhoneNumber: l.number, Status: st, Reputation: l.reputation}
}

// FlagLine makes a line ineligible: every new activity from it answers
// 403/2027 (reads still work) and phone_number.status_updated goes out.
func (s *Sim) FlagLine(number string) error { return s.setFlag(number, true) }

// UnflagLine makes a flagged line eligible again.
func (s *Sim) UnflagLine(number string) error { return s.setFlag(number, false) }

func (s *Sim) setFlag(number string, flagged bool) error {
	s.linesMu.Lock()
	l := s.lines[number]
	if l == nil {
		s.linesMu.Unlock()
		return fmt.Errorf("linqsim: no line %s", number)
	}
	was := l.flagged.Swap(flagged)
	rep := l.reputation
	s.linesMu.Unlock()
	if was != flagged {
		prev, next := StatusActive, StatusFlagged
		if !flagged {
			prev, next = next, prev
		}
		s.emitLineStatus(number, prev, next, rep, rep)
	}
	return nil
}

// SetReputation sets a line's reputation (HEALTHY, AT_RISK or CRITICAL) as
// GET /v3/phone_numbers reports it, and sends phone_number.status_updated
// when it changes.
func (s *Sim) SetReputation(number, status string) error {
	if status != RepHealthy && status != RepAtRisk && status != RepCritical {
		return fmt.Errorf("linqsim: reputation %q is not HEALTHY, AT_RISK or CRITICAL", status)
	}
	s.linesMu.Lock()
	l := s.lines[number]
	if l == nil {
		s.linesMu.Unlock()
		return fmt.Errorf("linqsim: no line %s", number)
	}
	prev := l.reputation
	l.reputation = status
	st := StatusActive
	if l.flagged.Load() {
		st = StatusFlagged
	}
	s.linesMu.Unlock()
	if prev != status {
		s.emitLineStatus(number, st, st, prev, status)
	}
	return nil
}

// Block makes sends to a handle in a direct (1:1) chat answer 403/2026.
func (s *Sim) Block(handle string) {
	h, ok := normalizeHandle(handle)
	if !ok {
		h = handle
	}
	s.handlesMu.Lock()
	s.blocked[h] = true
	s.handlesMu.Unlock()
}

// Unblock lifts Block.
func (s *Sim) Unblock(handle string) {
	h, ok := normalizeHandle(handle)
	if !ok {
		h = handle
	}
	s.handlesMu.Lock()
	delete(s.blocked, h)
	s.handlesMu.Unlock()
}

// OptedOut reports whether a handle is opted out.
func (s *Sim) OptedOut(handle string) bool {
	h, _ := normalizeHandle(handle)
	s.handlesMu.RLock()
	defer s.handlesMu.RUnlock()
	return s.optOut[h].optedOut
}

// SendLog returns every accepted send, oldest first.
func (s *Sim) SendLog() []SendRecord {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.sendLog)
}

// Count429 returns how many pair-limit 429s the simulator has answered.
func (s *Sim) Count429() int { return int(s.count429.Load()) }

func (s *Sim) putMessage(m *message) {
	sh := &s.messages[shardOf(m.id)]
	sh.mu.Lock()
	sh.m[m.id] = m
	sh.mu.Unlock()
}

func (s *Sim) getMessage(id string) *message {
	sh := &s.messages[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

func (s *Sim) getChat(id string) *chat {
	s.chatsMu.RLock()
	defer s.chatsMu.RUnlock()
	return s.chatsByID[id]
}

// health returns a chat's health_status: OPTED_OUT for a 1:1 chat whose
// recipient's last inbound text was a STOP keyword, HEALTHY otherwise.
func (s *Sim) health(c *chat) wHealth {
	h := wHealth{Status: RepHealthy, DocURL: healthDoc(RepHealthy), UpdatedAt: c.createdAt}
	if c.isGroup {
		return h
	}
	s.handlesMu.RLock()
	st, ok := s.optOut[c.recipients[0]]
	s.handlesMu.RUnlock()
	if ok {
		if st.optedOut {
			h.Status = "OPTED_OUT"
			h.DocURL = healthDoc(h.Status)
		}
		if st.at.After(h.UpdatedAt) {
			h.UpdatedAt = st.at
		}
	}
	return h
}

func healthDoc(status string) string {
	return "https://docs.linqapp.com/guides/chats/chat-health#" + strings.ToLower(strings.ReplaceAll(status, "_", "-"))
}

func reputationDoc(status string) string {
	return "https://docs.linqapp.com/guides/phone-numbers/reputation#" + strings.ToLower(strings.ReplaceAll(status, "_", "-"))
}

func chatKey(from string, recipients []string) string {
	return from + "|" + strings.Join(recipients, ",")
}

// newChat builds a chat (not yet indexed).
func (s *Sim) newChat(l *line, recipients []string, now time.Time) *chat {
	c := &chat{
		id:         newID(),
		key:        chatKey(l.number, recipients),
		recipKey:   strings.Join(recipients, ","),
		line:       l,
		recipients: recipients,
		isGroup:    len(recipients) > 1,
		service:    chatService(recipients),
		createdAt:  now,
		updatedAt:  now,
	}
	c.handles = make([]wHandle, 0, len(recipients)+1)
	c.handles = append(c.handles, wHandle{ID: newID(), Handle: l.number, JoinedAt: now, Service: c.service, IsMe: true, Status: "active"})
	for _, r := range recipients {
		c.handles = append(c.handles, wHandle{ID: newID(), Handle: r, JoinedAt: now, Service: c.service, Status: "active"})
	}
	return c
}

// indexChat stores c unless a chat with its key appeared meanwhile; it
// returns the chat that holds the key and whether c was stored.
func (s *Sim) indexChat(c *chat) (*chat, bool) {
	s.chatsMu.Lock()
	defer s.chatsMu.Unlock()
	if existing := s.chatsByKey[c.key]; existing != nil {
		return existing, false
	}
	s.chatsByKey[c.key] = c
	s.chatsByID[c.id] = c
	s.chatsByRecip[c.recipKey] = append(s.chatsByRecip[c.recipKey], c)
	s.chatOrder = append(s.chatOrder, c)
	return c, true
}

func (c *chat) ourHandle() wHandle { return c.handles[0] }

func (c *chat) handleFor(h string) wHandle {
	for _, x := range c.handles[1:] {
		if x.Handle == h {
			return x
		}
	}
	return wHandle{ID: newID(), Handle: h, JoinedAt: c.createdAt, Service: c.service, Status: "active"}
}

package linqsim

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

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
// created (line eligibility, opt-out, block, mention outside a group,
// first-message rule, pair limit),
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
	if a.content.hasMention && len(a.recipients) < 2 {
		return nil, &apiError{status: http.StatusConflict, code: codeMentionInDirect,
			message: "a mention can only be used in a group chat"}
	}
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

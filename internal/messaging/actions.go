package messaging

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

// Action is the answer to a pass-through.
type Action struct {
	MessageID string  `json:"message_id,omitempty"`
	UserRef   string  `json:"user_ref"`
	Line      LineRef `json:"line"`
	ChatID    string  `json:"chat_id,omitempty"`
	TraceID   *string `json:"trace_id"` // null when Linq gave none
	Status    string  `json:"status,omitempty"`
}

// ReactRequest adds or removes a reaction on a message Linegate sent.
type ReactRequest struct {
	Operation   string `json:"operation"`
	Type        string `json:"type"`
	CustomEmoji string `json:"custom_emoji,omitempty"`
	PartIndex   *int   `json:"part_index,omitempty"`
	Intent      string `json:"intent,omitempty"`
}

// EditRequest edits a text part of a message Linegate sent.
type EditRequest struct {
	Text      string `json:"text"`
	PartIndex *int   `json:"part_index,omitempty"`
	Intent    string `json:"intent,omitempty"`
}

var reactionTypes = map[string]bool{"love": true, "like": true, "dislike": true, "laugh": true,
	"emphasize": true, "question": true, "custom": true}

// React adds or removes a reaction on the message's own line and chat. It
// counts toward the pair window and the budget like a send.
func (s *Service) React(ctx context.Context, messageID string, req ReactRequest) (*Action, error) {
	if req.Operation != linq.ReactionAdd && req.Operation != linq.ReactionRemove {
		return nil, apperr.Field("operation", `must be "add" or "remove"`)
	}
	if !reactionTypes[req.Type] {
		return nil, apperr.Field("type", "must be one of love, like, dislike, laugh, emphasize, question, custom")
	}
	if req.Type == "custom" && req.CustomEmoji == "" {
		return nil, apperr.Field("custom_emoji", "is required for a custom reaction")
	}
	if err := validPartIndex("part_index", req.PartIndex); err != nil {
		return nil, err
	}
	return s.counted(ctx, messageID, req.Intent, "react", func(ctx context.Context, linqID string) (string, string, error) {
		resp, err := s.linq.React(ctx, linqID, linq.ReactRequest{Operation: req.Operation, Type: req.Type,
			CustomEmoji: req.CustomEmoji, PartIndex: req.PartIndex})
		if err != nil {
			return "", "", err
		}
		return resp.TraceID, resp.Status, nil
	})
}

// Edit changes a text part of the message on its own line and chat. It
// counts toward the pair window and the budget like a send.
func (s *Service) Edit(ctx context.Context, messageID string, req EditRequest) (*Action, error) {
	if req.Text == "" {
		return nil, apperr.Field("text", "is required")
	}
	if err := validPartIndex("part_index", req.PartIndex); err != nil {
		return nil, err
	}
	return s.counted(ctx, messageID, req.Intent, "edit_message", func(ctx context.Context, linqID string) (string, string, error) {
		resp, err := s.linq.EditMessage(ctx, linqID, linq.EditMessageRequest{Text: req.Text, PartIndex: req.PartIndex})
		if err != nil {
			return "", "", err
		}
		return resp.TraceID, resp.DeliveryStatus, nil
	})
}

// counted runs an action on a sent message that Linq treats as a send:
// opt-out gate, admission, the call, and a give-back if Linq refused it.
func (s *Service) counted(ctx context.Context, messageID, intent, op string,
	call func(ctx context.Context, linqID string) (trace, status string, err error)) (*Action, error) {
	switch intent {
	case "", ratelimit.IntentProactive, ratelimit.IntentReply:
	default:
		return nil, apperr.Field("intent", `must be "reply" or "proactive"`)
	}
	m, err := s.sentMessage(ctx, messageID)
	if err != nil {
		return nil, err
	}
	if m.DeletedAt != nil {
		return nil, apperr.New(apperr.Conflict, "message_deleted", "the message was deleted; nothing was sent")
	}
	if m.OptedOutAt != nil {
		s.metrics.SendsRefused.WithLabelValues("opted_out").Inc()
		return nil, optedOut()
	}
	d, err := s.lim.Admit(ctx, ratelimit.Request{
		LineID: m.LineID, Handles: []string{m.Handle}, Reply: intent == ratelimit.IntentReply && m.RecentInbound,
	})
	if err != nil {
		return nil, err
	}
	if err := s.lim.Check(ctx, m.LineID, m.Handle, d); err != nil {
		return nil, err
	}
	trace, status, err := call(ctx, deref(m.LinqMessageID))
	if err != nil {
		if linq.NotSent(err) {
			if gerr := s.lim.GiveBack(context.WithoutCancel(ctx), m.LineID, []string{m.Handle}, d.At); gerr != nil {
				s.log.ErrorContext(ctx, "give back refused action", slog.Any("error", gerr))
			}
		}
		return nil, s.upstreamError(context.WithoutCancel(ctx), op, err, target{lineID: m.LineID, userID: m.UserID})
	}
	s.metrics.UpstreamRequests.WithLabelValues(op, "ok").Inc()
	return &Action{MessageID: messageID, UserRef: m.UserRef, Line: LineRef{ID: m.LineID, Number: m.LineNumber},
		ChatID: deref(m.LinqChatID), TraceID: nullable(trace), Status: status}, nil
}

// Delete removes a sent message from Linq's storage (not an unsend). It is
// idempotent: once Linq has confirmed the deletion (or, asked again after
// an answer that was lost, says it no longer knows the message Linegate
// sent), the message is recorded deleted, and a repeated DELETE answers
// from that record without calling Linq.
func (s *Service) Delete(ctx context.Context, messageID string) (*Action, error) {
	m, err := s.sentMessage(ctx, messageID)
	if err != nil {
		return nil, err
	}
	deleted := &Action{MessageID: messageID, UserRef: m.UserRef, Line: LineRef{ID: m.LineID, Number: m.LineNumber},
		ChatID: deref(m.LinqChatID), Status: "deleted"}
	if m.DeletedAt != nil {
		return deleted, nil
	}
	ack, err := s.linq.DeleteMessage(ctx, deref(m.LinqMessageID))
	switch {
	case err == nil:
		s.metrics.UpstreamRequests.WithLabelValues("delete_message", "ok").Inc()
		deleted.TraceID = nullable(ack.TraceID)
	case linq.IsNotFound(err):
		// Linq accepted this message once (it is sent): gone now means an
		// earlier DELETE went through.
		s.metrics.UpstreamRequests.WithLabelValues("delete_message", "gone").Inc()
		if le, ok := linq.AsError(err); ok {
			deleted.TraceID = nullable(le.TraceID)
		}
	default:
		return nil, s.upstreamError(context.WithoutCancel(ctx), "delete_message", err, target{lineID: m.LineID, userID: m.UserID})
	}
	if err := s.q.MessageMarkDeleted(context.WithoutCancel(ctx), s.pool, m.ID); err != nil {
		// Linq deleted it; a repeated DELETE asks Linq again and gets 404.
		s.log.ErrorContext(ctx, "record message deleted", slog.Any("error", err))
	}
	return deleted, nil
}

// Typing starts (on) or stops the typing indicator in the user's chat on
// their current line.
func (s *Service) Typing(ctx context.Context, userRef string, on bool) (*Action, error) {
	op, fn := "stop_typing", s.linq.StopTyping
	if on {
		op, fn = "start_typing", s.linq.StartTyping
	}
	return s.chatAction(ctx, userRef, op, fn)
}

// ShareContactCard shares the line's contact card into the user's chat on
// their current line.
func (s *Service) ShareContactCard(ctx context.Context, userRef string) (*Action, error) {
	return s.chatAction(ctx, userRef, "share_contact_card", s.linq.ShareContactCard)
}

func (s *Service) chatAction(ctx context.Context, userRef, op string, fn func(context.Context, string) (*linq.Ack, error)) (*Action, error) {
	u, err := s.q.UserGetForSend(ctx, s.pool, store.UserGetForSendParams{UserRef: userRef, Settings: s.settings})
	if err != nil {
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return nil, apperr.New(apperr.NotFound, "user_not_found", "no user with this user_ref")
		}
		return nil, err
	}
	switch {
	case u.OptedOutAt != nil:
		return nil, optedOut()
	case u.LinqChatID == nil:
		return nil, apperr.New(apperr.NotFound, "chat_not_found",
			"no chat with this user on their current line yet: send a message first")
	case !u.LineOk:
		return nil, ratelimit.Refusal(ratelimit.OutcomeLineUnavailable, u.LineWhy, 0)
	}
	ack, err := fn(ctx, *u.LinqChatID)
	if err != nil {
		return nil, s.upstreamError(context.WithoutCancel(ctx), op, err, target{lineID: u.LineID, userID: u.ID})
	}
	s.metrics.UpstreamRequests.WithLabelValues(op, "ok").Inc()
	return &Action{UserRef: u.UserRef, Line: LineRef{ID: u.LineID, Number: u.LineNumber}, ChatID: *u.LinqChatID,
		TraceID: nullable(ack.TraceID)}, nil
}

// sentMessage is a sent message with what an action on it needs. A send
// whose Linq answer is still being recorded (the caller has it already: see
// recordBehind) is waited for, once.
func (s *Service) sentMessage(ctx context.Context, messageID string) (store.MessageGetForActionRow, error) {
	id, err := parseID(messageID)
	if err != nil {
		return store.MessageGetForActionRow{}, messageNotFound()
	}
	get := func() (store.MessageGetForActionRow, error) {
		return s.q.MessageGetForAction(ctx, s.pool, store.MessageGetForActionParams{
			ID: pgUUID(id), ReplyWindow: store.Interval(s.lim.Config().ReplyWindow),
		})
	}
	m, err := get()
	if !errors.Is(store.Interpret(err), store.ErrNotFound) {
		return m, err
	}
	pending, again := s.waiters.awaitRecord(ctx, s.q, id)
	if again {
		m, err = get()
	}
	switch {
	case err == nil:
		return m, nil
	case !errors.Is(store.Interpret(err), store.ErrNotFound):
		return m, err
	case pending:
		// Not the database's fault: the send's replica has not stored
		// Linq's answer yet (or died before it could, and the recovery job
		// resends it once its lease ends).
		return m, recordPending()
	case ctx.Err() != nil:
		return m, ctx.Err()
	}
	return m, messageNotFound()
}

func recordPending() error {
	e := apperr.New(apperr.Conflict, "message_in_progress",
		"this message's send is still being recorded; retry shortly")
	e.RetryAfter = time.Second
	return e
}

func messageNotFound() error {
	return apperr.New(apperr.NotFound, "message_not_found", "no message with this id was sent through Linegate")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullable is s, or nil (JSON null) when it is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

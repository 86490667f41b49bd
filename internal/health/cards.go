package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// codeCardSetupIncomplete is Linq's 500/2022: the contact card setup or
// update did not complete and should be called again.
const codeCardSetupIncomplete = 2022

// cardAttempts bounds the calls per card when Linq answers 2022.
const cardAttempts = 3

// CardResult summarises a contact-card pass.
type CardResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Failed  int `json:"failed"`
}

// EnsureContactCards makes every line Linq lists have an active contact
// card with the company name: created when missing, patched when the name
// changed. A 2022 answer is retried; a line that still fails is left for
// the next sync (and counted).
func (s *Service) EnsureContactCards(ctx context.Context) (CardResult, error) {
	var res CardResult
	if s.linq == nil {
		return res, errors.New("contact cards: no Linq client")
	}
	have, err := s.linq.GetContactCard(ctx, "")
	if err != nil {
		return res, fmt.Errorf("list contact cards: %w", err)
	}
	cards := make(map[string]linq.ContactCard, len(have.ContactCards))
	for _, c := range have.ContactCards {
		cards[c.PhoneNumber] = c
	}
	ls, err := s.q.LineHealthList(ctx, s.pool)
	if err != nil {
		return res, fmt.Errorf("read lines: %w", err)
	}
	name := s.cfg.CompanyName
	for _, l := range ls {
		if l.AdminState == lines.AdminRetired || l.LinqMissingAt != nil {
			continue
		}
		c, ok := cards[l.Number]
		switch {
		case !ok || !c.IsActive:
			err = s.retry2022(ctx, func() error {
				_, err := s.linq.CreateContactCard(ctx, linq.CreateContactCardRequest{PhoneNumber: l.Number, FirstName: name})
				if e, ok := linq.AsError(err); ok && e.Code == linq.CodeContactCardExist {
					_, err = s.linq.UpdateContactCard(ctx, linq.UpdateContactCardRequest{PhoneNumber: l.Number, FirstName: &name})
				}
				return err
			})
			if err == nil {
				res.Created++
			}
		case c.FirstName != name:
			err = s.retry2022(ctx, func() error {
				_, err := s.linq.UpdateContactCard(ctx, linq.UpdateContactCardRequest{PhoneNumber: l.Number, FirstName: &name})
				return err
			})
			if err == nil {
				res.Updated++
			}
		default:
			err = nil
		}
		if err != nil {
			res.Failed++
			s.logger.WarnContext(ctx, "contact card not set", slog.Int64("line_id", l.ID), slog.Any("error", err))
			continue
		}
		if err := s.q.ContactCardUpsert(ctx, s.pool, store.ContactCardUpsertParams{LineID: l.ID, FirstName: name, SyncedAt: s.cfg.Now()}); err != nil {
			return res, fmt.Errorf("record contact card: %w", err)
		}
	}
	return res, nil
}

// retry2022 calls fn again while Linq answers 500/2022, a few times.
func (s *Service) retry2022(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range cardAttempts {
		if err = fn(); err == nil {
			return nil
		}
		e, ok := linq.AsError(err)
		if !ok || e.Status != http.StatusInternalServerError || e.Code != codeCardSetupIncomplete {
			return err
		}
		t := time.NewTimer(time.Duration(attempt+1) * 200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return err
}

// maxSharesPerRun bounds one run of the share job.
const maxSharesPerRun = 500

// ShareContactCards shares the line's contact card into the chats that
// should get it: a chat whose user was just sent their first message on
// that line (which covers the first message on a new line after a
// failover), then again at most every CardReshareAfter while the chat is
// active (a message sent on it in the last day), as Linq advises. A failed
// share is logged and tried again on the next run.
func (s *Service) ShareContactCards(ctx context.Context) (int, error) {
	if s.linq == nil {
		return 0, errors.New("contact cards: no Linq client")
	}
	now := s.cfg.Now()
	due, err := s.q.ContactCardShareDue(ctx, s.pool, store.ContactCardShareDueParams{
		SharedBefore: now.Add(-s.cfg.CardReshareAfter), ActiveSince: now.Add(-24 * time.Hour), MaxRows: maxSharesPerRun,
	})
	if err != nil {
		return 0, fmt.Errorf("read chats due a contact card: %w", err)
	}
	shared := 0
	for _, c := range due {
		if _, err := s.linq.ShareContactCard(ctx, c.LinqChatID); err != nil {
			if ctx.Err() != nil {
				return shared, ctx.Err()
			}
			s.logger.WarnContext(ctx, "contact card share failed", slog.Int64("line_id", c.LineID), slog.Any("error", err))
			continue
		}
		if err := s.q.ContactCardShareRecord(ctx, s.pool, store.ContactCardShareRecordParams{UserID: c.UserID, LineID: c.LineID, SharedAt: now}); err != nil {
			return shared, fmt.Errorf("record contact card share: %w", err)
		}
		shared++
	}
	return shared, nil
}

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
// changed, linqInFlight lines at a time; the lines whose card is already
// right cost no call. A 2022 answer is retried; a line that still fails is
// left for the next sync (and counted).
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
	type change struct {
		lineID int64
		number string
		create bool
		err    error
	}
	var ok []int64
	var todo []change
	for _, l := range ls {
		if l.AdminState == lines.AdminRetired || l.LinqMissingAt != nil {
			continue
		}
		switch c, found := cards[l.Number]; {
		case !found || !c.IsActive:
			todo = append(todo, change{lineID: l.ID, number: l.Number, create: true})
		case c.FirstName != name:
			todo = append(todo, change{lineID: l.ID, number: l.Number})
		default:
			ok = append(ok, l.ID)
		}
	}
	forEach(ctx, len(todo), linqInFlight, func(ctx context.Context, i int) {
		c := &todo[i]
		c.err = s.retry2022(ctx, func() error {
			if c.create {
				_, err := s.linq.CreateContactCard(ctx, linq.CreateContactCardRequest{PhoneNumber: c.number, FirstName: name})
				if e, isLinq := linq.AsError(err); !isLinq || e.Code != linq.CodeContactCardExist {
					return err
				}
			}
			_, err := s.linq.UpdateContactCard(ctx, linq.UpdateContactCardRequest{PhoneNumber: c.number, FirstName: &name})
			return err
		})
	})
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for _, c := range todo {
		switch {
		case c.err != nil:
			res.Failed++
			s.logger.WarnContext(ctx, "contact card not set", slog.Int64("line_id", c.lineID), slog.Any("error", c.err))
			continue
		case c.create:
			res.Created++
		default:
			res.Updated++
		}
		ok = append(ok, c.lineID)
	}
	if len(ok) > 0 {
		err := s.q.ContactCardUpsertMany(ctx, s.pool, store.ContactCardUpsertManyParams{LineIds: ok, FirstName: name, SyncedAt: s.cfg.Now()})
		if err != nil {
			return res, fmt.Errorf("record contact cards: %w", err)
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

// A share run takes at most maxSharesPerRun chats (first shares before
// shares again), which bounds one run however large the pool; the chats
// that did not fit are taken by the next runs.
const maxSharesPerRun = 500

// ShareContactCards shares the line's contact card into the chats that
// should get it: every chat opened in the last day (the user's first
// message on that line, which covers the first message on a new line after
// a failover) that never had it, then again at most every CardReshareAfter
// when a message was sent on it lately (among the newest CardShareScan sent
// messages of the last day), as Linq advises. Shares go linqInFlight at a
// time; a failed share is logged and tried again on the next run.
func (s *Service) ShareContactCards(ctx context.Context) (int, error) {
	if s.linq == nil {
		return 0, errors.New("contact cards: no Linq client")
	}
	now := s.cfg.Now()
	since := now.Add(-24 * time.Hour)
	first, err := s.q.ContactCardShareFirstDue(ctx, s.pool, store.ContactCardShareFirstDueParams{
		ActiveSince: since, MaxRows: maxSharesPerRun,
	})
	if err != nil {
		return 0, fmt.Errorf("read chats due their first contact card: %w", err)
	}
	rows := make([]store.ContactCardShareDueRow, 0, len(first))
	for _, r := range first {
		rows = append(rows, store.ContactCardShareDueRow(r))
	}
	if left := maxSharesPerRun - len(rows); left > 0 {
		again, err := s.q.ContactCardShareDue(ctx, s.pool, store.ContactCardShareDueParams{
			SharedBefore: now.Add(-s.cfg.CardReshareAfter), ActiveSince: since,
			IdsSince: now.Add(-72 * time.Hour), MaxScan: int32(s.cfg.CardShareScan), MaxRows: int32(left),
		})
		if err != nil {
			return 0, fmt.Errorf("read chats due a contact card again: %w", err)
		}
		rows = append(rows, again...)
	}
	type chat struct{ userID, lineID int64 }
	seen := make(map[chat]bool, len(rows))
	due := rows[:0]
	for _, r := range rows {
		if k := (chat{r.UserID, r.LineID}); !seen[k] {
			seen[k] = true
			due = append(due, r)
		}
	}
	shared := make([]bool, len(due))
	forEach(ctx, len(due), linqInFlight, func(ctx context.Context, i int) {
		if _, err := s.linq.ShareContactCard(ctx, due[i].LinqChatID); err != nil {
			if ctx.Err() == nil {
				s.logger.WarnContext(ctx, "contact card share failed", slog.Int64("line_id", due[i].LineID), slog.Any("error", err))
			}
			return
		}
		shared[i] = true
	})
	var rec store.ContactCardShareRecordManyParams
	for i, c := range due {
		if shared[i] {
			rec.UserIds = append(rec.UserIds, c.UserID)
			rec.LineIds = append(rec.LineIds, c.LineID)
		}
	}
	// What was shared is recorded even when the run was cut short: those
	// chats have the card.
	if len(rec.UserIds) > 0 {
		rec.SharedAt = now
		if err := s.q.ContactCardShareRecordMany(context.WithoutCancel(ctx), s.pool, rec); err != nil {
			return 0, fmt.Errorf("record contact card shares: %w", err)
		}
	}
	return len(rec.UserIds), ctx.Err()
}

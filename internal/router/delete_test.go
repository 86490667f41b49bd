package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

func TestDelete(t *testing.T) {
	t.Parallel()

	// setup signs up ann (with a handle) and bob on lines of the given
	// budgets (caps), with a chat on every line of their sets.
	setup := func(t *testing.T, budgets ...int) *stack {
		t.Helper()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(newClock()))
		for i, b := range budgets {
			seedLine(t, s.pool, i, b)
		}
		for _, req := range []router.SignupRequest{{UserRef: "ann", Handle: "+14155552671"}, {UserRef: "bob"}} {
			_, err := s.router.Assign(context.Background(), req)
			require.NoError(t, err)
		}
		exec(t, s.pool, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT ul.user_id, ul.line_id, 'chat-' || ul.user_id || '-' || ul.line_id, now() FROM user_lines ul`)
		return s
	}
	owned := func(t *testing.T, s *stack, table string) int {
		t.Helper()
		return count(t, s.pool, `SELECT count(*) FROM `+table+` x JOIN users u ON u.id = x.user_id WHERE u.user_ref = 'bob'`)
	}

	t.Run("RemovesTheUserAndWhatIsTheirsAlone", func(t *testing.T) {
		t.Parallel()
		s := setup(t, 100, 100, 100)
		bobChats, bobLines := owned(t, s, "chats"), owned(t, s, "user_lines")
		require.NoError(t, s.router.Delete(context.Background(), "ann"))

		_, err := s.router.User(context.Background(), "ann")
		require.True(t, apperr.IsCode(err, "user_not_found"), "got %v", err)
		for _, table := range []string{"user_lines", "line_ledger", "signup_links", "chats"} {
			require.Zero(t, count(t, s.pool, `SELECT count(*) FROM `+table+` x WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)`), table)
		}
		require.Equal(t, bobChats, owned(t, s, "chats"), "other users keep theirs")
		require.Equal(t, bobLines, owned(t, s, "user_lines"))
		exactUserCounts(t, s.pool, "a delete")
		exactSlots(t, s.pool, "a delete")
	})

	t.Run("TheHandleMaySignUpAgainUnderAnotherRef", func(t *testing.T) {
		t.Parallel()
		s := setup(t, 100, 100)
		_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: "ann-new", Handle: "+14155552671"})
		require.True(t, apperr.IsCode(err, "handle_taken"), "before the delete: %v", err)
		require.NoError(t, s.router.Delete(context.Background(), "ann"))
		a, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: "ann-new", Handle: "+14155552671"})
		require.NoError(t, err)
		require.Equal(t, "+14155552671", a.Handle)
	})

	t.Run("AFullLineTakesASignupAgain", func(t *testing.T) {
		t.Parallel()
		s := setup(t, 1, 1) // a cap of one user a line: both are full
		_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: "cat"})
		require.Error(t, err, "the pool is full")
		require.NoError(t, s.router.Delete(context.Background(), "bob"))
		_, err = s.router.Assign(context.Background(), router.SignupRequest{UserRef: "cat"})
		require.NoError(t, err)
		exactUserCounts(t, s.pool, "a delete and a signup")
	})

	t.Run("AnUnknownOrDeletedRefIs404", func(t *testing.T) {
		t.Parallel()
		s := setup(t, 100)
		require.NoError(t, s.router.Delete(context.Background(), "bob"))
		for _, ref := range []string{"bob", "nobody"} {
			err := s.router.Delete(context.Background(), ref)
			require.True(t, apperr.IsCode(err, "user_not_found"), "%s: %v", ref, err)
		}
		exactUserCounts(t, s.pool, "deletes")
	})

	// The delete holds the pool lock, so each table its cascade reaches
	// must be read by the user's key, not whole, however large it grows
	// (failover_moves keeps every user of 90 days of failovers).
	t.Run("ItsCascadeReadsNoTableWhole", func(t *testing.T) {
		t.Parallel()
		s := setup(t, 100_000, 100_000)
		// Tables as a grown pool has them: users with their line sets,
		// ledgers, links, chats, card shares and volume, and 20 failovers.
		for _, q := range []string{
			`INSERT INTO users (user_ref, code, home_line_id, current_line_id)
				SELECT 'u-' || g, 'code-' || g, l.id, l.id FROM generate_series(1, 5000) g
				CROSS JOIN LATERAL (SELECT min(id) AS id FROM lines) l`,
			`INSERT INTO user_lines (user_id, position, line_id)
				SELECT u.id, 0, u.home_line_id FROM users u WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO line_ledger (user_id, reason, to_line_id, line_set)
				SELECT u.id, 'signup', u.home_line_id, ARRAY[u.home_line_id] FROM users u WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO signup_links (token, user_id, body, expires_at)
				SELECT 'token-of-user-' || lpad(u.id::text, 10, '0'), u.id, 'hi', now() + interval '1 day' FROM users u WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
				SELECT u.id, u.home_line_id, 'c-' || u.id, now() FROM users u WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO contact_card_shares (user_id, line_id, shared_at)
				SELECT u.id, u.home_line_id, now() FROM users u WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO user_volume (user_id, day, inbound)
				SELECT u.id, current_date - d, 1 FROM users u CROSS JOIN generate_series(0, 2) d WHERE u.user_ref LIKE 'u-%'`,
			`INSERT INTO failovers (line_id, reason, cause, started_at)
				SELECT (SELECT min(id) FROM lines), 'failover', 'test', now() - g * interval '1 hour' FROM generate_series(1, 20) g`,
			`INSERT INTO failover_moves (failover_id, user_id, from_line_id)
				SELECT f.id, u.id, u.current_line_id FROM failovers f CROSS JOIN users u`,
			`UPDATE lines SET user_count = (SELECT count(*) FROM users u WHERE u.current_line_id = lines.id)`,
			`ANALYZE`,
		} {
			exec(t, s.pool, q)
		}
		tables := []string{"users", "user_lines", "line_ledger", "signup_links", "chats", "user_volume", "failover_moves", "contact_card_shares"}
		before := pgtest.SeqScans(t, s.pool, tables...)
		require.NoError(t, s.router.Delete(context.Background(), "u-7"))
		require.Empty(t, pgtest.NewSeqScans(before, pgtest.SeqScans(t, s.pool, tables...)), "sequential scans by a delete, by table")
	})

	t.Run("DeletesBesideSignupsOnTwoInstancesKeepCountsExact", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		cfg := defaultStackConfig(newClock())
		cfg.router.MaxBatch = 4
		a, b := newStack(t, url, cfg), newStack(t, url, cfg)
		for i := range 4 {
			seedLine(t, a.pool, i, 1000)
		}
		for i := range 40 {
			_, err := a.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("old-%d", i)})
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 80)
		for i := range 40 {
			wg.Go(func() { errs <- a.router.Delete(context.Background(), fmt.Sprintf("old-%d", i)) })
			wg.Go(func() {
				_, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("new-%d", i)})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 40, count(t, a.pool, `SELECT count(*) FROM users`))
		require.Zero(t, count(t, a.pool, `SELECT count(*) FROM users WHERE user_ref LIKE 'old-%'`))
		exactUserCounts(t, a.pool, "deletes beside signups")
		exactSlots(t, a.pool, "deletes beside signups")
	})
}

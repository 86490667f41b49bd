package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

func TestImportHandleChange(t *testing.T) {
	t.Parallel()

	// setup signs up ann (handle +14155552671) and bob, each with a chat on
	// every line of their set, as sends would have left them.
	setup := func(t *testing.T) *stack {
		t.Helper()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(newClock()))
		for i := range 3 {
			seedLine(t, s.pool, i, 100)
		}
		for _, req := range []router.SignupRequest{
			{UserRef: "ann", Handle: "+14155552671"},
			{UserRef: "bob", Handle: "+14155552672"},
		} {
			_, err := s.router.Assign(context.Background(), req)
			require.NoError(t, err)
		}
		exec(t, s.pool, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT ul.user_id, ul.line_id, 'chat-' || ul.user_id || '-' || ul.line_id, now() FROM user_lines ul`)
		return s
	}
	chats := func(t *testing.T, s *stack, userRef string) int {
		t.Helper()
		return count(t, s.pool, `SELECT count(*) FROM chats c JOIN users u ON u.id = c.user_id WHERE u.user_ref = $1`, userRef)
	}

	t.Run("NewHandleDropsTheUsersChats", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		a, err := s.router.Import(context.Background(), router.SignupRequest{UserRef: "ann", Handle: "+1 415 555 2679"})
		require.NoError(t, err)
		require.Equal(t, "+14155552679", a.Handle)
		require.Zero(t, chats(t, s, "ann"), "chats opened with the old handle must go")
		require.Equal(t, 3, chats(t, s, "bob"), "other users keep theirs")
	})

	t.Run("SameHandleOrProfileOnlyKeepsChats", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		for _, req := range []router.SignupRequest{
			{UserRef: "ann", Handle: "(415) 555-2671"},
			{UserRef: "ann", DisplayName: "Ann"},
			{UserRef: "ann"},
		} {
			_, err := s.router.Import(context.Background(), req)
			require.NoError(t, err)
		}
		require.Equal(t, 3, chats(t, s, "ann"))
	})

	// A send recording a chat holds the user FOR KEY SHARE and rechecks
	// the handle: the change waits for it and then drops the chat it
	// added. (The update alone takes a no-key lock, which would not wait.)
	t.Run("NewHandleWaitsForASendRecordingAChat", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		send, err := s.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = send.Rollback(ctx) }()
		_, err = send.Exec(ctx, `SELECT 1 FROM users WHERE user_ref = 'ann' FOR KEY SHARE`)
		require.NoError(t, err)
		_, err = send.Exec(ctx, `DELETE FROM chats WHERE user_id = (SELECT id FROM users WHERE user_ref = 'ann')`)
		require.NoError(t, err)
		_, err = send.Exec(ctx, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT id, current_line_id, 'chat-new', now() FROM users WHERE user_ref = 'ann'`)
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			_, err := s.router.Import(ctx, router.SignupRequest{UserRef: "ann", Handle: "+14155552679"})
			done <- err
		}()
		require.Eventually(t, func() bool {
			return count(t, s.pool, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
		}, 10*time.Second, 5*time.Millisecond, "the handle change did not wait for the send")
		require.NoError(t, send.Commit(ctx))
		require.NoError(t, <-done)
		require.Zero(t, chats(t, s, "ann"), "the chat the send recorded for the old handle must go")
	})

	t.Run("RefusedHandleChangesNothing", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		_, err := s.router.Import(context.Background(), router.SignupRequest{UserRef: "ann", Handle: "+14155552672", DisplayName: "Ann"})
		require.True(t, apperr.IsCode(err, "handle_taken"), "got %v", err)
		require.Equal(t, 3, chats(t, s, "ann"))
		require.Equal(t, 1, count(t, s.pool, `SELECT count(*) FROM users WHERE user_ref = 'ann' AND handle = '+14155552671' AND display_name IS NULL`))
	})
}

func TestRepeatSignup(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *stack {
		t.Helper()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(newClock()))
		seedLine(t, s.pool, 0, 100)
		for _, req := range []router.SignupRequest{
			{UserRef: "ann", Handle: "+14155552671"},
			{UserRef: "bob", Handle: "+14155552672"},
			{UserRef: "cy"},
		} {
			_, err := s.router.Assign(context.Background(), req)
			require.NoError(t, err)
		}
		return s
	}
	s := setup(t)

	tests := []struct {
		name string
		req  router.SignupRequest
		code string // "" when the repeat answers the existing assignment
		kept string // the handle stored afterwards, "" for none
	}{
		{"SameHandleIsTheExistingAssignment", router.SignupRequest{UserRef: "ann", Handle: "415-555-2671"}, "", "+14155552671"},
		{"NoHandleIsTheExistingAssignment", router.SignupRequest{UserRef: "ann"}, "", "+14155552671"},
		{"FreeOtherHandleIsAMismatch", router.SignupRequest{UserRef: "ann", Handle: "+14155552679"}, "handle_mismatch", "+14155552671"},
		{"HandleOfAnotherUserIsTaken", router.SignupRequest{UserRef: "ann", Handle: "+14155552672"}, "handle_taken", "+14155552671"},
		{"HandleForAUserWithoutOneIsAMismatch", router.SignupRequest{UserRef: "cy", Handle: "cy@example.com"}, "handle_mismatch", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := s.router.Assign(context.Background(), tt.req)
			if tt.code == "" {
				require.NoError(t, err)
				require.False(t, a.Created)
				require.Equal(t, router.ReasonExisting, a.Reason)
				require.Equal(t, tt.kept, a.Handle)
			} else {
				ae, ok := apperr.As(err)
				require.True(t, ok, "got %v", err)
				require.Equal(t, apperr.Conflict, ae.Kind)
				require.Equal(t, tt.code, ae.Code)
			}
			require.Equal(t, 1, count(t, s.pool, `SELECT count(*) FROM users WHERE user_ref = $1 AND coalesce(handle, '') = $2`, tt.req.UserRef, tt.kept),
				"a repeat signup never changes the stored handle")
		})
	}
}

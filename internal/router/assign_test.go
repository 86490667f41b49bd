package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/testkit"
)

func TestAssignAcrossInstances(t *testing.T) {
	t.Parallel()

	t.Run("StaysUnderCapAndCapacityWeightedEven", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		c := newClock()
		cfg := defaultStackConfig(c)
		// Small batches: more transactions, more interleaving of replicas.
		cfg.router.MaxBatch = 4
		a := newStack(t, url, cfg)
		b := newStack(t, url, cfg)
		// Ten lines of unequal caps (cap = budget here) with 2,010 places
		// for 2,000 users: at the end every line is within a user or two of
		// its cap, where a lost update would overfill one.
		caps := []int{57, 90, 120, 150, 183, 210, 240, 270, 330, 360}
		ids := make([]int64, len(caps))
		capOf := map[int64]int{}
		for i, cp := range caps {
			ids[i] = seedLine(t, a.pool, i, cp)
			capOf[ids[i]] = cp
		}

		const perInstance = 1000
		var wg sync.WaitGroup
		errs := make(chan error, 2*perInstance)
		for inst, s := range []*stack{a, b} {
			for i := range perInstance {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("u-%d-%d", inst, i)})
					errs <- err
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		require.Equal(t, 2*perInstance, count(t, a.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 2*perInstance, count(t, a.pool, `SELECT count(DISTINCT user_ref) FROM users`))
		require.Equal(t, 2*perInstance, count(t, a.pool, `SELECT count(*) FROM line_ledger WHERE reason = 'signup'`))
		require.Zero(t, count(t, a.pool, `SELECT count(*) FROM users u WHERE (SELECT count(*) FROM user_lines ul WHERE ul.user_id = u.id) <> 3`))
		require.Zero(t, count(t, a.pool, `SELECT count(*) FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.position = 0 WHERE ul.line_id <> u.home_line_id`))

		users := map[int64]int{}
		rows, err := a.pool.Query(context.Background(), `SELECT l.id, l.user_count, (SELECT count(*) FROM users u WHERE u.home_line_id = l.id) FROM lines l`)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var stored, actual int
			require.NoError(t, rows.Scan(&id, &stored, &actual))
			require.Equal(t, actual, stored, "user_count of line %d", id)
			require.LessOrEqual(t, actual, capOf[id], "line %d over its cap", id)
			users[id] = actual
		}
		require.NoError(t, rows.Err())
		// Capacity-weighted even within one user: no line holds more than
		// one user above any other line's share, i.e. for every pair
		// (users_i - 1) / cap_i <= users_j / cap_j.
		for _, i := range ids {
			for _, j := range ids {
				require.LessOrEqual(t, (users[i]-1)*capOf[j], users[j]*capOf[i],
					"line %d (%d/%d) is more than one user ahead of line %d (%d/%d)", i, users[i], capOf[i], j, users[j], capOf[j])
			}
		}
	})

	t.Run("SameUserRefConcurrentlyIsOneAssignment", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		c := newClock()
		a := newStack(t, url, defaultStackConfig(c))
		b := newStack(t, url, defaultStackConfig(c))
		for i := range 3 {
			seedLine(t, a.pool, i, 100)
		}
		var wg sync.WaitGroup
		results := make(chan router.Assignment, 40)
		errs := make(chan error, 40)
		for i := range 40 {
			s := []*stack{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: "dup-user", Handle: "+14155552671"})
				errs <- err
				results <- res
			}()
		}
		wg.Wait()
		close(results)
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		created := 0
		var first *router.Assignment
		for res := range results {
			if res.Created {
				created++
			}
			if first == nil {
				first = &res
			}
			require.Equal(t, first.Code, res.Code)
			require.Equal(t, first.Home, res.Home)
			require.Equal(t, first.Backups, res.Backups)
			require.Equal(t, first.Token, res.Token)
		}
		require.Equal(t, 1, created)
		require.Equal(t, 1, count(t, a.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 1, count(t, a.pool, `SELECT sum(user_count) FROM lines`))
		require.Equal(t, 1, count(t, a.pool, `SELECT count(*) FROM line_ledger`))
	})
}

func TestAssign(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		*stack
		clock *testkit.Clock
		lines []int64
	}
	setup := func(t *testing.T, budgets ...int) *testBundle {
		t.Helper()
		c := newClock()
		s := newStack(t, pgtest.NewURL(t), defaultStackConfig(c))
		b := &testBundle{stack: s, clock: c}
		for i, bud := range budgets {
			b.lines = append(b.lines, seedLine(t, s.pool, i, bud))
		}
		return b
	}
	signup := func(t *testing.T, b *testBundle, ref string) router.Assignment {
		t.Helper()
		a, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: ref})
		require.NoError(t, err)
		return a
	}

	t.Run("IneligibleLinesGetNoSignups", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100, 100, 100, 100, 100, 100, 100, 100)
		exec(t, b.pool, `UPDATE lines SET admin_state = 'draining' WHERE id = $1`, b.lines[0])
		exec(t, b.pool, `UPDATE lines SET admin_state = 'retired' WHERE id = $1`, b.lines[1])
		exec(t, b.pool, `UPDATE lines SET service_status = 'FLAGGED' WHERE id = $1`, b.lines[2])
		exec(t, b.pool, `UPDATE lines SET reputation = 'AT_RISK' WHERE id = $1`, b.lines[3])
		exec(t, b.pool, `UPDATE lines SET reputation = 'CRITICAL' WHERE id = $1`, b.lines[4])
		exec(t, b.pool, `UPDATE lines SET ineligible_at = now() WHERE id = $1`, b.lines[5])
		exec(t, b.pool, `UPDATE lines SET linq_missing_at = now() WHERE id = $1`, b.lines[6])
		for i := range 20 {
			a := signup(t, b, fmt.Sprintf("u%d", i))
			require.Equal(t, b.lines[7], a.Home.ID)
			require.Equal(t, router.ReasonOnlyEligible, a.Reason)
			// Backups only come from healthy serving lines: none here.
			require.Empty(t, a.Backups)
		}
		require.Equal(t, 20, count(t, b.pool, `SELECT count(*) FROM users WHERE home_line_id = $1`, b.lines[7]))
	})

	t.Run("BackupsAreOtherHealthyLinesSpreadEvenly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1000, 1000, 1000, 1000, 1000, 1000)
		exec(t, b.pool, `UPDATE lines SET admin_state = 'draining' WHERE id = $1`, b.lines[5])
		for i := range 100 {
			a := signup(t, b, fmt.Sprintf("u%d", i))
			require.Len(t, a.Backups, 2)
			seen := map[int64]bool{a.Home.ID: true}
			for _, bk := range a.Backups {
				require.False(t, seen[bk.ID], "backup repeats a line of the set")
				require.NotEqual(t, b.lines[5], bk.ID, "draining line chosen as backup")
				seen[bk.ID] = true
			}
		}
		// For each home line, its users' backup slots are spread over the
		// four other active lines within one slot of each other.
		rows, err := b.pool.Query(context.Background(), `
			SELECT u.home_line_id, max(n) - min(n) FROM (
				SELECT u.home_line_id, ul.line_id, count(*) AS n
				FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.position > 0
				GROUP BY 1, 2) u
			GROUP BY 1 HAVING count(*) = 4`)
		require.NoError(t, err)
		homes := 0
		for rows.Next() {
			var home int64
			var spread int
			require.NoError(t, rows.Scan(&home, &spread))
			require.LessOrEqual(t, spread, 1, "backups of line %d users are concentrated", home)
			homes++
		}
		require.NoError(t, rows.Err())
		require.Equal(t, 5, homes)
	})

	t.Run("BackupCountIsUsedAsGiven", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("Backups%d", n), func(t *testing.T) {
				t.Parallel()
				cfg := defaultStackConfig(newClock())
				cfg.router.BackupCount = n
				s := newStack(t, pgtest.NewURL(t), cfg)
				for i := range 5 {
					seedLine(t, s.pool, i, 1000)
				}
				for i := range 10 {
					a, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("u%d", i)})
					require.NoError(t, err)
					require.Len(t, a.Backups, n)
				}
				require.Equal(t, 10*n, count(t, s.pool, `SELECT count(*) FROM user_lines WHERE position > 0`))
			})
		}
	})

	t.Run("RampLimitRefusesAndWritesNothing", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		cfg := defaultStackConfig(c)
		cfg.lines.SignupRampPerHour = 2
		s := newStack(t, pgtest.NewURL(t), cfg)
		seedLine(t, s.pool, 0, 100)
		seedLine(t, s.pool, 1, 100)
		for i := range 4 {
			_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("u%d", i)})
			require.NoError(t, err)
		}
		c.Advance(10 * time.Minute)
		_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: "late", Handle: "late@example.com"})
		ae, ok := apperr.As(err)
		require.True(t, ok, "error %v", err)
		require.Equal(t, apperr.Unavailable, ae.Kind)
		require.Equal(t, router.PoolRampLimited, ae.Code)
		// The oldest bucket (10:00) leaves the window at 11:01; it is 10:10:30.
		require.Equal(t, 50*time.Minute+30*time.Second, ae.RetryAfter)
		require.Equal(t, 4, count(t, s.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 4, count(t, s.pool, `SELECT count(*) FROM line_ledger`))
		require.Equal(t, 4, count(t, s.pool, `SELECT count(*) FROM signup_links`))
		require.Equal(t, 4, count(t, s.pool, `SELECT sum(n) FROM line_signups`))
		require.Equal(t, 4, count(t, s.pool, `SELECT sum(user_count) FROM lines`))
		require.InDelta(t, 1, counterValue(t, s.metrics.PoolUnavailable.WithLabelValues(router.PoolRampLimited)), 0)

		c.Advance(ae.RetryAfter)
		_, err = s.router.Assign(context.Background(), router.SignupRequest{UserRef: "late", Handle: "late@example.com"})
		require.NoError(t, err)
	})

	t.Run("ExhaustedPoolRefusesAndWritesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2, 3)
		for i := range 5 {
			signup(t, b, fmt.Sprintf("u%d", i))
		}
		_, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: "one-too-many"})
		ae, ok := apperr.As(err)
		require.True(t, ok, "error %v", err)
		require.Equal(t, apperr.Unavailable, ae.Kind)
		require.Equal(t, router.PoolExhausted, ae.Code)
		require.Positive(t, ae.RetryAfter)
		require.Equal(t, 5, count(t, b.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 5, count(t, b.pool, `SELECT count(*) FROM line_ledger`))
		require.Equal(t, 5, count(t, b.pool, `SELECT count(*) FROM signup_links`))
		require.Equal(t, 5, count(t, b.pool, `SELECT sum(n) FROM line_signups`))
		require.Equal(t, 5, count(t, b.pool, `SELECT sum(user_count) FROM lines`))
		require.InDelta(t, 1, counterValue(t, b.metrics.PoolUnavailable.WithLabelValues(router.PoolExhausted)), 0)
	})

	t.Run("SameUserRefTwiceIsOneAssignment", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100, 100, 100)
		first, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: "u1", Handle: "(415) 555-2671", PrefillText: "Hi"})
		require.NoError(t, err)
		require.True(t, first.Created)
		require.Equal(t, "+14155552671", first.Handle)
		again, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: "u1", Handle: "+14155552671"})
		require.NoError(t, err)
		require.False(t, again.Created)
		require.Equal(t, router.ReasonExisting, again.Reason)
		require.Equal(t, first.Code, again.Code)
		require.Equal(t, first.Home, again.Home)
		require.Equal(t, first.Backups, again.Backups)
		require.Equal(t, first.Token, again.Token)
		require.Equal(t, first.Body, again.Body)
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 1, count(t, b.pool, `SELECT sum(user_count) FROM lines`))
	})

	t.Run("RepeatAfterTheLinkExpiredKeepsThePrefill", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100, 100, 100)
		req := router.SignupRequest{UserRef: "u1", PrefillText: "Join the waitlist"}
		first, err := b.router.Assign(context.Background(), req)
		require.NoError(t, err)
		b.clock.Advance(721 * time.Hour)
		again, err := b.router.Assign(context.Background(), req)
		require.NoError(t, err)
		require.False(t, again.Created)
		require.NotEqual(t, first.Token, again.Token, "the expired link is not handed out again")
		require.Equal(t, first.Body, again.Body)
		require.True(t, again.ExpiresAt.After(b.clock.Now()))
	})

	t.Run("RepeatNearTheLinkEndGetsALinkThatLasts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100, 100, 100)
		first := signup(t, b, "u1")
		b.clock.Advance(720*time.Hour - time.Minute)
		again := signup(t, b, "u1")
		require.NotEqual(t, first.Token, again.Token, "a link with a minute left is not handed out")
		require.Equal(t, first.Body, again.Body)
		require.WithinDuration(t, b.clock.Now().Add(720*time.Hour), again.ExpiresAt, 0)
		b.clock.Advance(time.Hour)
		require.Equal(t, again.Token, signup(t, b, "u1").Token, "the fresh link is the one repeats get")
	})

	t.Run("HandleThatIsALineOfThePoolIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100, 100)
		exec(t, b.pool, `INSERT INTO lines (number, linq_id, warmup_started_at) VALUES ('+14155552671', 'linq-own', '2020-01-01T00:00:00Z')`)
		_, err := b.router.Import(context.Background(), router.SignupRequest{UserRef: "u0"})
		require.NoError(t, err)
		tests := []struct {
			name   string
			assign func(context.Context, router.SignupRequest) (router.Assignment, error)
			ref    string
		}{
			{"Signup", b.router.Assign, "u1"},
			{"Import", b.router.Import, "u2"},
			{"ImportOfAUserWithoutHandle", b.router.Import, "u0"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.assign(context.Background(), router.SignupRequest{UserRef: tt.ref, Handle: "(415) 555-2671"})
				ae, ok := apperr.As(err)
				require.True(t, ok, "error %v", err)
				require.Equal(t, apperr.Unprocessable, ae.Kind)
				require.Equal(t, "handle", ae.Field)
			})
		}
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM users`))
		require.Equal(t, 0, count(t, b.pool, `SELECT count(*) FROM users WHERE handle IS NOT NULL`))
	})

	t.Run("HandleOfAnotherUserRefConflicts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100)
		_, err := b.router.Assign(context.Background(), router.SignupRequest{UserRef: "u1", Handle: "Ann@Example.com"})
		require.NoError(t, err)
		_, err = b.router.Assign(context.Background(), router.SignupRequest{UserRef: "u2", Handle: "ann@example.com"})
		require.True(t, apperr.IsCode(err, "handle_taken"), "error %v", err)
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM users`))
	})

	t.Run("InvalidInputNamesTheField", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 100)
		tests := []struct {
			name  string
			req   router.SignupRequest
			field string
		}{
			{"EmptyUserRef", router.SignupRequest{UserRef: ""}, "user_ref"},
			{"UserRefWithSpace", router.SignupRequest{UserRef: "a b"}, "user_ref"},
			{"UserRefTooLong", router.SignupRequest{UserRef: string(make([]byte, 201))}, "user_ref"},
			{"HandleNotANumber", router.SignupRequest{UserRef: "ok", Handle: "not a handle"}, "handle"},
			{"HandleBadEmail", router.SignupRequest{UserRef: "ok", Handle: "a@@b"}, "handle"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				_, err := b.router.Assign(context.Background(), tt.req)
				ae, ok := apperr.As(err)
				require.True(t, ok, "error %v", err)
				require.Equal(t, apperr.Unprocessable, ae.Kind)
				require.Equal(t, tt.field, ae.Field)
			})
		}
	})

}

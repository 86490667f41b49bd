package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

// Assignment reads only the candidate lines (the first of each class of
// one cap, the lines in warm-up); these tests check, signup by signup,
// that it picks the home and backups a plan over the whole pool picks, as
// the pool changes under it.
func TestCandidatesPickAsTheWholePool(t *testing.T) {
	t.Parallel()

	type bundle struct {
		svc   *Service
		lines *lines.Service
		db    *pgtest.Clock
		clock *testkit.Clock
		ids   map[string][]int64
	}
	setup := func(t *testing.T) *bundle {
		t.Helper()
		pool := pgtest.NewPool(t)
		c := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
		// cap = effective budget; a ramp of 3 an hour binds within the test.
		ls := lines.New(pool, nil, testkit.Logger(t), lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.5,
			MsgsPerUserPerDay: 0.5, SignupRampPerHour: 3, Now: c.Now})
		cfg := DefaultConfig()
		cfg.Now = c.Now
		b := &bundle{svc: New(pool, ls, testkit.Logger(t), nil, cfg), lines: ls, clock: c, ids: map[string][]int64{},
			db: pgtest.NewClock(t, pool, c.Now())}
		// Three classes of 50 lines larger than what a signup reads of a
		// class, and lines still warming up (caps of their own).
		n := 0
		add := func(class string, count, budget int, warmup string) {
			for range count {
				var id int64
				require.NoError(t, pool.QueryRow(context.Background(),
					`INSERT INTO lines (number, budget_override, warmup_started_at) VALUES ($1, $2, $3) RETURNING id`,
					fmt.Sprintf("+1555030%04d", n), budget, warmup).Scan(&id))
				b.ids[class] = append(b.ids[class], id)
				n++
			}
		}
		add("small", 50, 40, "2020-01-01")
		add("medium", 50, 60, "2020-01-01")
		add("large", 50, 90, "2020-01-01")
		add("warming", 5, 90, "2026-02-25")
		add("warming", 5, 90, "2026-02-27")
		return b
	}
	exec := func(t *testing.T, b *bundle, sql string, args ...any) {
		t.Helper()
		_, err := b.svc.pool.Exec(context.Background(), sql, args...)
		require.NoError(t, err)
	}
	// whole plans the next signup over every line, as assignment did
	// before it read candidates.
	whole := func(t *testing.T, b *bundle) (int64, string, []int64) {
		t.Helper()
		ctx := context.Background()
		usage, err := b.lines.MsgsPerUserPerDay(ctx)
		require.NoError(t, err)
		var home int64
		var reason string
		var backups []int64
		require.NoError(t, store.WithTx(ctx, b.svc.pool, func(ctx context.Context, tx pgx.Tx) error {
			all, err := b.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
			if err != nil {
				return err
			}
			p := newPlanner(all, b.clock.Now())
			l, why, un := p.pickHome()
			if un != nil {
				return nil
			}
			home, reason = l.ID, why
			slots, err := b.svc.loadBackupSlots(ctx, tx, []int64{home})
			if err != nil {
				return err
			}
			for _, bk := range p.pickBackups(home, b.svc.cfg.BackupCount, slots) {
				backups = append(backups, bk.ID)
			}
			return nil
		}))
		return home, reason, backups
	}
	signups := func(t *testing.T, b *bundle, prefix string, n int) {
		t.Helper()
		for i := range n {
			home, reason, backups := whole(t, b)
			a, err := b.svc.Assign(context.Background(), SignupRequest{UserRef: fmt.Sprintf("%s%d", prefix, i)})
			if home == 0 {
				require.Error(t, err, "signup %d: the whole pool has no line", i)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, home, a.Home.ID, "signup %d: home", i)
			require.Equal(t, reason, a.Reason, "signup %d: reason", i)
			var got []int64
			for _, bk := range a.Backups {
				got = append(got, bk.ID)
			}
			require.Equal(t, backups, got, "signup %d: backups", i)
			if i%40 == 39 {
				b.clock.Advance(20 * time.Minute) // the ramp frees up again
			}
		}
	}

	tests := []struct {
		name   string
		change func(t *testing.T, b *bundle)
	}{
		{"Unchanged", func(*testing.T, *bundle) {}},
		{"CapChanged", func(t *testing.T, b *bundle) {
			for i, id := range b.ids["small"][:10] {
				budget := 60 + 10*(i%2) // into the medium class, and a class of its own
				_, err := b.lines.Update(context.Background(), id, lines.Update{SetBudget: true, BudgetOverride: &budget})
				require.NoError(t, err)
			}
		}},
		{"Retired", func(t *testing.T, b *bundle) {
			for _, id := range []int64{b.ids["large"][0], b.ids["large"][1], b.ids["warming"][0]} {
				_, err := b.svc.Retire(context.Background(), id)
				require.NoError(t, err)
			}
		}},
		{"HealthChanged", func(t *testing.T, b *bundle) {
			exec(t, b, `UPDATE lines SET health_state = 'at_risk' WHERE id = ANY($1)`, b.ids["large"][:20])
			exec(t, b, `UPDATE lines SET held_at = now() WHERE id = ANY($1)`, b.ids["medium"][:20])
			exec(t, b, `UPDATE lines SET reputation = 'AT_RISK' WHERE id = $1`, b.ids["small"][0])
		}},
		{"HeldSlotsCoverTheFirstLines", func(t *testing.T, b *bundle) {
			// Users of the next home line hold backup slots on the first
			// 48 lines in backup order, more than a signup reads of a
			// class: the next user's backups come from further down.
			ctx := context.Background()
			home, _, _ := whole(t, b)
			usage, err := b.lines.MsgsPerUserPerDay(ctx)
			require.NoError(t, err)
			all, err := b.lines.Snapshot(ctx, b.svc.pool, usage.PerUserPerDay)
			require.NoError(t, err)
			order := newPlanner(all, b.clock.Now()).pickBackups(home, 48, backupSlots{})
			var parked int64
			require.NoError(t, b.svc.pool.QueryRow(ctx, `INSERT INTO lines (number, admin_state) VALUES ('+15550399999', 'retired') RETURNING id`).Scan(&parked))
			for i := range 24 {
				var uid int64
				require.NoError(t, b.svc.pool.QueryRow(ctx,
					`INSERT INTO users (user_ref, code, home_line_id, current_line_id) VALUES ($1, $2, $3, $4) RETURNING id`,
					fmt.Sprintf("held%d", i), fmt.Sprintf("held-code-%d", i), home, parked).Scan(&uid))
				exec(t, b, `INSERT INTO user_lines (user_id, position, line_id) VALUES ($1, 0, $2), ($1, 1, $3), ($1, 2, $4)`,
					uid, home, order[2*i].ID, order[2*i+1].ID)
			}
			exec(t, b, `UPDATE lines SET user_count = 24 WHERE id = $1`, parked)
		}},
		{"WarmUpEnded", func(t *testing.T, b *bundle) {
			b.db.Set(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)) // every line warmed up
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			signups(t, b, "before", 60)
			tt.change(t, b)
			signups(t, b, "after", 120)
		})
	}
}

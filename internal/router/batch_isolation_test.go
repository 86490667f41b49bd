package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

// A value Postgres refuses (validation stops a NUL before this; a column
// rule added later might not be) fails only its own signup, not the
// others that shared its batch.
func TestBatchWithAValuePostgresRefuses(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	c := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
	ls := lines.New(pool, nil, testkit.Logger(t), lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.15,
		MsgsPerUserPerDay: 20, SignupRampPerHour: 10_000, Now: c.Now})
	cfg := DefaultConfig()
	cfg.Now = c.Now
	_, err := pool.Exec(context.Background(), `INSERT INTO lines (number, warmup_started_at) VALUES ('+15550400001', '2020-01-01')`)
	require.NoError(t, err)
	s := New(pool, ls, testkit.Logger(t), nil, cfg)
	t.Cleanup(s.releaseBatchConn) // runBatch keeps it for the batcher's next batch

	var jobs []*job
	for i := range 5 {
		req := SignupRequest{UserRef: fmt.Sprintf("u%d", i)}
		if i == 2 {
			req.DisplayName = "x\x00" // past validate, as a caller of the batch could be
		}
		j := &job{req: req}
		require.NoError(t, j.mint())
		jobs = append(jobs, j)
	}
	s.runBatch(context.Background(), jobs)

	for i, j := range jobs {
		if i == 2 {
			require.ErrorIs(t, store.Interpret(j.err), store.ErrInvalidData)
			continue
		}
		require.NoError(t, j.err, "signup %d", i)
		require.True(t, j.res.Created, "signup %d", i)
	}
	var users int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users))
	require.Equal(t, 4, users)
}

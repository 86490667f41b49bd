package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

func TestCleanup(t *testing.T) {
	t.Parallel()

	t.Run("PrunesVolumeOlderThanRetentionOnly", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool := pgtest.NewPool(t)
		now := t0
		pgtest.NewClock(t, pool, now)
		lim := ratelimit.New(pool, nil, metrics.New(), ratelimit.DefaultConfig())
		line := insertLine(t, pool, 0, time.Time{})
		old := now.Add(-ratelimit.VolumeRetention - time.Hour)
		recent := now.Add(-7 * 24 * time.Hour) // still read by capacity planning
		require.NoError(t, lim.RecordInbound(ctx, line, nil, old))
		require.NoError(t, lim.RecordInbound(ctx, line, nil, recent))

		_, err := lim.Cleanup(ctx)
		require.NoError(t, err)

		var minutes []time.Time
		rows, err := pool.Query(ctx, `SELECT minute FROM line_volume WHERE line_id = $1 ORDER BY minute`, line)
		require.NoError(t, err)
		for rows.Next() {
			var m time.Time
			require.NoError(t, rows.Scan(&m))
			minutes = append(minutes, m.UTC())
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []time.Time{recent.Truncate(time.Minute)}, minutes)
	})
}

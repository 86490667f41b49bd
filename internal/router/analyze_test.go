package router_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

// The signup buckets' statistics follow a burst of signups: every
// AnalyzeEvery signups a replica analyzes line_signups (pg_class.reltuples
// is -1 until the table's first ANALYZE, and autovacuum does not reach a
// table this small).
func TestSignupBucketsAnalyzedAfterABurst(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		every    int
		analyzed bool
	}{
		{"AnalyzedOnceEnoughSignupsWereWritten", 5, true},
		{"LeftToAutovacuumWhenOff", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			cfg := defaultStackConfig(c)
			cfg.router.AnalyzeEvery = tc.every
			s := newStack(t, pgtest.NewURL(t), cfg)
			seedLine(t, s.pool, 1, 1000)
			reltuples := func() float64 {
				var n float64
				require.NoError(t, s.pool.QueryRow(context.Background(),
					`SELECT reltuples FROM pg_class WHERE oid = 'line_signups'::regclass`).Scan(&n))
				return n
			}
			require.Equal(t, -1.0, reltuples())
			// One at a time, so each signup is a batch of its own; the
			// ANALYZE runs before the batch after the fifth.
			for i := range 7 {
				_, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("burst-%d", i)})
				require.NoError(t, err)
			}
			if tc.analyzed {
				require.GreaterOrEqual(t, reltuples(), 0.0)
			} else {
				require.Equal(t, -1.0, reltuples())
			}
		})
	}
}

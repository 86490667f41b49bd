package bench_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/bench"
	"github.com/linegate/linegate/internal/pgtest"
)

// TestRunSmoke runs the whole benchmark briefly: every phase must do work
// without errors, so `make bench` cannot rot unnoticed. It asserts no speed.
func TestRunSmoke(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := bench.Run(context.Background(), bench.Config{
		DatabaseURL: pgtest.AdminURL(t), Lines: 3, Users: 30, Concurrency: 2, SignupConcurrency: 2,
		Duration: 300 * time.Millisecond, SignupFor: 300 * time.Millisecond,
	}, &out)
	require.NoError(t, err, out.String())
	for _, phase := range []string{"(a) gateway sends", "(b) direct to simulator", "(c) admission SQL ceiling", "(d) signups"} {
		m := regexp.MustCompile(regexp.QuoteMeta(phase) + `\s+(\d+)\s.*/ (\d+)\n`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "phase %q missing from:\n%s", phase, out.String())
		ok, _ := strconv.Atoi(m[1])
		require.Positive(t, ok, "phase %q did nothing", phase)
		require.Equal(t, "0", m[2], "phase %q had errors", phase)
	}
	require.Contains(t, out.String(), "upstream 429s:              gateway 0, simulator 0")
}

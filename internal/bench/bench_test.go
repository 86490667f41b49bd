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
	for _, phase := range []string{
		"(a) gateway sends, 2 clients", "(a) gateway sends, 4 clients", "(b) direct to simulator, 2 clients", "(b) direct to simulator, 4 clients",
		"(c) admission SQL ceiling, 4 clients", "(h) physical ceiling, 4 clients", "(d) signups, 2 clients",
		"(e) webhook intake, 2 clients", "(f) intake SQL ceiling, 2 clients",
	} {
		m := regexp.MustCompile(regexp.QuoteMeta(phase) + `\s+(\d+)\s.*/ (\d+)\n`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "phase %q missing from:\n%s", phase, out.String())
		ok, _ := strconv.Atoi(m[1])
		require.Positive(t, ok, "phase %q did nothing", phase)
		require.Equal(t, "0", m[2], "phase %q had errors", phase)
	}
	require.Contains(t, out.String(), "upstream 429s:              gateway 0, simulator 0")
}

// TestRunScaleSmoke runs the scale run at a tiny size: seeding, every phase,
// every job and the failover must work. It asserts no speed.
func TestRunScaleSmoke(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := bench.RunScale(context.Background(), bench.ScaleConfig{
		Config: bench.Config{
			DatabaseURL: pgtest.AdminURL(t), Concurrency: 2, SignupConcurrency: 2,
			Duration: 200 * time.Millisecond, SignupFor: 200 * time.Millisecond,
		},
		ScaleLines: 5, ScaleUsers: 200, BaselineP99: time.Second,
	}, &out)
	require.NoError(t, err, out.String())
	for _, phase := range []string{"(a) gateway sends, 2 clients", "(d) signups, 2 clients", "GET /v1/ops/lines", "GET /v1/ops/capacity"} {
		m := regexp.MustCompile(regexp.QuoteMeta(phase) + `\s+(\d+)\s.*/ (\d+)\n`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "phase %q missing from:\n%s", phase, out.String())
		ok, _ := strconv.Atoi(m[1])
		require.Positive(t, ok, "phase %q did nothing", phase)
		require.Equal(t, "0", m[2], "phase %q had errors", phase)
	}
	require.Contains(t, out.String(), "seeded users                        200 rows")
	m := regexp.MustCompile(`failover of (\d+) users: .*\(moved (\d+), stranded 0;`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	require.Equal(t, m[1], m[2], "every user of the flagged line moves")
	held, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, held, 20, "the flagged line holds its seeded users")
	require.NotContains(t, out.String(), "failed:", "a background job failed")
}

package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestTableGauge(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*TableGauge, *time.Time, *int64, *error, *int) {
		t.Helper()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var (
			value int64
			fail  error
			reads int
		)
		g := newTableGauge("test_rows", "rows in a table")
		g.now = func() time.Time { return now }
		g.ReadFrom(func(context.Context) (int64, error) { reads++; return value, fail })
		return g, &now, &value, &fail, &reads
	}

	t.Run("AScrapeReadsTheTable", func(t *testing.T) {
		t.Parallel()
		g, _, value, _, _ := setup(t)
		*value = 7
		require.Equal(t, 7.0, testutil.ToFloat64(g))
	})

	t.Run("ScrapesCloseTogetherReadOnce", func(t *testing.T) {
		t.Parallel()
		g, now, value, _, reads := setup(t)
		*value = 3
		require.Equal(t, 3.0, g.Value())
		*value = 4
		*now = now.Add(tableGaugeMaxAge - time.Millisecond)
		require.Equal(t, 3.0, g.Value())
		require.Equal(t, 1, *reads)
		*now = now.Add(time.Millisecond)
		require.Equal(t, 4.0, g.Value())
		require.Equal(t, 2, *reads)
	})

	t.Run("AFailedReadKeepsTheLastValue", func(t *testing.T) {
		t.Parallel()
		g, now, value, fail, _ := setup(t)
		*value = 5
		require.Equal(t, 5.0, g.Value())
		*fail = errors.New("database down")
		*now = now.Add(time.Minute)
		require.Equal(t, 5.0, g.Value())
	})
}

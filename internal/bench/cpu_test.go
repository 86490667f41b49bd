package bench

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatTicks(t *testing.T) {
	t.Parallel()
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	tail := " S 1 1 1 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 1 0 100 0 0\n"
	for _, tc := range []struct {
		name, line string
		want       uint64
	}{
		{"PlainName", "42 (postgres)" + tail, 1801},
		{"NameWithSpacesAndParentheses", "42 (a b) (c)" + tail, 1801},
		{"TruncatedLine", "42 (postgres) S 1 1", 0},
		{"NoName", "garbage", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, statTicks([]byte(tc.line)))
		})
	}
}

func TestCPUUseIsCoresOverTheWallTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	from := cpuSample{at: at, pg: 1000, self: 500, busy: 10000, idle: 10000}
	to := cpuSample{at: at.Add(2 * time.Second), pg: 1180, self: 620, busy: 10300, idle: 10100}
	u := to.since(from)
	require.True(t, u.ok)
	require.InDelta(t, 0.9, u.postgres, 1e-9)
	require.InDelta(t, 0.6, u.process, 1e-9)
	require.InDelta(t, float64(runtime.NumCPU())*100/400, u.idle, 1e-9)

	require.False(t, cpuSample{at: at}.since(cpuSample{at: at}).ok, "no /proc, no figure")
}

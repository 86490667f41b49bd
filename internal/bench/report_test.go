package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCPUBound(t *testing.T) {
	t.Parallel()
	gw := result{clients: 8, ops: 1800, elapsed: time.Second, cpu: cpuUse{postgres: 0.84, process: 0.72, ok: true}}
	commits := result{clients: 8, ops: 8000, elapsed: time.Second, cpu: cpuUse{postgres: 0.96, process: 0.40, ok: true}}

	t.Run("SharesTheCoresOutAtTheSendsCPU", func(t *testing.T) {
		t.Parallel()
		// 1.56 cores for 1,800 sends/s: 2 cores allow 2,308/s, 0.29 of 8,000.
		require.Equal(t,
			"CPU a send, 8 clients:       Postgres 0.47 ms, this process 0.40 ms (an (h) commit: 0.12 ms, 0.05 ms); all 2 cores busy: 2308 sends/s, 0.29 × (h)",
			cpuBound(gw, commits, 2))
	})
	t.Run("SaysNothingWithoutCPUFigures", func(t *testing.T) {
		t.Parallel()
		noCPU := gw
		noCPU.cpu = cpuUse{}
		require.Empty(t, cpuBound(noCPU, commits, 2))
		require.Empty(t, cpuBound(gw, result{}, 2))
	})
}

package messaging_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/ratelimit"
)

// Concurrent sends are admitted in shared batches (one statement, one
// commit) and each still gets its own, exact answer: of many concurrent
// sends to one pair and to several lines, exactly the pair limit goes
// through, every other pair is untouched, and nothing reaches Linq twice.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gw := e.newGateway(t, gwOptions{})
	ctx := context.Background()
	limit := ratelimit.DefaultConfig().PairLimit

	hot, _ := e.addLine(t)
	hotRef, _ := e.addUser(t, hot)
	var others []string
	for range 4 {
		line, _ := e.addLine(t)
		for range 5 {
			ref, _ := e.addUser(t, line)
			others = append(others, ref)
		}
	}

	const hotSends = 80
	var wg sync.WaitGroup
	errs := make([]error, hotSends+len(others))
	for i := range hotSends {
		wg.Go(func() {
			_, errs[i] = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: hotRef, Parts: text("hot")})
		})
	}
	for i, ref := range others {
		wg.Go(func() {
			_, errs[hotSends+i] = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("other")})
		})
	}
	wg.Wait()

	ok, refused := 0, 0
	for i, err := range errs[:hotSends] {
		var ae *apperr.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && ae.Code == "pair_limit":
			refused++
		default:
			t.Fatalf("hot send %d: %v", i, err)
		}
	}
	require.Equal(t, limit, ok)
	require.Equal(t, hotSends-limit, refused)
	for i, err := range errs[hotSends:] {
		require.NoError(t, err, "send %d to another pair", i)
	}
	require.Len(t, e.sim.SendLog(), limit+len(others))
	for key, n := range sendsByKey(e.sim) {
		require.Equal(t, 1, n, "Linq key %s", key)
	}

	// Some admission batch held more than one send.
	var m dto.Metric
	h, err := gw.metrics.GroupCommitSize.GetMetricWithLabelValues("send_admission")
	require.NoError(t, err)
	require.NoError(t, h.(interface{ Write(*dto.Metric) error }).Write(&m))
	require.Less(t, m.GetHistogram().GetSampleCount(), uint64(hotSends+len(others)), "every admission ran alone")
}

package router_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/router"
)

// BenchmarkSignups signs users up through two instances on one database,
// 64 callers each, over 50 lines; it reports signups per second.
func BenchmarkSignups(b *testing.B) {
	url := pgtest.NewURL(b)
	c := newClock()
	cfg := defaultStackConfig(c)
	stacks := []*stack{newBenchStack(b, url, cfg), newBenchStack(b, url, cfg)}
	for i := range 50 {
		if _, err := stacks[0].pool.Exec(context.Background(),
			`INSERT INTO lines (number, budget_override, warmup_started_at) VALUES ($1, 1000000, '2020-01-01')`,
			fmt.Sprintf("+1555020%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 128 {
		s := stacks[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := s.router.Assign(context.Background(), router.SignupRequest{UserRef: fmt.Sprintf("bench-%d", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "signups/s")
}

package groupcommit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

func TestBatcher(t *testing.T) {
	t.Parallel()

	t.Run("every caller gets its own answer", func(t *testing.T) {
		t.Parallel()
		b := New(Config{}, func(_ context.Context, in []int) ([]int, error) {
			out := make([]int, len(in))
			for i, v := range in {
				out[i] = v * 10
			}
			return out, nil
		})
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Go(func() {
				got, err := b.Do(t.Context(), i)
				if err != nil || got != i*10 {
					errs <- errors.New("wrong answer")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("calls queued behind busy flights run as one batch of at most Max", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		var mu sync.Mutex
		var sizes []int
		b := New(Config{Max: 3, Flights: 1}, func(_ context.Context, in []string) ([]string, error) {
			mu.Lock()
			sizes = append(sizes, len(in))
			mu.Unlock()
			if in[0] == "first" {
				started <- struct{}{}
				<-release
			}
			return in, nil
		})
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = b.Do(t.Context(), "first") })
		<-started
		for range 5 {
			wg.Go(func() { _, _ = b.Do(t.Context(), "queued") })
		}
		waitQueued(b, 5)
		close(release)
		wg.Wait()
		if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 3 || sizes[2] != 2 {
			t.Fatalf("batch sizes %v, want [1 3 2]", sizes)
		}
	})

	t.Run("a failed batch runs again one call at a time so that only the bad call fails", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		bad := errors.New("bad input")
		b := New(Config{Flights: 1}, func(_ context.Context, in []int) ([]int, error) {
			if in[0] == 0 {
				started <- struct{}{}
				<-release
			}
			for _, v := range in {
				if v < 0 {
					return nil, bad
				}
			}
			return in, nil
		})
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = b.Do(t.Context(), 0) })
		<-started
		results := make([]error, 4)
		for i, v := range []int{1, -1, 2, 3} {
			wg.Go(func() { _, results[i] = b.Do(t.Context(), v) })
		}
		waitQueued(b, 4)
		close(release)
		wg.Wait()
		for i, err := range results {
			if (i == 1) != errors.Is(err, bad) {
				t.Fatalf("call %d: err %v", i, err)
			}
		}
	})

	t.Run("a panicking batch fails its calls and frees its flight", func(t *testing.T) {
		t.Parallel()
		b := New(Config{Flights: 1}, func(_ context.Context, in []int) ([]int, error) {
			if in[0] < 0 {
				panic("bad input")
			}
			return in, nil
		})
		if _, err := b.Do(t.Context(), -1); err == nil {
			t.Fatal("want an error")
		}
		if got, err := b.Do(t.Context(), 7); err != nil || got != 7 {
			t.Fatalf("after a panic: got %d, %v", got, err)
		}
	})

	t.Run("a batch answering fewer calls than given is an error, not a zero answer", func(t *testing.T) {
		t.Parallel()
		b := New(Config{}, func(_ context.Context, _ []int) ([]int, error) { return nil, nil })
		if _, err := b.Do(t.Context(), 1); err == nil {
			t.Fatal("want an error")
		}
	})
}

// waitQueued spins until n calls are queued: the queue is the state under
// test, so the test reads it rather than sleeping.
func waitQueued[In, Out any](b *Batcher[In, Out], n int) {
	for {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

package app_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/router"
)

func TestUserVolume(t *testing.T) {
	t.Parallel()

	// volumeOf is the volume GET /v1/users/{user_ref} shows.
	volumeOf := func(t *testing.T, e *healthEnv, ref string) router.UserVolume {
		t.Helper()
		st, out := e.gws[0].call(t, "GET", "/v1/users/"+ref, nil)
		require.Equal(t, http.StatusOK, st, "%v", out)
		v := out["volume"].(map[string]any)
		uv := router.UserVolume{Inbound: int(v["inbound"].(float64)), Outbound: int(v["outbound"].(float64))}
		for _, d := range v["days"].([]any) {
			m := d.(map[string]any)
			uv.Days = append(uv.Days, router.VolumeDay{Day: m["day"].(string), Inbound: int(m["inbound"].(float64)), Outbound: int(m["outbound"].(float64))})
		}
		return uv
	}
	// markNow starts the fold's count now: the database came from a
	// template migrated earlier, maybe more than a run's step ago.
	markNow := func(t *testing.T, e *healthEnv) {
		t.Helper()
		_, err := e.gws[0].app.Pool().Exec(context.Background(), `UPDATE user_volume_fold SET folded_until = lg_now() - interval '1 second'`)
		require.NoError(t, err)
	}

	t.Run("SendsAreFoldedOnceAndInboundCountedAsProcessed", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		e.seedUsers(t, "a", 2, e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]))
		e.withHandles(t, "a")
		markNow(t, e)
		pool := e.gws[0].app.Pool()
		// The job's own lag would hold back messages this fresh.
		fold := router.NewVolumeFold(pool, nil, router.VolumeFoldConfig{MaxStep: time.Hour})

		for range 3 {
			st, out := e.gws[0].send(t, "a-1", "hello")
			require.Equal(t, http.StatusCreated, st, "%v", out)
		}
		st, out := e.gws[0].send(t, "a-2", "hello")
		require.Equal(t, http.StatusCreated, st, "%v", out)
		for range 2 {
			_, err := e.sim.InjectInbound(e.handleOf(t, "a-1"), e.lines[0], "hi back")
			require.NoError(t, err)
		}
		waitFor(t, func() bool { return volumeOf(t, e, "a-1").Inbound == 2 }, "two inbound counted")
		require.Zero(t, volumeOf(t, e, "a-1").Outbound, "outbound waits for the fold")

		e.gws[0].app.Messages().Settle()
		n, err := fold.Run(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 4, n)
		v := volumeOf(t, e, "a-1")
		require.Equal(t, 3, v.Outbound)
		require.Equal(t, 2, v.Inbound)
		require.Len(t, v.Days, 1)
		require.Equal(t, time.Now().UTC().Format(time.DateOnly), v.Days[0].Day)
		require.Equal(t, 1, volumeOf(t, e, "a-2").Outbound)

		// Folds running at once, as on two replicas, count each message once.
		for range 2 {
			st, out := e.gws[0].send(t, "a-1", "more")
			require.Equal(t, http.StatusCreated, st, "%v", out)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				_, err := fold.Run(context.Background())
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 5, volumeOf(t, e, "a-1").Outbound)
	})

	t.Run("FreshMessagesWaitForTheLag", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		e.seedUsers(t, "a", 1, e.lineID(t, e.lines[0]))
		e.withHandles(t, "a")
		markNow(t, e)
		pool := e.gws[0].app.Pool()
		st, out := e.gws[0].send(t, "a-1", "hello")
		require.Equal(t, http.StatusCreated, st, "%v", out)
		lagged := router.NewVolumeFold(pool, nil, router.VolumeFoldConfig{Lag: time.Hour, MaxStep: time.Hour})
		n, err := lagged.Run(context.Background())
		require.NoError(t, err)
		require.Zero(t, n)
		require.Zero(t, volumeOf(t, e, "a-1").Outbound)
	})
}

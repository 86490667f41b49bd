package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestServe(t *testing.T) {
	t.Parallel()

	t.Run("DrainsInFlightRequestsOnShutdown", func(t *testing.T) {
		t.Parallel()
		a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
		key, _, err := a.Keys().Create(context.Background(), "ops", apikey.AllScopes)
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- a.Serve(ctx, ln) }()
		base := "http://" + ln.Addr().String()

		// A request whose body is still arriving when shutdown begins.
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", base+"/v1/ops/api-keys", pr)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		answered := make(chan *http.Response, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				answered <- resp
			}
			close(answered)
		}()
		_, err = pw.Write([]byte(`{"name":"late",`))
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond) // let the handler start reading

		cancel() // SIGTERM
		require.Eventually(t, func() bool {
			_, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
			return err != nil
		}, 5*time.Second, 20*time.Millisecond, "the listener must close at once")

		_, err = pw.Write([]byte(`"scopes":["send"]}`))
		require.NoError(t, err)
		require.NoError(t, pw.Close())
		resp, ok := <-answered
		require.True(t, ok, "the in-flight request must be answered")
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		require.NoError(t, <-served)
	})
}

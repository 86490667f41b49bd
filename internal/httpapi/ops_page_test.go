package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/httpapi"
)

func TestOpsPage(t *testing.T) {
	t.Parallel()

	t.Run("ServesStaticPageWithoutData", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(httpapi.New(httpapi.Deps{}))
		t.Cleanup(srv.Close)
		resp, err := srv.Client().Get(srv.URL + "/ops")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "connect-src 'self'")
		// The page reads the JSON API with the operator's key; it embeds no data.
		for _, endpoint := range []string{"/v1/ops/lines", "/v1/ops/rotation", "/v1/ops/quarantines"} {
			require.Contains(t, string(body), endpoint)
		}
	})
}

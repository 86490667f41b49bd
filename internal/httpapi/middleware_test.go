package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *server {
		t.Helper()
		return &server{logger: slog.New(slog.DiscardHandler)}
	}

	t.Run("PanicBecomesJSON500", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		h := requestID(s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom: secret detail") })))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		var body errorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.Equal(t, "internal", body.Error.Code)
		require.NotContains(t, rec.Body.String(), "secret detail", "panic values stay in the log")
		require.NotEmpty(t, body.Error.RequestID)
	})

	t.Run("RequestIDIsEchoedOrMade", func(t *testing.T) {
		t.Parallel()
		h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(RequestIDFrom(r.Context()))) }))
		for _, tc := range []struct {
			name, in string
			keep     bool
		}{
			{"WellFormedIsKept", "abc-123", true},
			{"HeaderInjectionIsReplaced", "a\r\nb", false},
			{"OverlongIsReplaced", strings.Repeat("x", 100), false},
		} {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("X-Request-Id", tc.in)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			require.Equal(t, got, rec.Body.String(), tc.name)
			require.Equal(t, tc.keep, got == tc.in, tc.name)
			require.NotEmpty(t, got, tc.name)
		}
	})
}

package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBearerScheme(t *testing.T) {
	t.Parallel()
	b := poolSetup(t)
	tests := []struct {
		name   string
		header func(key string) string
		status int
	}{
		{"Canonical", func(k string) string { return "Bearer " + k }, http.StatusOK},
		{"LowerCase", func(k string) string { return "bearer " + k }, http.StatusOK},
		{"UpperCase", func(k string) string { return "BEARER " + k }, http.StatusOK},
		{"ExtraSpaces", func(k string) string { return "  bEaReR   " + k + " " }, http.StatusOK},
		{"OtherScheme", func(k string) string { return "Basic " + k }, http.StatusUnauthorized},
		{"NoSpace", func(k string) string { return "Bearer" + k }, http.StatusUnauthorized},
		{"SchemeOnly", func(string) string { return "Bearer " }, http.StatusUnauthorized},
		{"KeyOnly", func(k string) string { return k }, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("GET", "/v1/ops/lines", nil)
			req.Header.Set("Authorization", tt.header(b.opsKey))
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
		})
	}
}

package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

func TestJobErrorsAreLogged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		attempt, max     int
		level, notInLine string
	}{
		{"ARetryToComeIsAWarning", 1, 25, "level=WARN", "secret body"},
		{"TheLastAttemptIsAnError", 25, 25, "level=ERROR", "secret body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			h := jobErrors{log: slog.New(slog.NewTextHandler(&buf, nil))}
			job := &rivertype.JobRow{ID: 7, Kind: "linq_webhook", Attempt: tt.attempt, MaxAttempts: tt.max,
				EncodedArgs: []byte(`{"text":"secret body"}`)}
			require.Nil(t, h.HandleError(context.Background(), job, errors.New("line health: boom")))
			line := buf.String()
			require.Contains(t, line, tt.level)
			require.Contains(t, line, "kind=linq_webhook")
			require.Contains(t, line, "line health: boom")
			require.False(t, strings.Contains(line, tt.notInLine), "job args stay out of the log")
		})
	}
}

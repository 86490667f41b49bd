package app

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// jobErrors logs a job's failed attempt, which River itself does not: a
// webhook that cannot be processed or an event that cannot be delivered
// would otherwise retry unseen. A retry to come is a warning; the last
// attempt (the job is discarded) an error. Only the job's kind, id and
// attempt are logged, never its args.
type jobErrors struct{ log *slog.Logger }

func (h jobErrors) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.Log(ctx, h.level(job), "job attempt failed", slog.String("kind", job.Kind), slog.Int64("job_id", job.ID),
		slog.Int("attempt", job.Attempt), slog.Int("max_attempts", job.MaxAttempts), slog.Any("error", err))
	return nil
}

func (h jobErrors) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "job attempt panicked", slog.String("kind", job.Kind), slog.Int64("job_id", job.ID),
		slog.Int("attempt", job.Attempt), slog.Any("panic", panicVal), slog.String("trace", trace))
	return nil
}

func (jobErrors) level(job *rivertype.JobRow) slog.Level {
	if job.Attempt >= job.MaxAttempts {
		return slog.LevelError
	}
	return slog.LevelWarn
}

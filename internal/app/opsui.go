package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"riverqueue.com/riverui"

	"github.com/linegate/linegate/internal/httpapi"
)

// wireOpsUI gives the ops dashboard its sign-in (sessions in Postgres) and
// River's web UI, mounted under /ops/jobs behind that sign-in.
func (a *App) wireOpsUI(deps *httpapi.Deps) error {
	if a.jobs == nil {
		return errors.New("ops UI: the job queue must be wired first")
	}
	deps.Sessions = httpapi.NewOpsSessions(a.pool, httpapi.OpsSessionConfig{TTL: httpapi.DefaultOpsSessionTTL, Now: a.now})
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.jobs, nil),
		// Job args can hold phone numbers; they show on request only.
		JobListHideArgsByDefault: true,
		Logger:                   a.logger.With(slog.String("component", "riverui")),
		Prefix:                   "/ops/jobs",
	})
	if err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	// The UI's background services (its count caches) run for the life of
	// the instance, started or not: the UI answers as soon as it is served.
	ctx, cancel := context.WithCancel(context.Background())
	if err := ui.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("start river UI: %w", err)
	}
	a.stoppers = append(a.stoppers, cancel)
	deps.JobsUI = ui
	return nil
}

package app

import (
	"context"
	"log/slog"
	"time"
)

// linqStartTimeout bounds a start-up step that talks to Linq.
const linqStartTimeout = 30 * time.Second

// linqAtStart runs a start-up step that talks to Linq (the line sync, the
// webhook subscription). When the database already holds what the step
// keeps up to date (known), a restarted replica serves at once and runs it
// beside serving (besideServing): signups, ops and webhook intake need no
// Linq, and Linq being slow must not hold them back. Otherwise the step is
// waited for, up to linqStartTimeout, so that a first start serves a pool
// it has read. Either way a failure only warns: the step's scheduled job
// tries again.
func (a *App) linqAtStart(ctx context.Context, what string, known func(context.Context) (bool, error), step func(context.Context) error) {
	ok, err := known(ctx)
	if err != nil {
		// Postgres went away since the schema check: serve (readiness says
		// 503 until it is back) and let the step wait for it.
		a.logger.WarnContext(ctx, what+" at start: could not read what is stored; running it in the background", slog.Any("error", err))
	}
	if !ok && err == nil {
		a.linqStep(ctx, what, step)
		return
	}
	a.besideServing(what, step)
}

// besideServing runs a start-up step that talks to Linq in the background;
// Close cancels it and waits for it.
func (a *App) besideServing(what string, step func(context.Context) error) {
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		a.linqStep(a.backgroundCtx, what, step)
	}()
}

// linqStep runs step within linqStartTimeout; a failure warns.
func (a *App) linqStep(ctx context.Context, what string, step func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, linqStartTimeout)
	defer cancel()
	if err := step(ctx); err != nil {
		a.logger.WarnContext(ctx, what+" at start failed; its scheduled job tries again", slog.Any("error", err))
	}
}

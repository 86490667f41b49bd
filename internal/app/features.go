package app

import (
	"context"

	"github.com/linegate/linegate/internal/httpapi"
)

// wireFeatures builds the feature services and hands them to the router.
// Each feature keeps its wiring in its own block below.
func (a *App) wireFeatures(ctx context.Context, deps *httpapi.Deps) error {
	_ = ctx
	_ = deps

	// --- line pool, assignment, signups (issue 4) ---

	// --- sending, limits, idempotency (issue 5) ---

	return nil
}

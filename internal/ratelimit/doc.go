// Package ratelimit enforces Linq's limits locally, before Linq sees a send:
// the pair window (at most PairLimit sends per line and recipient in any
// PairWindow, closed interval), the loop guard that quarantines a pair that
// keeps hitting it, and the line's rolling-24h budget of inbound plus
// outbound messages (warm-up ramp and reply reserve included).
//
// Every decision is one atomic Postgres statement (limits_admit, in
// db/functions), so any number of gateway replicas behave like one. The
// send path of package messaging folds the same function into its own single
// round trip; Admit is the entry point for everything else (reactions,
// edits) and for tests.
//
// RecordInbound is the one function the webhook receiver calls per inbound
// message: it counts the message toward the line's budget and opens the
// user's reply window.
package ratelimit

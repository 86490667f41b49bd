// Package retention keeps each table that grows with traffic at a size set by
// its retention rather than by the gateway's uptime. One Service prunes every
// such table in bounded batches, each batch an index range scan over the rows
// past the table's retention (see db/migrations/00070_retention.sql), on the
// database clock; the schedule runs it on one replica at a time. River's own
// finished jobs are pruned by River's job cleaner, whose periods come from
// the same Config (ApplyRiver).
//
// Tables pruned elsewhere: line_volume and pair_state (ratelimit.Cleanup),
// line_signups (the line sync), messages' idempotency keys (messaging).
package retention

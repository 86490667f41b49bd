// Package lines is Linegate's line pool: the lines Linq lists (synced from
// GET /v3/phone_numbers), their local admin state (active, draining,
// retired), their daily budget with warm-up, and the user capacity that
// assignment keeps under.
//
// Line policy has one definition: the SQL function line_policy
// (db/functions/line_policy.sql). It says whether a line may send (replies),
// send proactively, take new users, why not, and its effective and
// proactive budgets, from admin state, health state (and the raw Linq
// signals health derives it from), warm-up and the settings in Policy.
// Send admission applies it in the statement that counts a send, so the
// answer cannot drift from what a concurrent replica decides; Snapshot
// selects it for every line, so ops, capacity planning and assignment read
// the very same answer instead of a Go copy of the rule. SQL was chosen over
// Go computing the policy and passing it in because admission needs it under
// the line's budget lock, on the database's clock, in the same round trip.
//
// Capacity. A line's cap is
//
//	floor(effective budget × (1 − headroom) ÷ messages per user per day)
//
// where the effective budget is line_policy's. Messages per user per day
// come from MsgsPerUserPerDay: the configured figure until enough traffic is
// recorded, then the observed 7-day messages ÷ the user-days in those days
// (a user counts from their signup, so a growing pool does not read low).
//
// Eligibility for new users (Line.BlockReason): line_policy's signup
// verdict, then user count under cap and fewer signups than the hourly
// ramp in the last hour.
//
// Reading the pool at scale. line_policy's answer depends only on a
// line's state columns, its budget override and, while warm-up lasts, its
// warm-up start; LineSnapshot runs it once per class of lines sharing
// those, not once per line, so a snapshot of 10,000 lines costs a handful
// of policy calls. Assignment reads even less (SignupCandidates,
// BackupCandidates): the first lines of each class of one user cap, off
// indexes whose predicate is the signup verdict of line_policy spelled out
// on the row (db/migrations/00080_pool_ranking.sql; keep it in step with
// line_policy).
//
// user_count is the number of users whose current line is the line: the
// traffic it carries. Every write of users' current lines happens under
// PoolLockKey: signups hold it shared and lock the lines they write; moves,
// admin changes and health changes that move users hold it exclusive (see
// internal/router). A health change that moves nobody (ok to at_risk, say)
// locks only its line's row; signups check the row after locking it.
package lines

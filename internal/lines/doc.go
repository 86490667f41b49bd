// Package lines is Linegate's line pool: the lines Linq lists (synced from
// GET /v3/phone_numbers), their local admin state (active, draining,
// retired), their daily budget with warm-up, and the user capacity that
// assignment keeps under.
//
// Capacity. A line's cap is
//
//	floor(effective budget × (1 − headroom) ÷ messages per user per day)
//
// where the effective budget is the line's override (or the default) times
// its warm-up factor, which ramps linearly from 20 % on the day the line
// appeared (warmup_started_at) to 100 % after WarmupDays. Messages per user
// per day come from MsgsPerUserPerDay: the configured figure until enough
// traffic is recorded, then the observed 7-day average.
//
// Eligibility for new users (Line.BlockReason): admin state active, service
// status ACTIVE, not marked ineligible by Linq (403/2027), still listed by
// Linq, reputation HEALTHY, user count under cap, and fewer signups than the
// hourly ramp in the last hour.
//
// user_count is the number of users whose current line is the line: the
// traffic it carries. Every write of users' current lines happens under
// PoolLockKey (see internal/router).
package lines

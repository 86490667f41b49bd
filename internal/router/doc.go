// Package router decides who talks on which line: a new user's sticky home
// line and ordered backups (the line set), the signup rotation ops can
// preview, moving users off a line (retire, ops, failover), and the ledger
// of every such change.
//
// # Assignment
//
// A home line is the eligible line (lines.Line.BlockReason) with the lowest
// utilization, users ÷ cap, compared exactly as fractions; ties go to the
// line assigned least recently (never assigned first), then to the lowest
// id. Greedy picks of this kind keep the pool capacity-weighted even: no
// line holds more than one user above its share, i.e. for any two eligible
// lines i and j, (users_i − 1) ÷ cap_i ≤ users_j ÷ cap_j.
//
// Backups: BackupCount other HEALTHY serving lines, preferring the lines
// that hold the fewest backup slots for users of the same home line (so a
// line's users fail over onto many lines, not one), then the lowest
// utilization (most headroom), then the lowest id. Backups ignore cap and
// ramp: the headroom is what absorbs a failover.
//
// Atomicity: every assignment runs in one transaction holding
// lines.PoolLockKey, reading the lines after the lock is granted, so
// replicas never push a line over its cap or break the evenness. Concurrent
// signups of one process are grouped into one transaction (one lock, one
// commit) by a leader/follower batcher; each request still gets its own
// answer, and a refused request writes nothing.
//
// The rotation preview (Rotation) runs the same picking code on the same
// snapshot, n times in memory.
package router

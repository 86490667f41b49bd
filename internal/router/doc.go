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
// ramp: the headroom is what absorbs a failover. The slots are a count
// kept by triggers on user_lines and users (line_backup_slots), so a batch
// reads a row per line holding slots for its home lines, not their users.
//
// Reading: assignment does not read the pool. Lines with the same budget
// override and no warm-up left share a user cap, so within such a class
// utilization ranks as the user count does, and the signup order (fewest
// users, least recently assigned, lowest id) is an index order
// (lines_signup_rank_idx, on the lines line_policy lets take users). A
// batch of n signups reads the first n+1 lines of each class that are
// under the hourly ramp, plus every line still warming up
// (lines.SignupCandidates), and picks among them: a line further down its
// class can only come first (or second, the runner-up a reason names) once
// n lines ahead of it took a signup, so the picks and reasons are the ones
// the whole pool gives. Only when no candidate is left is the whole pool read,
// for the refusal's reason and retry hint. Backups read the first k lines
// of each class in backup order (lines_backup_rank_idx), k covering the
// batch's picks and bookings; a pick that could rank after an unread line
// (lines holding slots for the home crowd the top of a class) makes the
// batch read the whole pool instead. The cost of a batch grows with the
// batch and the number of classes, not with the pool.
//
// Atomicity: an assignment transaction holds lines.PoolLockKey shared:
// moves, retirements, admin changes and health changes that move users
// (which hold it exclusive) wait, other signups do not. It reads its
// candidates after the lock is granted, picks in memory, then locks its
// home lines (in id order) and checks that they are as it read them: user
// count and last assignment (another replica's batch) and the columns the
// signup verdict reads (a health change that moves nobody, such as ok to
// at_risk, locks only the line's row). Under the shared lock signups
// change lines only by adding users, so lines it did not pick can only
// have fallen behind: the picks stay the greedy ones and evenness and caps
// hold across replicas. When a home line did change, the batch is planned
// again on a fresh read; after
// maxStale such retries it takes the lock exclusive and no batch can
// overtake it. Concurrent signups of one process are grouped into one
// transaction (one lock, one commit) by a leader/follower batcher; each
// request still gets its own answer, and a refused request writes nothing.
//
// The rotation preview (Rotation) runs the same picking code on a snapshot
// of the whole pool, n times in memory; it is an ops call, not on the
// signup path.
package router

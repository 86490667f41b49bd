// Package bench is `gateway bench` (`make bench`): it starts the whole stack
// in one process — a fresh database on the private Postgres, the Linq
// simulator in-process with no added latency and no webhooks, and a gateway
// built by app.New behind a loopback listener — seeds lines and users, and
// measures in one run:
//
//	(a) sends through the gateway (POST /v1/messages) with C clients and
//	    with 2C (default 4 and 8): just short of saturation, then past it;
//	(b) the same sends straight to a fresh simulator (the baseline), at
//	    both client counts;
//	(c) the gateway's database work per send (admission + record) in a
//	    tight loop with 2C workers, no HTTP and no Linq (the Postgres ceiling
//	    of its write shape);
//	(h) one autocommit one-row INSERT per op with 2C workers (the physical
//	    ceiling: a send commits at least once);
//	(d) signups per second through POST /v1/signups.
//
// It prints throughput, p50/p95/p99 latency, the process's peak RSS, the
// ratios gateway ÷ (h) and gateway ÷ (c), gateway p50 − direct p50 and
// gateway p99 ÷ p50, each beside its target, and the CPU a send took
// beside an (h) commit's, with the send rate at which every core would be
// busy (what the box allows without any wait). Sends go to random users among
// many (U ≫ C) and the line budget is raised, so the pair limit and the
// budget do not shape the numbers. It then measures webhook intake (e, f)
// and a failover (g). It is a benchmark, not a test: nothing here asserts
// speed.
//
// RunScale (`gateway bench -scale`, `make bench-scale`) is the same stack
// against a large pool: 10,000 lines and 1,000,000 users with their line
// sets, chats and contact cards, a day of per-minute volume and of messages,
// loaded with COPY and INSERT … SELECT (scale_seed.go). It times the
// seeding, the send phase beside the small run's p99, signups, the ops
// reads, one run of each background job and a 10,000-user failover.
//
// Seeding writes lines and users with plain SQL: this is tooling on a
// throw-away database, like the tests' fixtures.
package bench

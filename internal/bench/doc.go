// Package bench is `gateway bench` (`make bench`): it starts the whole stack
// in one process — a fresh database on the private Postgres, the Linq
// simulator in-process with no added latency and no webhooks, and a gateway
// built by app.New behind a loopback listener — seeds lines and users, and
// measures in one run:
//
//	(a) sends through the gateway (POST /v1/messages) with C clients;
//	(b) the same sends straight to a fresh simulator (the baseline);
//	(c) the gateway's database work per send (admission + record) in a
//	    tight loop with C workers, no HTTP and no Linq (the Postgres ceiling
//	    of its write shape);
//	(d) signups per second through POST /v1/signups.
//
// It prints throughput, p50/p95/p99 latency, the process's peak RSS, and
// the ratios gateway ÷ ceiling and gateway p50 − direct p50. Sends go to
// random users among many (U ≫ C) and the line budget is raised, so the pair
// limit and the budget do not shape the numbers. It is a benchmark, not a
// test: nothing here asserts speed.
//
// Seeding writes lines and users with plain SQL: this is tooling on a
// throw-away database, like the tests' fixtures.
package bench

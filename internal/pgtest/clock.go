package pgtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Clock drives the database clock (lg_now, which every cross-replica
// decision reads) of one test database through its one seam, the
// clock_override row: every connection, of every replica, sees the time at
// once. It never moves by itself.
type Clock struct {
	t    testing.TB
	pool *pgxpool.Pool
	mu   sync.Mutex
	now  time.Time
}

// NewClock sets the database clock of pool's database to start.
func NewClock(t testing.TB, pool *pgxpool.Pool, start time.Time) *Clock {
	t.Helper()
	c := &Clock{t: t, pool: pool}
	c.Set(start)
	return c
}

// Now is the database clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the database clock to at (microsecond precision, as stored).
func (c *Clock) Set(at time.Time) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	at = at.UTC().Truncate(time.Microsecond)
	_, err := c.pool.Exec(context.Background(),
		`INSERT INTO clock_override (at) VALUES ($1) ON CONFLICT (only_row) DO UPDATE SET at = excluded.at`, at)
	if err != nil {
		c.t.Errorf("pgtest: set database clock: %v", err)
		return
	}
	c.now = at
}

// Advance moves the database clock by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

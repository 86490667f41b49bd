// Package store is Linegate's Postgres access: the pool, the one transaction
// helper, migrations, and the sqlc-generated queries (files ending .sql.go,
// models.go and db.go are generated; do not edit them).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolConfig tunes the pool beyond what the connection string says.
type PoolConfig struct {
	URL      string
	MaxConns int32
}

// Open connects a pool and waits for a first successful ping so a wrong URL
// fails at start, not on the first request.
func Open(ctx context.Context, cfg PoolConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	if err := checkIsolation(pingCtx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ErrIsolation means the server would run Linegate's transactions at another
// isolation level than read committed.
var ErrIsolation = errors.New("database default isolation is not read committed")

// checkIsolation refuses a server whose transactions default to another
// level than READ COMMITTED: the send path's admission statements rely on
// re-reading a row after waiting for its lock, which REPEATABLE READ and
// SERIALIZABLE turn into serialization failures.
func checkIsolation(ctx context.Context, db DBTX) error {
	level, err := New().ServerDefaultIsolation(ctx, db)
	if err != nil {
		return fmt.Errorf("read default_transaction_isolation: %w", err)
	}
	if level != "read committed" {
		return fmt.Errorf("%w: default_transaction_isolation is %q; set it back with "+
			"ALTER DATABASE <name> SET default_transaction_isolation = 'read committed' "+
			"(or in postgresql.conf, for the role, or in the connection string's options)", ErrIsolation, level)
	}
	return nil
}

// DBTX is what generated queries run on: a pool or a transaction.
var _ DBTX = (*pgxpool.Pool)(nil)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a unique constraint refused the write.
var ErrConflict = errors.New("conflict")

// ErrInvalidData means Postgres refused a value itself: text it cannot hold
// (a NUL character), JSON jsonb does not take, or a CHECK constraint.
var ErrInvalidData = errors.New("invalid data")

// Deadlocked reports whether Postgres ended the statement as a deadlock's
// victim (40P01). The victim's transaction is rolled back whole and the
// other side goes on, so a single-statement transaction can run again.
func Deadlocked(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// DeadlockTries bounds the runs of a transaction that Postgres keeps
// choosing as a deadlock's victim.
const DeadlockTries = 3

// RetryDeadlocked runs fn, a whole transaction, and runs it again (up to
// DeadlockTries runs) while Postgres ends it as a deadlock's victim: nothing
// of it committed and the transaction it waited on has gone on. Batches
// lock rows in one order, but a cycle can still form across kinds of
// transaction that take different tables (a webhook batch, an outcome
// record and an admission).
func RetryDeadlocked[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	v, err := fn()
	for try := 1; try < DeadlockTries && Deadlocked(err) && ctx.Err() == nil; try++ {
		v, err = fn()
	}
	return v, err
}

// Interpret turns driver errors into the store's sentinels so callers never
// import pgx to classify an error.
func Interpret(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %s: %w", ErrConflict, pgErr.ConstraintName, err)
		case pgErr.Code == "23514", strings.HasPrefix(pgErr.Code, "22"): // check_violation, data exceptions
			return fmt.Errorf("%w: %w", ErrInvalidData, err)
		}
	}
	return err
}

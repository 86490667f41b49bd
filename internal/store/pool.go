// Package store is Linegate's Postgres access: the pool, the one transaction
// helper, migrations, and the sqlc-generated queries (files ending .sql.go,
// models.go and db.go are generated; do not edit them).
package store

import (
	"context"
	"errors"
	"fmt"
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
	return pool, nil
}

// DBTX is what generated queries run on: a pool or a transaction.
var _ DBTX = (*pgxpool.Pool)(nil)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a unique constraint refused the write.
var ErrConflict = errors.New("conflict")

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
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s: %w", ErrConflict, pgErr.ConstraintName, err)
	}
	return err
}

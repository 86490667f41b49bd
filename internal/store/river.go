package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// RiverSchemaVersion is the newest River migration this binary applies; the
// test template is rebuilt when it changes.
func RiverSchemaVersion() int {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return 0
	}
	all := m.AllVersions()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// migrateRiver applies River's own schema (its job queue tables) next to
// goose's: one transaction per River version (a version may add an enum
// value that the next one uses), all under a session advisory lock so that
// replicas starting together do not race. It borrows a connection of the
// database/sql wrapper goose uses, which sits on the same pool.
func migrateRiver(ctx context.Context, sqlDB *sql.DB) error {
	return runRiverMigrations(ctx, sqlDB, rivermigrate.DirectionUp)
}

// downRiver removes River's schema, newest version first.
func downRiver(ctx context.Context, sqlDB *sql.DB) error {
	return runRiverMigrations(ctx, sqlDB, rivermigrate.DirectionDown)
}

func runRiverMigrations(ctx context.Context, sqlDB *sql.DB, dir rivermigrate.Direction) error {
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("river schema: connect: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("river schema: connection is not pgx")
		}
		pc, q, key := sc.Conn(), New(), AdvisoryKey("river_schema")
		if err := q.RiverSchemaLock(ctx, pc, key); err != nil {
			return fmt.Errorf("river schema: lock: %w", err)
		}
		defer q.JobUnlock(context.WithoutCancel(ctx), pc, key) //nolint:errcheck // released with the session anyway
		m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
		if err != nil {
			return fmt.Errorf("river schema: %w", err)
		}
		for {
			res, err := WithTxV(ctx, pc, func(ctx context.Context, tx pgx.Tx) (*rivermigrate.MigrateResult, error) {
				// One version per transaction, which is what the deprecation
				// warns about batching; the transaction keeps our lock's
				// connection.
				return m.MigrateTx(ctx, tx, dir, &rivermigrate.MigrateOpts{MaxSteps: 1}) //nolint:staticcheck // see above
			})
			if err != nil {
				return fmt.Errorf("river schema: migrate %s: %w", dir, err)
			}
			if len(res.Versions) == 0 {
				return nil
			}
		}
	})
}

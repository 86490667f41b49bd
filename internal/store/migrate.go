package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/linegate/linegate/db"
)

// Migrator applies the embedded migrations through goose, then the
// function set (db/functions), which is not versioned: every Up replaces
// each function with its file's definition.
type Migrator struct {
	provider *goose.Provider
	sqlDB    *sql.DB
	pool     *pgxpool.Pool
}

// NewMigrator wraps pool for goose, which speaks database/sql.
func NewMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	sub, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	// Replicas starting together must not apply the same migration twice.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return &Migrator{provider: p, sqlDB: sqlDB, pool: pool}, nil
}

// Close releases the database/sql wrapper (not the pool).
func (m *Migrator) Close() error { return m.sqlDB.Close() }

// Up applies every pending migration, then the function set.
func (m *Migrator) Up(ctx context.Context) error {
	if _, err := m.provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if err := m.applyFunctions(ctx); err != nil {
		return err
	}
	return migrateRiver(ctx, m.sqlDB)
}

// DownAll rolls every migration back.
func (m *Migrator) DownAll(ctx context.Context) error {
	if err := m.dropFunctions(ctx); err != nil {
		return err
	}
	if _, err := m.provider.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return downRiver(ctx, m.sqlDB)
}

// Down rolls back the newest migration. The function set goes first (it
// may depend on what the step removes); the next Up puts it back.
func (m *Migrator) Down(ctx context.Context) error {
	if err := m.dropFunctions(ctx); err != nil {
		return err
	}
	if _, err := m.provider.Down(ctx); err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// MessagePartitionsAhead is how many days ahead of today messages' day
// partitions are made.
const MessagePartitionsAhead = 7

// functionsLockKey serialises replicas applying the function set together
// (concurrent CREATE OR REPLACE of one function fails).
var functionsLockKey = AdvisoryKey("linegate.migrate_functions")

// functionFiles lists db/functions in name order. SQL-language functions
// are checked against the catalog when created, so one that calls another
// must sort after it.
func functionFiles() ([]string, error) {
	names, err := fs.Glob(db.Functions, "functions/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// applyFunctions creates or replaces every function of db/functions in one
// transaction.
func (m *Migrator) applyFunctions(ctx context.Context) error {
	names, err := functionFiles()
	if err != nil {
		return err
	}
	return WithTx(ctx, m.pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", functionsLockKey); err != nil {
			return fmt.Errorf("lock functions: %w", err)
		}
		for _, n := range names {
			body, err := fs.ReadFile(db.Functions, n)
			if err != nil {
				return fmt.Errorf("read %s: %w", n, err)
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", n, err)
			}
		}
		// messages' day partitions for the week ahead, so that a fresh or
		// long-stopped database takes sends before the partitions job runs.
		if _, err := tx.Exec(ctx, "SELECT message_partitions((now() AT TIME ZONE 'UTC')::date, $1, '-infinity')",
			MessagePartitionsAhead); err != nil {
			return fmt.Errorf("make message partitions: %w", err)
		}
		return nil
	})
}

// dropFunctions drops every function of db/functions (each file is named
// after its function), in reverse name order.
func (m *Migrator) dropFunctions(ctx context.Context) error {
	names, err := functionFiles()
	if err != nil {
		return err
	}
	slices.Reverse(names)
	return WithTx(ctx, m.pool, func(ctx context.Context, tx pgx.Tx) error {
		for _, n := range names {
			fn := pgx.Identifier{strings.TrimSuffix(path.Base(n), ".sql")}.Sanitize()
			if _, err := tx.Exec(ctx, "DROP FUNCTION IF EXISTS "+fn); err != nil {
				return fmt.Errorf("drop function %s: %w", fn, err)
			}
		}
		return nil
	})
}

// Status writes one line per migration: version, state, file.
func (m *Migrator) Status(ctx context.Context, w io.Writer) error {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	for _, s := range st {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(w, "%05d  %-30s  %s\n", s.Source.Version, applied, s.Source.Path)
	}
	return nil
}

// Pending reports whether the schema is behind the binary.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	return m.provider.HasPending(ctx)
}

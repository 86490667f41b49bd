// Package pgtest gives each test its own migrated Postgres database, cloned
// from a template that is migrated once per set of migrations, so tests run
// in parallel against a real server without seeing each other's rows.
//
// The server comes from TEST_DATABASE_URL or DATABASE_URL; when neither is
// set, scripts/pg.sh starts the project's private cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/db"
	"github.com/linegate/linegate/internal/devpg"
	"github.com/linegate/linegate/internal/store"
)

var (
	once     sync.Once
	adminURL string
	tmplName string
	setupErr error
)

// AdminURL is the URL of the server's maintenance database.
func AdminURL(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	return adminURL
}

// NewURL creates a fresh, migrated database and returns its URL; it is
// dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	u := createDB(t, "TEMPLATE "+tmplNameFor(t))
	// A copy of the template has the template's installation id; a database
	// migrated on its own has one of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execAdmin(ctx, u, "UPDATE installation SET id = gen_random_uuid()"); err != nil {
		t.Fatalf("pgtest: new installation id: %v", err)
	}
	return u
}

// createDB makes a database with the given CREATE DATABASE options and
// drops it when the test ends.
func createDB(t testing.TB, options string) string {
	t.Helper()
	admin := AdminURL(t)
	name := "lgt_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+name+" "+options); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDB(admin, name)
}

func tmplNameFor(t testing.TB) string {
	AdminURL(t)
	return tmplName
}

// NewPool is NewURL plus a pool that is closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := NewURL(t)
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: u, MaxConns: 20})
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// EmptyURL creates an unmigrated database (for migration tests).
func EmptyURL(t testing.TB) string {
	t.Helper()
	return createDB(t, "")
}

func setup() {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = os.Getenv("DATABASE_URL")
	}
	if base == "" {
		var err error
		if base, err = devpg.Start(context.Background()); err != nil {
			setupErr = err
			return
		}
	}
	adminURL = withDB(base, "postgres")
	sum, err := migrationsHash()
	if err != nil {
		setupErr = err
		return
	}
	tmplName = "lgtmpl_" + sum[:16]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setupErr = ensureTemplate(ctx)
}

// ensureTemplate migrates the template once; test binaries of several
// packages start together, so the work is serialised by an advisory lock.
func ensureTemplate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(adminURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7346261)"); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7346261)") //nolint:errcheck // released with the session anyway
	var ready bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", tmplName).Scan(&ready)
	if err != nil || ready {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+tmplName+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+tmplName); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	pool, err := store.Open(ctx, store.PoolConfig{URL: withDB(adminURL, tmplName), MaxConns: 2})
	if err != nil {
		return err
	}
	m, err := store.NewMigrator(pool)
	if err == nil {
		err = m.Up(ctx)
		_ = m.Close()
	}
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+tmplName+" WITH is_template = true")
	return err
}

// migrationsHash names the template after everything Up applies: the
// migrations, the function set, and the day (Up makes messages' day
// partitions for the week ahead, so a template is good for today).
func migrationsHash() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", time.Now().UTC().Format(time.DateOnly))
	for _, fsys := range []fs.FS{db.Migrations, db.Functions} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func execAdmin(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDB(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		// keyword/value form
		return raw + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparseable url)"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

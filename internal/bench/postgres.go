package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// database is a throw-away database for one run.
type database struct {
	admin string // URL of the maintenance database
	name  string
	url   string
}

// newDatabase creates a fresh database on the server of baseURL, or on the
// private cluster (scripts/pg.sh start) when baseURL is empty.
func newDatabase(ctx context.Context, baseURL string) (*database, error) {
	if baseURL == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pg.sh"), "start")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("start private postgres (scripts/pg.sh start): %w", err)
		}
		baseURL = strings.TrimSpace(string(out))
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" {
		return nil, errors.New("bench: DATABASE_URL must be a postgres:// URL")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	d := &database{name: "lgbench_" + hex.EncodeToString(b)}
	u.Path = "/postgres"
	d.admin = u.String()
	u.Path = "/" + d.name
	d.url = u.String()
	if err := d.exec(ctx, "CREATE DATABASE "+d.name); err != nil {
		return nil, fmt.Errorf("create bench database: %w", err)
	}
	return d, nil
}

func (d *database) drop(ctx context.Context) error {
	return d.exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
}

func (d *database) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "pg.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: scripts/pg.sh not found above the working directory; set DATABASE_URL")
		}
		dir = parent
	}
}

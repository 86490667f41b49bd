package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/linegate/linegate/internal/devpg"
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
		var err error
		if baseURL, err = devpg.Start(ctx); err != nil {
			return nil, err
		}
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

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/store"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return fmt.Errorf("usage: gateway migrate up|down|status")
	}
	pool, err := openPool(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := store.NewMigrator(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		err = m.Up(ctx)
	case "down":
		err = m.Down(ctx)
	}
	if err != nil {
		return err
	}
	return m.Status(ctx, stdout)
}

func runAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gateway apikey create|list|revoke")
	}
	pool, err := openPool(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys := apikey.New(pool, apikey.Config{})
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("name", "", "who the key is for")
		scopes := fs.String("scopes", "", "comma-separated: "+strings.Join(apikey.AllScopes, ","))
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		plain, k, err := keys.Create(ctx, *name, splitComma(*scopes))
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %d (%s) with scopes %s; it is shown only once:\n", k.ID, k.Prefix, strings.Join(k.Scopes, ","))
		fmt.Fprintln(stdout, plain)
		return nil
	case "list":
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tREVOKED")
		for _, k := range list {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, strings.Join(k.Scopes, ","), k.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		// A prefix and an id can look alike ("12345678"): a bare argument
		// is a prefix when it has a prefix's shape, and --id says "id".
		fs := flag.NewFlagSet("apikey revoke", flag.ContinueOnError)
		fs.SetOutput(stderr)
		id := fs.Int64("id", 0, "revoke the key with this numeric id")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var k apikey.Key
		switch {
		case *id != 0 && fs.NArg() == 0:
			k, err = keys.RevokeByID(ctx, *id)
		case *id == 0 && fs.NArg() == 1:
			k, err = keys.Revoke(ctx, fs.Arg(0))
		default:
			return fmt.Errorf("usage: gateway apikey revoke PREFIX|ID, or --id ID")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %d (%s)\n", k.ID, k.Prefix)
		return nil
	default:
		return fmt.Errorf("unknown apikey command %q (use create, list or revoke)", args[0])
	}
}

// openPool is the small pool the one-shot admin commands use.
func openPool(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.PoolConfig{URL: cfg.DatabaseURL, MaxConns: 2})
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

package store_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

// TestOpenChecksIsolation pins the start-up check: a database whose
// transactions default to anything but READ COMMITTED is refused with a
// message that names the setting and the fix.
func TestOpenChecksIsolation(t *testing.T) {
	t.Parallel()

	// withDefault makes a test database whose default isolation is level.
	withDefault := func(t *testing.T, level string) string {
		t.Helper()
		u := pgtest.NewURL(t)
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		name := strings.TrimPrefix(parsed.Path, "/")
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, u)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET default_transaction_isolation = '"+level+"'")
		require.NoError(t, err)
		return u
	}

	tests := []struct {
		level string
		ok    bool
	}{
		{"read committed", true},
		{"repeatable read", false},
		{"serializable", false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.level, " ", "_"), func(t *testing.T) {
			t.Parallel()
			u := withDefault(t, tt.level)
			pool, err := store.Open(context.Background(), store.PoolConfig{URL: u})
			if tt.ok {
				require.NoError(t, err)
				pool.Close()
				return
			}
			require.ErrorIs(t, err, store.ErrIsolation)
			require.ErrorContains(t, err, `default_transaction_isolation is "`+tt.level+`"`)
			require.ErrorContains(t, err, "SET default_transaction_isolation = 'read committed'")
			require.Nil(t, pool)
		})
	}

	t.Run("SessionOptionIsCheckedToo", func(t *testing.T) {
		t.Parallel()
		u := pgtest.NewURL(t)
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		_, err := store.Open(context.Background(), store.PoolConfig{
			URL: u + sep + "options=" + strings.NewReplacer(" ", "%20", "=", "%3D").Replace("-c default_transaction_isolation=serializable"),
		})
		require.ErrorIs(t, err, store.ErrIsolation)
	})
}

// TestInterpretInvalidData checks that values Postgres refuses in itself
// (a NUL in text, a \u0000 escape in jsonb) read as ErrInvalidData.
func TestInterpretInvalidData(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	for name, q := range map[string]string{
		"NulInText":     "SELECT $1::text",
		"NulEscapeJSON": "SELECT $1::jsonb",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			arg := "a\x00b"
			if strings.Contains(q, "jsonb") {
				arg = `{"a":"\u0000"}`
			}
			_, err := pool.Exec(ctx, q, arg)
			require.Error(t, err)
			require.ErrorIs(t, store.Interpret(err), store.ErrInvalidData)
			require.NotErrorIs(t, store.Interpret(err), store.ErrNotFound)
		})
	}
}

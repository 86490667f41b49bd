package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

func TestMigrations(t *testing.T) {
	t.Parallel()

	t.Run("UpDownUpLeavesTheSameSchema", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool, err := store.Open(ctx, store.PoolConfig{URL: pgtest.EmptyURL(t), MaxConns: 4})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		m, err := store.NewMigrator(pool)
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })

		schema := func() string {
			rows, err := pool.Query(ctx, `SELECT table_name || '.' || column_name || ':' || data_type
				FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
				ORDER BY 1`)
			require.NoError(t, err)
			var cols []string
			for rows.Next() {
				var c string
				require.NoError(t, rows.Scan(&c))
				cols = append(cols, c)
			}
			require.NoError(t, rows.Err())
			return strings.Join(cols, "\n")
		}

		require.NoError(t, m.Up(ctx))
		first := schema()
		require.NotEmpty(t, first)
		pending, err := m.Pending(ctx)
		require.NoError(t, err)
		require.False(t, pending)

		require.NoError(t, m.DownAll(ctx))
		require.Empty(t, schema(), "down must remove every table")

		require.NoError(t, m.Up(ctx))
		require.Equal(t, first, schema())
	})
}

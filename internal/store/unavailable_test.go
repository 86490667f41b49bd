package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

func TestIsUnavailable(t *testing.T) {
	t.Parallel()

	t.Run("ClassifiesErrors", func(t *testing.T) {
		t.Parallel()
		// A port nobody listens on: what a stopped Postgres gives.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closedPort := ln.Addr().String()
		require.NoError(t, ln.Close())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, connectErr := pgconn.Connect(ctx, "postgres://u@"+closedPort+"/db?sslmode=disable&connect_timeout=2")
		require.Error(t, connectErr)

		tests := []struct {
			name string
			err  error
			want bool
		}{
			{"Nil", nil, false},
			{"ConnectRefused", fmt.Errorf("read user: %w", connectErr), true},
			{"ServerShutdown", fmt.Errorf("list keys: %w", &pgconn.PgError{Code: "57P01"}), true},
			{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, true},
			{"ConnectionException", &pgconn.PgError{Code: "08006"}, true},
			{"ConnClosed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
			{"NetworkError", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
			{"DeadlineWaitingForAConnection", fmt.Errorf("read user: %w", context.DeadlineExceeded), true},
			{"UniqueViolation", &pgconn.PgError{Code: "23505"}, false},
			{"SyntaxError", fmt.Errorf("x: %w", &pgconn.PgError{Code: "42601"}), false},
			{"ClientGaveUp", fmt.Errorf("x: %w", context.Canceled), false},
			{"NotFound", store.ErrNotFound, false},
			{"Other", errors.New("boom"), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				require.Equal(t, tt.want, store.IsUnavailable(tt.err), "%v", tt.err)
			})
		}
	})

	t.Run("StatementTimeoutIsNotAnOutage", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(ctx, `SELECT pg_sleep(5)`)
		require.Error(t, err)
		require.False(t, store.IsUnavailable(err), "%v", err)
	})
}

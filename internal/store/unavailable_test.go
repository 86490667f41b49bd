package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
			{"ConnectionEndedMidMessage", fmt.Errorf("admit send: %w", io.ErrUnexpectedEOF), true},
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

	t.Run("AConnectionDroppedDuringAStatementIsAnOutage", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewURL(t)
		cfg, err := pgx.ParseConfig(url)
		require.NoError(t, err)
		target := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
		// A proxy that cuts every connection at once, as a crashed server or
		// a lost host does.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		var mu sync.Mutex
		var open []net.Conn
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				up, err := net.Dial("tcp", target)
				if err != nil {
					_ = c.Close()
					continue
				}
				mu.Lock()
				open = append(open, c, up)
				mu.Unlock()
				go func() { _, _ = io.Copy(up, c) }()
				go func() { _, _ = io.Copy(c, up) }()
			}
		}()
		cfg.Host, cfg.Port = "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port)
		conn, err := pgx.ConnectConfig(t.Context(), cfg)
		require.NoError(t, err)
		// Cut while the statement runs.
		cut := time.AfterFunc(200*time.Millisecond, func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range open {
				_ = c.Close()
			}
		})
		defer cut.Stop()
		rows, err := conn.Query(t.Context(), `SELECT pg_sleep(5)`)
		if err == nil {
			rows.Close() // reads the statement's answer to its end
			err = rows.Err()
		}
		require.Error(t, err)
		require.True(t, store.IsUnavailable(err), "%v", err)
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

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
)

// TestMain lets a test re-run this binary as the real gateway, so exit codes
// are observed from outside the process.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_MAIN") == "1" {
		os.Args = append([]string{"gateway"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// gateway runs the binary with args and a clean environment plus env.
func gateway(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append([]string{"GATEWAY_TEST_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errb.String(), 0
}

func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     []string
		mention string
	}{
		{"MalformedDatabaseURL", []string{"DATABASE_URL=postgres://a b@:x/%zz"}, "DATABASE_URL"},
		{"MissingDatabaseURL", nil, "DATABASE_URL"},
		{"UnknownLogLevel", []string{"DATABASE_URL=postgres://localhost/x", "LOG_LEVEL=loud"}, "LOG_LEVEL"},
		{"HeadroomOutOfRange", []string{"DATABASE_URL=postgres://localhost/x", "HEADROOM=0.7"}, "HEADROOM"},
		{"BadDuration", []string{"DATABASE_URL=postgres://localhost/x", "SHUTDOWN_TIMEOUT=soon"}, "SHUTDOWN_TIMEOUT"},
		{"BadCronSpec", []string{"DATABASE_URL=postgres://localhost/x", "LINE_SYNC_SCHEDULE=every tuesday"}, "LINE_SYNC_SCHEDULE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := gateway(t, tc.env, "serve")
			require.NotZero(t, code)
			require.Contains(t, stderr, tc.mention)
			require.NotContains(t, stderr, "a b@", "the bad URL must not be echoed (it may hold a password)")
		})
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()

	t.Run("VersionPrints", func(t *testing.T) {
		t.Parallel()
		out, _, code := gateway(t, nil, "version")
		require.Zero(t, code)
		require.Contains(t, out, "gateway")
	})

	t.Run("UnknownCommandFails", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := gateway(t, nil, "frobnicate")
		require.NotZero(t, code)
		require.Contains(t, stderr, "unknown command")
	})

	t.Run("MigrateAndAPIKeyLifecycle", func(t *testing.T) {
		t.Parallel()
		env := []string{"DATABASE_URL=" + pgtest.EmptyURL(t)}
		out, _, code := gateway(t, env, "migrate", "up")
		require.Zero(t, code)
		require.Contains(t, out, "applied")

		key, stderr, code := gateway(t, env, "apikey", "create", "--name", "svc", "--scopes", "send,ops:read")
		require.Zero(t, code, stderr)
		require.Regexp(t, `^lg_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\n$`, key)

		list, _, code := gateway(t, env, "apikey", "list")
		require.Zero(t, code)
		require.Contains(t, list, "svc")
		require.Contains(t, list, "send,ops:read")
		require.NotContains(t, list, key[12:30], "the secret must never be listed")

		_, _, code = gateway(t, env, "apikey", "create", "--name", "bad", "--scopes", "admin")
		require.NotZero(t, code)

		out, _, code = gateway(t, env, "apikey", "revoke", key[3:11])
		require.Zero(t, code)
		require.Contains(t, out, "revoked")

		out, _, code = gateway(t, env, "migrate", "status")
		require.Zero(t, code)
		require.Contains(t, out, "00001")
	})
}

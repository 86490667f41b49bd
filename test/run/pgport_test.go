package run

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// holdPort binds a loopback port without listening on it, as the local end
// of a client connection does: nothing answers a connect to it, yet a
// server's bind to it fails.
func holdPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	for p := 26000; p < 32000; p++ {
		if syscall.Bind(fd, &syscall.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}) == nil {
			return p
		}
	}
	t.Fatal("no port to hold")
	return 0
}

func pgScript(t *testing.T, data, verb string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "pg.sh"), verb)
	cmd.Env = append(runEnv(), "PG_DATA_DIR="+data, "PG_FSYNC=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pg.sh %s: %w\n%s", verb, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func TestPGScriptStartsOnAPortHeldByAClient(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "linegate-pgport-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) //nolint:gosec // the cluster runs as the postgres user, which must enter the folder
	data := filepath.Join(dir, "pg")
	require.NoError(t, os.MkdirAll(data, 0o755))
	if os.Geteuid() == 0 {
		require.NoError(t, exec.Command("chown", "postgres:", data).Run())
	}
	held := holdPort(t)
	// The cluster remembers the port it last had; a client now holds it.
	require.NoError(t, os.WriteFile(filepath.Join(data, "port"), []byte(strconv.Itoa(held)+"\n"), 0o644)) //nolint:gosec // as pg.sh writes it

	url, err := pgScript(t, data, "start")
	t.Cleanup(func() { _, _ = pgScript(t, data, "stop") })
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(strings.Split(strings.Split(url, "@")[1], "/")[0])
	require.NoError(t, err)
	require.NotEqual(t, strconv.Itoa(held), port, "the cluster is on the held port")
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	require.NoError(t, err, "nothing listens on %s", url)
	c.Close()
}

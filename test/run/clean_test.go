package run

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkout is a copy of the files `make clean` uses, in a folder of its
// own, so the test never touches the real checkout's database.
func checkout(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "scripts"), 0o755))
	for _, f := range []string{"Makefile", "scripts/pg.sh"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o755))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "gateway"), []byte("x"), 0o755))
	return dir
}

// dataDir makes a folder holding a file, as a cluster's data would.
func dataDir(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(path, 0o700))
	t.Cleanup(func() { os.RemoveAll(path) })
	require.NoError(t, os.WriteFile(filepath.Join(path, "PG_VERSION"), []byte("17\n"), 0o600))
	return path
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func makeClean(t *testing.T, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", "-s", "clean")
	cmd.Dir = dir
	cmd.Env = runEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMakeClean(t *testing.T) {
	t.Parallel()
	t.Run("RemovesDataKeptInVarTmp", func(t *testing.T) {
		t.Parallel()
		dir := checkout(t)
		data := dataDir(t, "/var/tmp/linegate-pg-"+randomSuffix(t))
		require.NoError(t, os.Symlink(data, filepath.Join(dir, ".pgdata")))

		out, err := makeClean(t, dir)
		require.NoError(t, err, out)
		require.NoDirExists(t, data)
		_, err = os.Lstat(filepath.Join(dir, ".pgdata"))
		require.ErrorIs(t, err, os.ErrNotExist, "the .pgdata link is left behind")
		require.NoDirExists(t, filepath.Join(dir, "bin"))
	})
	t.Run("RemovesDataInTheCheckout", func(t *testing.T) {
		t.Parallel()
		dir := checkout(t)
		dataDir(t, filepath.Join(dir, ".pgdata"))

		out, err := makeClean(t, dir)
		require.NoError(t, err, out)
		require.NoDirExists(t, filepath.Join(dir, ".pgdata"))
	})
	t.Run("LeavesAForeignLinkTargetAlone", func(t *testing.T) {
		t.Parallel()
		dir := checkout(t)
		foreign := dataDir(t, filepath.Join(t.TempDir(), "precious"))
		require.NoError(t, os.Symlink(foreign, filepath.Join(dir, ".pgdata")))

		out, err := makeClean(t, dir)
		require.Error(t, err, out)
		require.Contains(t, out, "refusing to delete")
		require.FileExists(t, filepath.Join(foreign, "PG_VERSION"))
	})
	t.Run("NothingToRemove", func(t *testing.T) {
		t.Parallel()
		dir := checkout(t)

		out, err := makeClean(t, dir)
		require.NoError(t, err, out)
		require.NoDirExists(t, filepath.Join(dir, "bin"))
	})
}

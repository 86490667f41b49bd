package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
)

// openTerminal opens a pseudo-terminal: the test holds the master side
// (what a terminal emulator reads and types into) and the child gets the
// other side as its controlling terminal.
func openTerminal(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { master.Close() })
	var unlock int32
	require.NoError(t, ioctl(master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))))
	var n uint32
	require.NoError(t, ioctl(master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))))
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	return master, tty
}

func ioctl(fd, req, arg uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg); errno != 0 {
		return errno
	}
	return nil
}

// TestMakeRunStopsWithStatusZeroOnCtrlC types Ctrl-C into the terminal that
// runs `make run`: the terminal sends SIGINT to its foreground process
// group, and make must still end with status 0 (not "Interrupt", 130).
func TestMakeRunStopsWithStatusZeroOnCtrlC(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	httpAddr, simAddr := freeAddrs(t)
	master, tty := openTerminal(t)

	// make builds its own binary; the package's build warms the cache.
	gatewayBin(t)
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("make", "-s", "run", "BIN="+bin)
	cmd.Dir = root
	cmd.Env = runEnv("DATABASE_URL="+pgtest.NewURL(t), "HTTP_ADDR="+httpAddr, "SIM_ADDR="+simAddr, "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	s := start(t, cmd, master)
	require.NoError(t, tty.Close())

	key := s.waitKey(t)
	assertServing(t, httpAddr, key)

	_, err := master.Write([]byte{0x03}) // Ctrl-C
	require.NoError(t, err)
	require.Zero(t, s.exitCode(t), "output:\n%s", s.output())
	require.NotContains(t, s.output(), "Interrupt")
}

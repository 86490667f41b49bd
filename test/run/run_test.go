// Package run tests `make run` (scripts/run.sh) and `make clean` from the
// outside, the way a new user meets them: real processes, a real Postgres
// database, the simulator in its own process.
package run

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/devpg"
	"github.com/linegate/linegate/internal/pgtest"
)

// runTimeout bounds one run of the script, start-up included.
const runTimeout = 3 * time.Minute

var keyLine = regexp.MustCompile(`Dev API key: (\S+)`)

// repoRoot is the checkout holding scripts/ and the Makefile.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := devpg.RepoRoot()
	require.NoError(t, err)
	return root
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// gatewayBin builds the gateway once for the whole package.
func gatewayBin(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linegate-run-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/gateway")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// freeAddrs returns two loopback addresses nothing listens on right now,
// for the gateway and the simulator. Both are held until both are picked:
// a port closed before the next is picked can be handed out again.
func freeAddrs(t *testing.T) (string, string) {
	t.Helper()
	var addrs [2]string
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs[0], addrs[1]
}

// busyAddr is a loopback address held by the test until it ends.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// runEnv is the caller's environment without anything that would point the
// script elsewhere, plus vars.
func runEnv(vars ...string) []string {
	drop := []string{"LINQ_API_KEY=", "LINQ_BASE_URL=", "HTTP_ADDR=", "SIM_ADDR=", "PUBLIC_URL=", "DATABASE_URL=", "GATEWAY_BIN=", "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="}
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, vars...)
}

// stack is one `make run` or scripts/run.sh in its own session, its output
// read line by line.
type stack struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	out   strings.Builder
	read  chan struct{} // closed once the output reached its end
	done  chan struct{}
	err   error
}

// start runs cmd in a new session; out is what the test reads (a pipe, or a
// terminal's master side). The cleanup ends every process of the session,
// whatever happened to the test.
func start(t *testing.T, cmd *exec.Cmd, out io.Reader) *stack {
	t.Helper()
	s := &stack{cmd: cmd, lines: make(chan string, 1024), read: make(chan struct{}), done: make(chan struct{})}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { killSession(cmd.Process.Pid) })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			select {
			case s.lines <- line:
			default:
			}
		}
		close(s.lines)
		close(s.read)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s
}

func (s *stack) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitKey waits for the dev API key line and returns the key.
func (s *stack) waitKey(t *testing.T) string {
	t.Helper()
	timeout := time.After(runTimeout)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				<-s.done
				t.Fatalf("output ended before the key was printed (exit: %v):\n%s", s.err, s.output())
			}
			if m := keyLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-timeout:
			t.Fatalf("no key within %s:\n%s", runTimeout, s.output())
		}
	}
}

// exitCode waits for the process to end and returns its exit status. It
// also waits (briefly) for the reader to drain what the process wrote: Wait
// returning says nothing about the pipe having been read.
func (s *stack) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(runTimeout):
		t.Fatalf("still running after %s:\n%s", runTimeout, s.output())
	}
	select {
	case <-s.read:
	case <-time.After(10 * time.Second): // a child still holds the pipe
	}
	if s.err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.ErrorAs(t, s.err, &ee, "output:\n%s", s.output())
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("ended by signal %v:\n%s", ws.Signal(), s.output())
	}
	return ee.ExitCode()
}

// scriptCmd runs scripts/run.sh with a built gateway, its own database and
// the given addresses.
func scriptCmd(t *testing.T, httpAddr, simAddr string) *exec.Cmd {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "run.sh"))
	cmd.Dir = root
	cmd.Env = runEnv("GATEWAY_BIN="+gatewayBin(t), "DATABASE_URL="+pgtest.NewURL(t), "HTTP_ADDR="+httpAddr, "SIM_ADDR="+simAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// assertServing checks that the gateway answers /readyz and accepts the
// printed key.
func assertServing(t *testing.T, httpAddr, key string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + httpAddr + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+httpAddr+"/v1/ops/lines", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the printed key is not accepted by this gateway")
}

func TestRunRefusesBusyAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		busy string // the variable whose address is taken
	}{
		{"SimulatorAddressTaken", "SIM_ADDR"},
		{"GatewayAddressTaken", "HTTP_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			httpAddr, simAddr := freeAddrs(t)
			taken := busyAddr(t)
			if tc.busy == "SIM_ADDR" {
				simAddr = taken
			} else {
				httpAddr = taken
			}
			r, w, err := os.Pipe()
			require.NoError(t, err)
			cmd := scriptCmd(t, httpAddr, simAddr)
			cmd.Stdout, cmd.Stderr = w, w
			s := start(t, cmd, r)
			require.NoError(t, w.Close())

			require.NotZero(t, s.exitCode(t))
			out := s.output()
			require.Contains(t, out, tc.busy+" "+taken+" is already in use")
			require.NotContains(t, out, "Dev API key")
		})
	}
}

func TestRunStopsWithStatusZeroOnInterrupt(t *testing.T) {
	t.Parallel()
	httpAddr, simAddr := freeAddrs(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := scriptCmd(t, httpAddr, simAddr)
	cmd.Stdout, cmd.Stderr = w, w
	s := start(t, cmd, r)
	require.NoError(t, w.Close())

	key := s.waitKey(t)
	assertServing(t, httpAddr, key)

	// What a terminal's Ctrl-C does: SIGINT to the whole process group.
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	require.Zero(t, s.exitCode(t), "output:\n%s", s.output())
	require.NotContains(t, s.output(), "address already in use")
}

// killSession ends every process left in the session led by sid: the
// script's children outlive it when the script is killed.
func killSession(sid int) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		pids := sessionPIDs(sid)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && len(sessionPIDs(sid)) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// sessionPIDs lists the live processes of a session from /proc.
func sessionPIDs(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command, which sits in parentheses and may hold
		// spaces: state ppid pgrp session …
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		var state string
		var ppid, pgrp, session int
		if _, err := fmt.Sscan(rest, &state, &ppid, &pgrp, &session); err != nil {
			continue
		}
		if session == sid && state != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

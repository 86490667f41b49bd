package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the run; its stdout and stderr go to a log file
// that the privacy check reads.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// stack starts and stops the run's processes and remembers their logs.
type stack struct {
	root, dir, bin string

	mu    sync.Mutex
	logs  []string
	procs []*proc
	seq   map[string]int
}

func newStack(root, dir string) *stack {
	return &stack{root: root, dir: dir, bin: filepath.Join(root, "bin", "gateway"), seq: map[string]int{}}
}

// logFile names a new log file for name (one per incarnation).
func (s *stack) logFile(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq[name]++
	p := filepath.Join(s.dir, "logs", fmt.Sprintf("%s-%d.log", name, s.seq[name]))
	s.logs = append(s.logs, p)
	return p
}

func (s *stack) build(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "./cmd/gateway")
	cmd.Dir = s.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// start runs the gateway binary with args and extra environment.
func (s *stack) start(name string, env []string, args ...string) (*proc, error) {
	logPath := s.logFile(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// output runs the gateway binary to completion: stdout is returned (it may
// hold a secret shown once, so it is not a log); stderr is a log.
func (s *stack) output(ctx context.Context, name string, env []string, args ...string) (string, error) {
	logPath := s.logFile(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
		return "", err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = f
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gateway %s: %w (log %s)", strings.Join(args, " "), err, logPath)
	}
	return strings.TrimSpace(string(out)), nil
}

// kill9 ends p with SIGKILL and waits for it.
func (p *proc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends p with SIGTERM, then SIGKILL if it does not end in time.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill9()
	}
}

func (s *stack) stopAll() {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		p.stop(10 * time.Second)
	}
}

// baseEnv is the caller's environment without the gateway's own settings,
// so nothing from the shell points a process elsewhere.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DATABASE_URL", "HTTP_ADDR", "PUBLIC_URL", "LINQ_API_KEY", "LINQ_BASE_URL", "LINQ_WEBHOOK_SECRETS", "LOG_LEVEL", "LOG_FORMAT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, p *proc, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s ended before %s answered (%w); log %s", p.name, url, p.err, p.log)
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s; log %s", p.name, url, limit, p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// postgres is the run's own cluster (scripts/pg.sh with PG_DATA_DIR), so a
// restart touches nothing else.
type postgres struct {
	root, dir string
	url       string
	password  string
}

func (pg *postgres) script(ctx context.Context, verb string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.root, "scripts", "pg.sh"), verb)
	cmd.Env = append(baseEnv(), "PG_DATA_DIR="+pg.dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pg.sh %s: %w\n%s", verb, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func (pg *postgres) start(ctx context.Context) error {
	url, err := pg.script(ctx, "start")
	if err != nil {
		return err
	}
	if pg.url != "" && url != pg.url {
		return fmt.Errorf("postgres came back on another address: %s", url)
	}
	pg.url = url
	pw, err := os.ReadFile(filepath.Join(pg.dir, "password"))
	if err != nil {
		return err
	}
	pg.password = strings.TrimSpace(string(pw))
	return nil
}

func (pg *postgres) stop(ctx context.Context) error {
	_, err := pg.script(ctx, "stop")
	return err
}

// crash stops the cluster as a crash would: SIGQUIT to the postmaster (an
// immediate shutdown) ends every backend at once, without a checkpoint or a
// flush of the WAL not yet written, so commits that did not wait for their
// flush are lost and the next start replays the WAL.
func (pg *postgres) crash(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(pg.dir, "cluster", "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("read postmaster.pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return fmt.Errorf("parse postmaster.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("signal the postmaster: %w", err)
	}
	for syscall.Kill(pid, 0) == nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// serverLog is the cluster's own log, checked like the others.
func (pg *postgres) serverLog() string { return filepath.Join(pg.dir, "server.log") }

var errViolations = errors.New("the reconcile found violations")

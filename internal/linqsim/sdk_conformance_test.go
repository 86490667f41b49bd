package linqsim_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/devpg"
	"github.com/linegate/linegate/internal/linqsim"
)

// TestSDKConformance drives the simulator with the official Linq TypeScript
// SDK (@linqapp/sdk, pinned by test/sdk/package-lock.json). It fails, never
// skips, when node or npm is missing: the simulator's faithfulness is judged
// by this test.
func TestSDKConformance(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for the SDK conformance test: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is required for the SDK conformance test: %v", err)
	}
	root, err := devpg.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "test", "sdk")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@linqapp", "sdk", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}

	const key = "sk_sdk_conformance"
	const idemKey = "sdk-conformance-idem"
	sim := linqsim.New(linqsim.Config{APIKey: key, LineCount: 2, RetryBase: 50 * time.Millisecond, Logger: testLogger(t)})
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"LINQ_API_V3_BASE_URL="+base,
		"LINQ_API_V3_API_KEY="+key,
		"LINQ_SIM_ADMIN_URL="+base,
		"LINQ_SDK_IDEM_KEY="+idemKey,
		"LINQ_WEBHOOK_SECRET=",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("node conformance.mjs:\n%s", out.String())
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("SDK conformance failed (exit %d)", ee.ExitCode())
		}
		t.Fatalf("run node: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte(" passed, 0 failed")) {
		t.Fatal("conformance script did not finish")
	}

	// Cross-check from the Go side: one send for the key, and the pair limit
	// was hit exactly once.
	n := 0
	for _, r := range sim.SendLog() {
		if r.IdempotencyKey == idemKey {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d sends carry the idempotency key, want 1", n)
	}
	if got := sim.Count429(); got != 1 {
		t.Fatalf("Count429 = %d, want 1", got)
	}
}

// Package devpg finds the project's checkout and starts its private Postgres
// cluster (scripts/pg.sh), for the tests and the benchmark, which must run
// with nothing prepared by hand.
package devpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Start starts (or reuses) the private cluster and returns its URL.
func Start(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pg.sh"), "start")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("start private postgres (scripts/pg.sh start): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot is the checkout: the nearest folder above the working directory
// that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory; run from the checkout or set DATABASE_URL")
		}
		dir = parent
	}
}

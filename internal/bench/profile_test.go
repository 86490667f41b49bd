package bench

import (
	"context"
	"os"
	"testing"
)

// TestProfileRun is a temporary harness for profiling a bench run.
func TestProfileRun(t *testing.T) {
	if os.Getenv("BENCH_PROFILE") == "" {
		t.Skip("profiling harness")
	}
	if err := Run(context.Background(), Config{}, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

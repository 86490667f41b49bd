package bench

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is one measured phase.
type result struct {
	name     string
	clients  int
	ops      int
	errors   int
	refused  map[string]int // by outcome or status, when not a success
	elapsed  time.Duration
	p50, p95 time.Duration
	p99      time.Duration
	cpu      cpuUse // over the phase; zero where it is not measured
}

func (r result) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func summarize(name string, lat []time.Duration, errs int, refused map[string]int, elapsed time.Duration) result {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return result{name: name, ops: len(lat), errors: errs, refused: refused, elapsed: elapsed,
		p50: q(0.50), p95: q(0.95), p99: q(0.99)}
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

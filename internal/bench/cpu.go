package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc's CPU times (fixed at
// 100 on every architecture Go supports there).
const clockTicks = 100

// cpuSample is the CPU time used so far, in clock ticks, by Postgres'
// processes on this machine, by this process (gateway, simulator and load
// clients), and by the whole box (busy and idle), read from /proc. On a
// machine without /proc every figure is zero and the phase prints none.
type cpuSample struct {
	at                   time.Time
	pg, self, busy, idle uint64
}

// cpuUse is a phase's CPU use, in cores, over its wall time.
type cpuUse struct {
	postgres, process, idle float64
	ok                      bool
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), self: procTicks("/proc/self/stat")}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		// cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			if i == 4 || i == 5 {
				s.idle += v
			} else {
				s.busy += v
			}
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("(postgres)")) {
			s.pg += statTicks(b)
		}
	}
	return s
}

// procTicks is a process's user plus system time from its stat file.
func procTicks(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return statTicks(b)
}

// statTicks reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line; the command name before them, in parentheses, may hold spaces.
func statTicks(b []byte) uint64 {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// since is the CPU use from an earlier sample to this one. A Postgres
// process that ended between the two takes its time with it, so the
// Postgres figure is a floor.
func (s cpuSample) since(from cpuSample) cpuUse {
	wall := s.at.Sub(from.at).Seconds()
	if wall <= 0 || s.busy+s.idle == 0 {
		return cpuUse{}
	}
	cores := func(a, b uint64) float64 {
		if a < b {
			return 0
		}
		return float64(a-b) / clockTicks / wall
	}
	// /proc/stat sums every CPU; its idle share is scaled to the box's cores.
	idleShare := float64(s.idle-from.idle) / float64(s.busy+s.idle-from.busy-from.idle)
	return cpuUse{postgres: cores(s.pg, from.pg), process: cores(s.self, from.self),
		idle: idleShare * float64(runtime.NumCPU()), ok: true}
}

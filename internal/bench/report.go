package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// sendResults is the send table: (a) and (b) once per client count, low
// count first; (c) and (h) at the high count; (d).
type sendResults struct {
	gateway, direct              []result
	admission, physical, signups result
}

// Targets of the send table.
const (
	physicalRatioTarget  = 0.40 // gateway ÷ (h), at the high client count
	admissionRatioTarget = 0.60 // gateway ÷ (c), at the high client count
	addedP50Low          = 1500 * time.Microsecond
	addedP50High         = 2 * time.Millisecond
	tailRatioTarget      = 4.0 // gateway p99 ÷ gateway p50
	signupsTarget        = 1000.0
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// printTable prints results as rows of one table. The CPU columns are the
// cores used during the phase by Postgres (its processes on this machine),
// by this process (gateway, simulator and load clients), and left idle.
func printTable(out io.Writer, rs ...result) {
	fmt.Fprintf(out, "\n%-38s %9s %10s %9s %9s %9s %16s  %s\n", "phase", "ok", "ok/s", "p50 ms", "p95 ms", "p99 ms", "cpu pg/proc/idle", "refused / errors")
	for _, r := range rs {
		cpu := "-"
		if r.cpu.ok {
			cpu = fmt.Sprintf("%.2f/%.2f/%.2f", r.cpu.postgres, r.cpu.process, r.cpu.idle)
		}
		fmt.Fprintf(out, "%-38s %9d %10.0f %9s %9s %9s %16s  %v / %d\n", r.name, r.ops, r.perSecond(), ms(r.p50), ms(r.p95), ms(r.p99), cpu, r.refused, r.errors)
	}
}

func (sr sendResults) report(out io.Writer) {
	rows := append(append(slices.Clone(sr.gateway), sr.direct...), sr.admission, sr.physical, sr.signups)
	printTable(out, rows...)
	fmt.Fprintln(out)

	hi := len(sr.gateway) - 1
	gw := sr.gateway[hi]
	pr := ratio(gw.perSecond(), sr.physical.perSecond())
	ar := ratio(gw.perSecond(), sr.admission.perSecond())
	fmt.Fprintf(out, "gateway ÷ (h) physical, %d clients:     %.2f  (target ≥ %.2f: %s)\n", gw.clients, pr, physicalRatioTarget, verdict(pr >= physicalRatioTarget))
	fmt.Fprintf(out, "gateway ÷ (c) admission SQL, %d clients: %.2f  (target ≥ %.2f: %s)\n", gw.clients, ar, admissionRatioTarget, verdict(ar >= admissionRatioTarget))
	if line := cpuBound(gw, sr.physical, runtime.NumCPU()); line != "" {
		fmt.Fprintln(out, line)
	}
	for i, g := range sr.gateway {
		target := addedP50High
		if i < hi {
			target = addedP50Low
		}
		added := g.p50 - sr.direct[i].p50
		fmt.Fprintf(out, "gateway p50 − direct p50, %d clients:   %s ms (target ≤ %s ms: %s)\n", g.clients, ms(added), ms(target), verdict(added <= target))
	}
	for _, g := range sr.gateway {
		tr := ratio(float64(g.p99), float64(g.p50))
		fmt.Fprintf(out, "gateway p99 ÷ p50, %d clients:           %.1f   (target ≤ %.0f: %s)\n", g.clients, tr, tailRatioTarget, verdict(tr > 0 && tr <= tailRatioTarget))
	}
	fmt.Fprintf(out, "signups/s:                  %.0f   (target ≥ %.0f: %s)\n", sr.signups.perSecond(), signupsTarget, verdict(sr.signups.perSecond() >= signupsTarget))
}

// cpuBound is what the CPU allows the gateway's sends: the CPU a send took
// (Postgres and this process, from the phase's cores over its rate) beside
// a one-row commit's, and the rate at which the box's cores would all be
// busy, as a share of (h). Empty without CPU figures.
func cpuBound(gw, physical result, cores int) string {
	perSend := gw.cpu.postgres + gw.cpu.process
	if !gw.cpu.ok || !physical.cpu.ok || perSend <= 0 || gw.perSecond() <= 0 || physical.perSecond() <= 0 {
		return ""
	}
	msPer := func(c float64, rate float64) float64 { return c / rate * 1000 }
	allBusy := float64(cores) / perSend * gw.perSecond()
	return fmt.Sprintf("CPU a send, %d clients:       Postgres %.2f ms, this process %.2f ms (an (h) commit: %.2f ms, %.2f ms); all %d cores busy: %.0f sends/s, %.2f × (h)",
		gw.clients, msPer(gw.cpu.postgres, gw.perSecond()), msPer(gw.cpu.process, gw.perSecond()),
		msPer(physical.cpu.postgres, physical.perSecond()), msPer(physical.cpu.process, physical.perSecond()),
		cores, allBusy, allBusy/physical.perSecond())
}

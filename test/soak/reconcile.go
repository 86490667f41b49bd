package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Request is one HTTP request a client of the gateway made.
type Request struct {
	Op      string
	Replica int
	Start   time.Time
	Took    time.Duration
	Status  int    // 0 when no answer came
	Code    string // error.code of the envelope
	// Envelope says the answer carried the gateway's error envelope.
	Envelope bool
	// Failure is "timeout" (the client gave up past the gateway's deadline)
	// or "conn" (the connection failed) when Status is 0.
	Failure string
}

// Window is a span of time something was going on.
type Window struct{ From, To time.Time }

func (w Window) overlaps(from, to time.Time) bool { return !from.After(w.To) && !to.Before(w.From) }

// Kill is one kill -9 of a replica and when it answered again.
type Kill struct {
	Replica int
	Window
}

// SimSend is one send in the simulator's log, with its text.
type SimSend struct {
	At        time.Time
	From      string
	To        []string
	MessageID string
	IdemKey   string
	Text      string
}

// LogicalSend is one message a client wanted sent, over all its attempts.
type LogicalSend struct {
	Text  string
	Keyed bool
	// LinqIDs are the linq_message_id of every 201 answer.
	LinqIDs []string
}

// InboundMsg is one message injected at the simulator as if a user wrote.
type InboundMsg struct {
	LinqMessageID string
	Line          string
}

// ProductEvent is what the product endpoint saw of one event id.
type ProductEvent struct {
	Type string
	// Bodies counts the distinct bodies received under the id.
	Bodies int
	// Received counts the accepted deliveries (duplicates included).
	Received      int
	LinqMessageID string
}

// Delivery is a row of event_deliveries for the soak's subscription.
type Delivery struct {
	EventID string
	State   string
}

// Inputs is everything the reconcile looks at.
type Inputs struct {
	PairLimit   int
	PairWindow  time.Duration
	RequestTime time.Duration // the gateway's request deadline

	Requests []Request
	Kills    []Kill
	PGDown   []Window
	// LinqFaults is when Linq faults were injected.
	LinqFaults Window

	SimSends []SimSend
	Logical  []LogicalSend
	Sim429   int64
	// RecordedSent holds the linq_message_id of every message the gateway
	// recorded as sent.
	RecordedSent map[string]bool

	// SimDelivered are the event ids the simulator delivered with a 2xx.
	SimDelivered []string
	// Processed maps every stored Linq webhook's event id to whether it was
	// processed.
	Processed map[string]bool

	Inbound []InboundMsg
	// InboundCounted is the gateway's inbound count per line number.
	InboundCounted map[string]int64

	Deliveries     []Delivery
	Product        map[string]ProductEvent
	BadSignatures  int
	EndpointRefuse int // 503s the endpoint answered while down

	UsersOnDownLines int
	Stranded         int

	ReadyzDown      bool // some /readyz answered 503 during the restart
	ReadyzRecovered bool // every replica's /readyz answered 200 after it
	RiverAfter      int  // River jobs finished after the restart
	// StuckJobs are River jobs still marked running once the run settled:
	// work that a killed replica or a lost completion left behind.
	StuckJobs int
	CronAfter int // cron runs started after the restart

	LogFindings []Finding
	OpsFindings []Finding

	Injected Injected
	Counts   Counts
}

// Counts are the run's volumes, for the table.
type Counts struct {
	Signups, Inbound, WebhooksAccepted, ProductEvents int
}

// Injected counts the faults the run injected.
type Injected struct {
	Kills, PGRestarts, Linq5xx, LinqTimeouts, Duplicated, Reordered, EndpointDown, Flags int64
}

// Row is one line of the table.
type Row struct {
	Name  string
	Value string
	Want  string
	OK    bool
}

// Report is the reconcile's result.
type Report struct {
	Outcomes []Row // requests by outcome (information)
	Rows     []Row
}

// Violations are the rows that failed.
func (r Report) Violations() []Row {
	var out []Row
	for _, row := range r.Rows {
		if !row.OK {
			out = append(out, row)
		}
	}
	return out
}

// Reconcile checks the run's promises against what the simulator, the
// database and the clients saw.
func Reconcile(in Inputs) Report {
	var rep Report
	zero := func(name string, n int) {
		rep.Rows = append(rep.Rows, Row{Name: name, Value: fmt.Sprint(n), Want: "0", OK: n == 0})
	}
	atLeastOne := func(name string, n int64) {
		rep.Rows = append(rep.Rows, Row{Name: name, Value: fmt.Sprint(n), Want: "≥ 1", OK: n > 0})
	}
	yes := func(name string, ok bool) {
		v := "no"
		if ok {
			v = "yes"
		}
		rep.Rows = append(rep.Rows, Row{Name: name, Value: v, Want: "yes", OK: ok})
	}

	rep.Outcomes = outcomes(in.Requests)
	req := classify(in)
	rep.Rows = append(rep.Rows, Row{Name: "requests", Value: fmt.Sprint(len(in.Requests)), Want: "", OK: true})
	zero("client-visible 500s", req.internal)
	zero("5xx or 4xx without the error envelope", req.noEnvelope)
	zero("502/503 outside the Postgres restart and Linq faults", req.unexcused)
	zero("requests past their deadline", req.timeouts)
	zero("connection errors outside a kill -9", req.connOutside)

	info := func(name string, n int) { rep.Rows = append(rep.Rows, Row{Name: name, Value: fmt.Sprint(n), OK: true}) }
	info("signups", in.Counts.Signups)
	info("sends at the simulator", len(in.SimSends))
	info("inbound messages written by users", in.Counts.Inbound)
	info("Linq webhooks accepted (distinct events)", in.Counts.WebhooksAccepted)
	info("product events received (distinct ids)", in.Counts.ProductEvents)
	zero("idempotency keys at the simulator with different message ids", keysWithTwoMessages(in.SimSends))
	twice, lost, split := logicalChecks(in.Logical, in.SimSends)
	zero("messages sent twice (same text at the simulator)", twice)
	zero("acknowledged sends missing at the simulator", lost)
	zero("keyed sends acknowledged with different Linq ids", split)
	zero("acknowledged sends not recorded as sent", notRecorded(in.Logical, in.RecordedSent))
	maxPair := maxPerPair(in.SimSends, in.PairWindow)
	rep.Rows = append(rep.Rows, Row{Name: fmt.Sprintf("max sends per pair in any %s", in.PairWindow), Value: fmt.Sprint(maxPair),
		Want: fmt.Sprintf("≤ %d", in.PairLimit), OK: maxPair <= in.PairLimit})
	zero("simulator 429s", int(in.Sim429))

	zero("accepted webhooks not processed", notProcessed(in.SimDelivered, in.Processed))
	twiceIn, lostIn := inboundCounts(in.Inbound, in.InboundCounted)
	zero("inbound counted twice", twiceIn)
	zero("inbound not counted", lostIn)
	zero("inbound not forwarded to product", inboundNotForwarded(in.Inbound, in.Product))
	zero("product events not delivered", notDelivered(in.Deliveries, in.Product))
	zero("product event ids with different bodies", changedBodies(in.Product))
	zero("product deliveries with a bad signature", in.BadSignatures)
	zero("users on a down line after failover (not stranded)", in.UsersOnDownLines)
	rep.Rows = append(rep.Rows, Row{Name: "users stranded", Value: fmt.Sprint(in.Stranded), OK: true})

	yes("/readyz answered 503 during the Postgres restart", in.ReadyzDown)
	yes("/readyz recovered by itself", in.ReadyzRecovered)
	atLeastOne("River jobs finished after the restart", int64(in.RiverAfter))
	atLeastOne("cron runs started after the restart", int64(in.CronAfter))
	zero("River jobs left running > 30 s (orphaned by a kill or the restart)", in.StuckJobs)
	zero("secrets or message text in logs", len(in.LogFindings))
	zero("secrets or key hashes in ops JSON", len(in.OpsFindings))

	atLeastOne("faults: replicas killed (-9)", in.Injected.Kills)
	atLeastOne("faults: Postgres restarts", in.Injected.PGRestarts)
	atLeastOne("faults: Linq 5xx after applying", in.Injected.Linq5xx)
	atLeastOne("faults: Linq timeouts after applying", in.Injected.LinqTimeouts)
	atLeastOne("faults: webhooks duplicated", in.Injected.Duplicated)
	atLeastOne("faults: webhooks reordered", in.Injected.Reordered)
	atLeastOne("faults: product endpoint 503s while down", in.Injected.EndpointDown)
	atLeastOne("faults: lines flagged", in.Injected.Flags)
	return rep
}

type requestClasses struct{ internal, noEnvelope, unexcused, timeouts, connOutside int }

func classify(in Inputs) requestClasses {
	var c requestClasses
	// A Postgres outage is felt until the pool has reconnected: allow one
	// request deadline after the server is back.
	grace := in.RequestTime + 5*time.Second
	inPG := func(r Request) bool {
		for _, w := range in.PGDown {
			if (Window{w.From, w.To.Add(grace)}).overlaps(r.Start, r.Start.Add(r.Took)) {
				return true
			}
		}
		return false
	}
	for _, r := range in.Requests {
		switch {
		case r.Failure == "timeout":
			c.timeouts++
		case r.Failure != "":
			killed := false
			for _, k := range in.Kills {
				// In flight when the replica died, or sent before the
				// client learnt it was down.
				if k.Replica == r.Replica && (Window{k.From.Add(-in.RequestTime - time.Second), k.To}).overlaps(r.Start, r.Start) {
					killed = true
				}
			}
			if !killed {
				c.connOutside++
			}
		case r.Status >= 400 && !r.Envelope:
			c.noEnvelope++
		case r.Status == 500:
			c.internal++
		case r.Status == 502 || r.Status == 503:
			linqFailed := strings.HasPrefix(r.Code, "upstream_") &&
				in.LinqFaults.overlaps(r.Start, r.Start.Add(r.Took))
			// Refusals that are the product's answer, not an outage.
			refusal := slices.Contains([]string{"line_unavailable", "no_healthy_line", "pool_exhausted", "pool_ramp_limited"}, r.Code)
			if !linqFailed && !refusal && !inPG(r) {
				c.unexcused++
			}
		case r.Status > 500:
			c.unexcused++
		}
	}
	return c
}

func outcomes(reqs []Request) []Row {
	counts := map[string]int{}
	for _, r := range reqs {
		k := r.Op + " " + fmt.Sprint(r.Status)
		if r.Failure != "" {
			k = r.Op + " " + r.Failure
		}
		if r.Code != "" {
			k += " " + r.Code
		}
		counts[k]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([]Row, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, Row{Name: k, Value: fmt.Sprint(counts[k]), OK: true})
	}
	return rows
}

// keysWithTwoMessages counts idempotency keys the simulator logged with more
// than one message id.
func keysWithTwoMessages(sends []SimSend) int {
	ids := map[string]map[string]bool{}
	for _, s := range sends {
		if s.IdemKey == "" {
			continue
		}
		if ids[s.IdemKey] == nil {
			ids[s.IdemKey] = map[string]bool{}
		}
		ids[s.IdemKey][s.MessageID] = true
	}
	n := 0
	for _, m := range ids {
		if len(m) > 1 {
			n++
		}
	}
	return n
}

// logicalChecks matches client messages to simulator sends by their unique
// text: a text sent twice, an acknowledged text never sent, a keyed message
// acknowledged under two Linq ids.
func logicalChecks(logical []LogicalSend, sends []SimSend) (twice, lost, split int) {
	byText := map[string]int{}
	for _, s := range sends {
		byText[s.Text]++
	}
	for _, l := range logical {
		n := byText[l.Text]
		if n > 1 {
			twice++
		}
		if len(l.LinqIDs) > 0 && n == 0 {
			lost++
		}
		if l.Keyed && len(uniq(l.LinqIDs)) > 1 {
			split++
		}
	}
	return twice, lost, split
}

// notRecorded counts the Linq messages acknowledged to a client (a 201)
// that the gateway's database does not hold as sent once the run settled:
// an outcome record lost to a kill or a crash must be made good by the
// recovery job's resend.
func notRecorded(logical []LogicalSend, recorded map[string]bool) int {
	n := 0
	for _, l := range logical {
		for _, id := range uniq(l.LinqIDs) {
			if !recorded[id] {
				n++
			}
		}
	}
	return n
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// maxPerPair is the most sends of one (line, recipient) pair inside any
// closed window of length w.
func maxPerPair(sends []SimSend, w time.Duration) int {
	pairs := map[string][]time.Time{}
	for _, s := range sends {
		for _, to := range s.To {
			k := s.From + "|" + to
			pairs[k] = append(pairs[k], s.At)
		}
	}
	best := 0
	for _, ts := range pairs {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		lo := 0
		for hi := range ts {
			for ts[hi].Sub(ts[lo]) > w {
				lo++
			}
			best = max(best, hi-lo+1)
		}
	}
	return best
}

// notProcessed counts events delivered with a 2xx that are not stored and
// processed, plus stored events not processed.
func notProcessed(delivered []string, processed map[string]bool) int {
	n := 0
	seen := map[string]bool{}
	for _, id := range delivered {
		if seen[id] {
			continue
		}
		seen[id] = true
		if !processed[id] {
			n++
		}
	}
	for id, done := range processed {
		if !done && !seen[id] {
			n++
		}
	}
	return n
}

// inboundCounts compares the gateway's inbound count per line with the
// messages injected there: more is counting twice, less is losing.
func inboundCounts(msgs []InboundMsg, counted map[string]int64) (twice, lost int) {
	want := map[string]int64{}
	for _, m := range msgs {
		want[m.Line]++
	}
	for line, n := range counted {
		if n > want[line] {
			twice += int(n - want[line])
		}
	}
	for line, n := range want {
		if counted[line] < n {
			lost += int(n - counted[line])
		}
	}
	return twice, lost
}

func inboundNotForwarded(msgs []InboundMsg, product map[string]ProductEvent) int {
	got := map[string]int{}
	for _, e := range product {
		if e.Type == "message.received" {
			got[e.LinqMessageID]++
		}
	}
	n := 0
	for _, m := range msgs {
		if got[m.LinqMessageID] != 1 {
			n++
		}
	}
	return n
}

func notDelivered(ds []Delivery, product map[string]ProductEvent) int {
	n := 0
	for _, d := range ds {
		if d.State != "delivered" || product[d.EventID].Received == 0 {
			n++
		}
	}
	return n
}

func changedBodies(product map[string]ProductEvent) int {
	n := 0
	for _, e := range product {
		if e.Bodies > 1 {
			n++
		}
	}
	return n
}

// Print writes the table.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUESTS BY OUTCOME\tCOUNT")
	for _, row := range r.Outcomes {
		fmt.Fprintf(tw, "  %s\t%s\n", row.Name, row.Value)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "CHECK\tVALUE\tWANT\tRESULT")
	for _, row := range r.Rows {
		res := "ok"
		if !row.OK {
			res = "VIOLATION"
		}
		if row.Want == "" {
			res = ""
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", row.Name, row.Value, row.Want, res)
	}
	_ = tw.Flush()
}

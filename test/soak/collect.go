package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

type simStats struct {
	Count429 int64 `json:"count_429"`
	Webhooks struct {
		Queued     int64 `json:"queued"`
		Delivered  int64 `json:"delivered"`
		Failed     int64 `json:"failed"`
		Overflow   int64 `json:"overflow"`
		Duplicated int64 `json:"duplicated"`
		Reordered  int64 `json:"reordered"`
	} `json:"webhooks"`
	Faults struct {
		Errors   int64 `json:"errors"`
		Timeouts int64 `json:"timeouts"`
	} `json:"faults"`
}

// settledState is what the drain waits for.
type settledState struct {
	unprocessed, undelivered, onDownLines, inFlight, stuckJobs int64
	// pending sends: those a kill or a crash left without their outcome
	// wait for the recovery job (their lease, then its next run).
	pending int64
}

// stuckJobsSQL counts River jobs marked running for longer than any job of
// the gateway takes: left behind by a killed replica or a completion lost
// to the Postgres restart, they wait for River's rescuer.
const stuckJobsSQL = `SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_at < now() - interval '30 seconds'`

func (e *env) db(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, e.pg.url)
}

// flaggedLines are the lines the simulator has flagged now.
func (e *env) flaggedLines(ctx context.Context) ([]string, error) {
	var lines struct {
		Lines []struct {
			PhoneNumber string `json:"phone_number"`
			Status      string `json:"status"`
		} `json:"lines"`
	}
	if err := e.sim.do(ctx, "GET", "/_sim/lines", nil, &lines); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines.Lines {
		if l.Status == "FLAGGED" {
			out = append(out, l.PhoneNumber)
		}
	}
	return out, nil
}

// usersOnDown counts users whose current line is flagged, apart from those
// a failover of that line stranded (no healthy line with room).
func usersOnDown(ctx context.Context, db *pgx.Conn, flagged []string) (onDown, stranded int64, err error) {
	err = db.QueryRow(ctx, `
		SELECT
		  count(*) FILTER (WHERE NOT s.stranded),
		  count(*) FILTER (WHERE s.stranded)
		FROM users u JOIN lines l ON l.id = u.current_line_id
		CROSS JOIN LATERAL (SELECT EXISTS (
		  SELECT 1 FROM failover_moves m JOIN failovers f ON f.id = m.failover_id
		  WHERE m.user_id = u.id AND f.line_id = l.id AND m.to_line_id IS NULL) AS stranded) s
		WHERE l.number = ANY($1)`, flagged).Scan(&onDown, &stranded)
	return onDown, stranded, err
}

func (e *env) settled(ctx context.Context) (settledState, error) {
	var s settledState
	db, err := e.db(ctx)
	if err != nil {
		return s, err
	}
	defer db.Close(ctx)
	if err := db.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE processed_at IS NULL`).Scan(&s.unprocessed); err != nil {
		return s, err
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM event_deliveries WHERE subscription_id = $1 AND state <> 'delivered'`, e.subID).Scan(&s.undelivered); err != nil {
		return s, err
	}
	if err := db.QueryRow(ctx, stuckJobsSQL).Scan(&s.stuckJobs); err != nil {
		return s, err
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE state = 'pending'`).Scan(&s.pending); err != nil {
		return s, err
	}
	flagged, err := e.flaggedLines(ctx)
	if err != nil {
		return s, err
	}
	if s.onDownLines, _, err = usersOnDown(ctx, db, flagged); err != nil {
		return s, err
	}
	var st simStats
	if err := e.sim.do(ctx, "GET", "/_sim/stats", nil, &st); err != nil {
		return s, err
	}
	s.inFlight = st.Webhooks.Queued - st.Webhooks.Delivered - st.Webhooks.Failed - st.Webhooks.Overflow
	return s, nil
}

// drainWait waits until webhooks are processed, events delivered and the
// failover done, or the drain time is over.
func (e *env) drainWait(ctx context.Context) bool {
	deadline := time.Now().Add(e.o.drain)
	var last settledState
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s, err := e.settled(ctx)
		if err == nil && s == (settledState{}) {
			return true
		}
		last = s
		sleep(ctx, 500*time.Millisecond)
	}
	fmt.Fprintf(e.out, "soak: not settled: %+v\n", last)
	return false
}

// collect gathers the reconcile's inputs from the clients, the simulator
// and the database.
func (e *env) collect(ctx context.Context) (Inputs, error) {
	in := Inputs{PairLimit: 30, PairWindow: 60 * time.Second, RequestTime: requestTimeout}
	e.cl.mu.Lock()
	in.Requests = slices.Clone(e.cl.reqs)
	ops := slices.Clone(e.cl.ops)
	e.cl.mu.Unlock()
	e.c.mu.Lock()
	in.Kills, in.PGDown, in.LinqFaults = e.c.kills, e.c.pgDown, e.c.faults
	in.Injected.Kills, in.Injected.PGRestarts, in.Injected.Flags = int64(len(e.c.kills)), int64(len(e.c.pgDown)), e.c.flags
	readyz := e.c.readyz
	problems := e.c.problems
	e.c.mu.Unlock()
	for _, p := range problems {
		fmt.Fprintln(e.out, "soak: chaos step failed:", p)
	}
	e.w.mu.Lock()
	for _, l := range e.w.logical {
		in.Logical = append(in.Logical, *l)
	}
	in.Inbound = slices.Clone(e.w.inbound)
	in.Counts.Signups, in.Counts.Inbound = len(e.w.users), len(e.w.inbound)
	e.w.mu.Unlock()

	var st simStats
	if err := e.sim.do(ctx, "GET", "/_sim/stats", nil, &st); err != nil {
		return in, err
	}
	in.Sim429 = st.Count429
	in.Injected.Linq5xx, in.Injected.LinqTimeouts = st.Faults.Errors, st.Faults.Timeouts
	in.Injected.Duplicated, in.Injected.Reordered = st.Webhooks.Duplicated, st.Webhooks.Reordered
	var err error
	if in.SimSends, err = e.simSends(ctx); err != nil {
		return in, err
	}
	var dl struct {
		Deliveries []struct {
			EventID string `json:"event_id"`
		} `json:"deliveries"`
	}
	if err := e.sim.do(ctx, "GET", "/_sim/webhook-deliveries", nil, &dl); err != nil {
		return in, err
	}
	for _, d := range dl.Deliveries {
		in.SimDelivered = append(in.SimDelivered, d.EventID)
	}

	db, err := e.db(ctx)
	if err != nil {
		return in, err
	}
	defer db.Close(ctx)
	if err := e.fromDB(ctx, db, &in); err != nil {
		return in, err
	}
	var refused int
	in.Product, in.BadSignatures, refused = e.prod.snapshot()
	in.Injected.EndpointDown = int64(refused)
	in.Counts.ProductEvents = len(in.Product)

	in.ReadyzDown, in.ReadyzRecovered = readiness(readyz, in.PGDown, len(e.reps))

	// Ops answers: those seen during the run and a last read of each.
	for _, p := range append(opsPaths, fmt.Sprintf("/v1/ops/event-subscriptions/%d", e.subID)) {
		if a := e.cl.call(ctx, "ops", e.opsKey, "GET", p, nil, nil); a.status == 200 {
			ops = append(ops, opsAnswer{path: p, body: a.raw})
		}
	}
	secrets := e.secrets(ctx, db)
	for _, a := range ops {
		in.OpsFindings = append(in.OpsFindings, ScanOpsJSON(a.path, a.body, secrets)...)
	}
	return in, nil
}

func (e *env) fromDB(ctx context.Context, db *pgx.Conn, in *Inputs) error {
	in.Processed = map[string]bool{}
	rows, err := db.Query(ctx, `SELECT event_id, processed_at IS NOT NULL FROM webhook_events`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var done bool
		if err := rows.Scan(&id, &done); err != nil {
			return err
		}
		in.Processed[id] = done
	}
	if err := rows.Err(); err != nil {
		return err
	}
	in.RecordedSent = map[string]bool{}
	rows, err = db.Query(ctx, `SELECT linq_message_id FROM messages WHERE state = 'sent' AND linq_message_id IS NOT NULL`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		in.RecordedSent[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	in.InboundCounted = map[string]int64{}
	rows, err = db.Query(ctx, `SELECT l.number, coalesce(sum(v.inbound), 0)::bigint FROM lines l
		LEFT JOIN line_volume v ON v.line_id = l.id GROUP BY l.number`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		var c int64
		if err := rows.Scan(&n, &c); err != nil {
			return err
		}
		if c > 0 {
			in.InboundCounted[n] = c
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.Query(ctx, `SELECT event_id, state FROM event_deliveries WHERE subscription_id = $1`, e.subID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.EventID, &d.State); err != nil {
			return err
		}
		in.Deliveries = append(in.Deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flagged, err := e.flaggedLines(ctx)
	if err != nil {
		return err
	}
	onDown, stranded, err := usersOnDown(ctx, db, flagged)
	if err != nil {
		return err
	}
	in.UsersOnDownLines, in.Stranded = int(onDown), int(stranded)
	if len(in.PGDown) > 0 {
		after := in.PGDown[len(in.PGDown)-1].To
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed' AND finalized_at > $1`, after).Scan(&in.RiverAfter); err != nil {
			return err
		}
		if err := db.QueryRow(ctx, `SELECT count(*) FROM job_runs WHERE last_started_at > $1`, after).Scan(&in.CronAfter); err != nil {
			return err
		}
	}
	if err := db.QueryRow(ctx, stuckJobsSQL).Scan(&in.StuckJobs); err != nil {
		return err
	}
	in.Counts.WebhooksAccepted = len(in.Processed)
	return nil
}

// readiness says whether some replica answered 503 during a Postgres
// outage, and whether every replica answered 200 after the last one.
func readiness(obs []readyObs, down []Window, replicas int) (sawDown, recovered bool) {
	if len(down) == 0 {
		return false, false
	}
	last := down[len(down)-1]
	ok := map[int]bool{}
	for _, o := range obs {
		for _, w := range down {
			if o.status == 503 && !o.at.Before(w.From) && !o.at.After(w.To) {
				sawDown = true
			}
		}
		if o.status == 200 && o.at.After(last.To) {
			ok[o.replica] = true
		}
	}
	return sawDown, len(ok) == replicas
}

// simSends reads the simulator's send log and each message's text.
func (e *env) simSends(ctx context.Context) ([]SimSend, error) {
	var log struct {
		Sends []struct {
			At             time.Time `json:"at"`
			From           string    `json:"from"`
			To             []string  `json:"to"`
			MessageID      string    `json:"message_id"`
			IdempotencyKey string    `json:"idempotency_key"`
		} `json:"sends"`
	}
	if err := e.sim.do(ctx, "GET", "/_sim/sends", nil, &log); err != nil {
		return nil, err
	}
	out := make([]SimSend, len(log.Sends))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	for i, s := range log.Sends {
		out[i] = SimSend{At: s.At, From: s.From, To: s.To, MessageID: s.MessageID, IdemKey: s.IdempotencyKey}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var m struct {
				Parts []struct {
					Value string `json:"value"`
				} `json:"parts"`
			}
			if err := e.sim.do(ctx, "GET", "/v3/messages/"+s.MessageID, nil, &m); err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, fmt.Errorf("read message %s: %w", s.MessageID, err))
				mu.Unlock()
				return
			}
			for _, p := range m.Parts {
				out[i].Text += p.Value
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// secrets are every value no log line or ops answer may show.
func (e *env) secrets(ctx context.Context, db *pgx.Conn) []Secret {
	s := append(apiKeySecrets("product API key", e.productKey), apiKeySecrets("ops API key", e.opsKey)...)
	s = append(s, Secret{"Linq API key", e.linqKey}, Secret{"event subscription secret", e.productSecret},
		Secret{"database password", e.pg.password})
	rows, err := db.Query(ctx, `SELECT signing_secret FROM linq_webhook_subscriptions`)
	if err == nil {
		for rows.Next() {
			var v string
			if rows.Scan(&v) == nil {
				s = append(s, Secret{"Linq webhook signing secret", v})
			}
		}
		rows.Close()
	}
	e.allSecrets = s
	return s
}

// scanLogs checks every log of every process, the cluster's included.
func (e *env) scanLogs() []Finding {
	var out []Finding
	e.st.mu.Lock()
	logs := append(slices.Clone(e.st.logs), e.pg.serverLog())
	e.st.mu.Unlock()
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			out = append(out, Finding{Where: p, What: "unreadable log: " + err.Error()})
			continue
		}
		out = append(out, ScanLog(p, b, e.allSecrets)...)
	}
	return out
}

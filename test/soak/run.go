package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linegate/linegate/internal/devpg"
)

// options are the command's flags.
type options struct {
	duration, drain time.Duration
	keep            bool
	workers         int
}

// The gateway's settings for the run: a short request deadline so that
// Linq timeouts end quickly, fast job polling and event retries so the
// run settles within the drain, frequent cron jobs so their resumption
// after the Postgres restart shows, and no warm-up or ramp so the lines'
// budgets do not refuse the load.
const requestTimeout = 5 * time.Second

func gatewayEnv(dbURL, addr, metricsAddr, linqURL, linqKey string) []string {
	return []string{
		"DATABASE_URL=" + dbURL, "HTTP_ADDR=" + addr, "PUBLIC_URL=http://" + addr, "METRICS_ADDR=" + metricsAddr,
		"LINQ_BASE_URL=" + linqURL, "LINQ_API_KEY=" + linqKey,
		"LOG_LEVEL=debug", "LOG_FORMAT=json", "MIGRATE_ON_START=false",
		"REQUEST_TIMEOUT=" + requestTimeout.String(), "SHUTDOWN_TIMEOUT=5s", "DB_MAX_CONNS=10",
		"JOB_POLL_INTERVAL=100ms", "EVENT_RETRY_BASE=1s", "EVENT_RETRY_MAX_DELAY=4s",
		"WARMUP_DAYS=0", "SIGNUP_RAMP_PER_HOUR=100000", "MSGS_PER_USER_PER_DAY=1",
		"LINE_SYNC_SCHEDULE=@every 5s", "HEALTH_POLL_SCHEDULE=@every 5s", "RECOVERY_SCHEDULE=@every 5s",
	}
}

// env is one run: its processes, clients and what they observed.
type env struct {
	o     options
	out   io.Writer
	st    *stack
	pg    *postgres
	sim   *simClient
	simP  *proc
	reps  []*replica
	cl    *clients
	prod  *product
	subID int64

	linqKey, productKey, opsKey, productSecret string
	allSecrets                                 []Secret

	w *workload
	c *chaos
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	root, err := devpg.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "linegate-soak-")
	if err != nil {
		return err
	}
	// The postgres user must reach the cluster's folder when run as root.
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the cluster runs as the postgres user, which must enter the folder
		return err
	}
	e := &env{o: o, out: out, st: newStack(root, dir), pg: &postgres{root: root, dir: filepath.Join(dir, "pg")}}
	defer func() {
		if e.prod != nil {
			e.prod.srv.Close()
		}
		e.st.stopAll()
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = e.pg.stop(stopCtx)
		if err == nil && !o.keep {
			_ = os.RemoveAll(dir)
			return
		}
		fmt.Fprintf(out, "logs and data kept in %s\n", dir)
	}()

	fmt.Fprintf(out, "soak: building, starting Postgres, the simulator and two replicas (run folder %s)\n", dir)
	if err := e.setup(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "soak: driving for %s\n", o.duration)
	e.drive(ctx)
	fmt.Fprintf(out, "soak: draining (at most %s)\n", o.drain)
	settled := e.drainWait(ctx)
	in, err := e.collect(ctx)
	if err != nil {
		return err
	}
	// Stop everything before reading the logs, so they are complete.
	e.st.stopAll()
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.pg.stop(stopCtx); err != nil {
		return err
	}
	in.LogFindings = e.scanLogs()

	rep := Reconcile(in)
	rep.Print(out)
	if !settled {
		fmt.Fprintln(out, "soak: the gateway did not settle within the drain time; the rows above show what was left")
	}
	if v := rep.Violations(); len(v) > 0 {
		for _, f := range append(in.LogFindings, in.OpsFindings...) {
			fmt.Fprintln(out, "  finding:", f)
		}
		names := make([]string, len(v))
		for i, r := range v {
			names[i] = r.Name
		}
		return fmt.Errorf("%w: %s", errViolations, strings.Join(names, "; "))
	}
	fmt.Fprintln(out, "soak: PASS")
	return nil
}

func (e *env) setup(ctx context.Context) error {
	if err := e.st.build(ctx); err != nil {
		return err
	}
	if err := e.pg.start(ctx); err != nil {
		return err
	}
	dbEnv := []string{"DATABASE_URL=" + e.pg.url, "LOG_FORMAT=json"}
	if _, err := e.st.output(ctx, "migrate", dbEnv, "migrate", "up"); err != nil {
		return err
	}
	var err error
	if e.productKey, err = e.st.output(ctx, "apikey", dbEnv, "apikey", "create", "--name", "soak-product", "--scopes", "send,signup"); err != nil {
		return err
	}
	if e.opsKey, err = e.st.output(ctx, "apikey", dbEnv, "apikey", "create", "--name", "soak-ops", "--scopes", "ops:read,ops:write"); err != nil {
		return err
	}

	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	e.linqKey = "sk_soak_" + randHex(16)
	e.sim = &simClient{base: "http://" + simAddr, key: e.linqKey, http: &http.Client{Timeout: 30 * time.Second}}
	e.simP, err = e.st.start("sim", []string{"LOG_FORMAT=json"}, "sim", "--addr", simAddr, "--lines", "5",
		"--api-key", e.linqKey, "--webhook-retry-base", "250ms")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, e.sim.base+"/_sim/health", e.simP, 30*time.Second); err != nil {
		return err
	}

	for i := range 2 {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		metrics, err := freeAddr()
		if err != nil {
			return err
		}
		r := &replica{idx: i, addr: addr, metricsAddr: metrics}
		e.reps = append(e.reps, r)
		if err := e.startReplica(ctx, r); err != nil {
			return err
		}
	}
	e.cl = newClients(e.reps, requestTimeout)
	e.prod = newProduct()

	sub := e.cl.call(ctx, "setup", e.opsKey, "POST", "/v1/ops/event-subscriptions", map[string]any{
		"url": e.prod.srv.URL, "event_types": []string{"message.received", "message.status", "user.connected",
			"user.opted_out", "user.opted_in", "user.line_changed", "line.status_changed"},
	}, nil)
	if sub.status != http.StatusCreated {
		return fmt.Errorf("create the event subscription: %d %s", sub.status, sub.raw)
	}
	e.productSecret, _ = sub.body["secret"].(string)
	e.prod.setSecret(e.productSecret)
	if s, ok := sub.body["subscription"].(map[string]any); ok {
		id, _ := s["id"].(float64)
		e.subID = int64(id)
	}
	if a := e.cl.call(ctx, "setup", e.opsKey, "POST", "/v1/ops/lines/sync", nil, nil); a.status != http.StatusOK {
		return fmt.Errorf("sync lines: %d %s", a.status, a.raw)
	}
	e.w = newWorkload(e)
	return e.w.seed(ctx, 30)
}

// startReplica starts (or restarts) a replica and waits until it is ready.
func (e *env) startReplica(ctx context.Context, r *replica) error {
	p, err := e.st.start(fmt.Sprintf("replica-%d", r.idx), gatewayEnv(e.pg.url, r.addr, r.metricsAddr, e.sim.base, e.linqKey), "serve")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, r.url()+"/readyz", p, 60*time.Second); err != nil {
		return err
	}
	r.set(true, p)
	return nil
}

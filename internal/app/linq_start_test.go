package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

// listGate holds Linq's listings of lines and of webhook subscriptions
// until released, in front of the simulator; every other request passes.
type listGate struct {
	closed   atomic.Bool
	released atomic.Bool
	holding  atomic.Int32
	arrived  chan struct{} // gets a value when a listing is first held
	release  chan struct{}
	next     http.Handler
}

func newListGate(next http.Handler) *listGate {
	return &listGate{arrived: make(chan struct{}, 1), release: make(chan struct{}), next: next}
}

func (g *listGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	held := strings.HasSuffix(r.URL.Path, "/phone_numbers") || strings.HasSuffix(r.URL.Path, "/webhook-subscriptions")
	if g.closed.Load() && r.Method == http.MethodGet && held {
		g.holding.Add(1)
		select {
		case g.arrived <- struct{}{}:
		default:
		}
		select {
		case <-g.release:
		case <-r.Context().Done():
			g.holding.Add(-1)
			return
		}
		g.holding.Add(-1)
	}
	g.next.ServeHTTP(w, r)
}

func (g *listGate) open() { g.released.Store(true); close(g.release) }

// startEnv is a database and a simulator whose listings can be held.
func startEnv(t *testing.T) (*hookEnv, *listGate) {
	t.Helper()
	sim := linqsim.New(linqsim.Config{LineCount: 2, Logger: testkit.Logger(t)})
	gate := newListGate(sim.Handler())
	srv := httptest.NewServer(gate)
	t.Cleanup(func() {
		if !gate.released.Load() {
			gate.open()
		}
		srv.Close()
		sim.Close()
	})
	return &hookEnv{sim: sim, simSrv: srv, dbURL: pgtest.NewURL(t)}, gate
}

func lineCount(t *testing.T, g *gw) int {
	t.Helper()
	var n int
	require.NoError(t, g.app.Pool().QueryRow(context.Background(), "SELECT count(*) FROM lines").Scan(&n))
	return n
}

func TestStartWhileLinqHoldsItsListings(t *testing.T) {
	t.Parallel()

	t.Run("ReplicaThatKnowsThePoolServesBeforeLinqAnswers", func(t *testing.T) {
		t.Parallel()
		e, gate := startEnv(t)
		first := e.gateway(t, true)
		require.Equal(t, 2, lineCount(t, first), "the first start syncs the pool")

		e.sim.AddLine("")
		gate.closed.Store(true)
		// The same public URL: a replica behind the same address, whose
		// webhook subscription is stored.
		restarted := e.gateway(t, false, func(c *config.Config) { c.PublicURL = first.srv.URL })
		started := make(chan error, 1)
		go func() { started <- restarted.app.Start(context.Background()) }()
		select {
		case err := <-started:
			require.NoError(t, err)
		case <-time.After(20 * time.Second): // each step waits up to 30 s for Linq
			t.Fatal("Start waited for Linq while the database knew the pool and the subscription")
		}
		waitFor(t, func() bool { return gate.holding.Load() >= 2 }, "the line sync and the subscription check run in the background (the health poll at start may be held too)")

		restarted.signup(t, "while-linq-hangs") // needs no Linq
		require.Equal(t, 2, lineCount(t, restarted), "the held listing has not been applied")

		gate.open()
		waitFor(t, func() bool { return lineCount(t, restarted) == 3 }, "the background sync adds Linq's new line once Linq answers")
	})

	// The contact-card job runs on the line sync's schedule (every 5 min);
	// a line must not wait that long for its card after a start.
	t.Run("StartGivesEveryLineAContactCard", func(t *testing.T) {
		t.Parallel()
		e, _ := startEnv(t)
		e.gateway(t, true, func(c *config.Config) { c.LineSyncSpec = "@every 1h"; c.CompanyName = "Acme" })
		waitFor(t, func() bool {
			req, err := http.NewRequest(http.MethodGet, e.simSrv.URL+"/v3/contact_card", http.NoBody)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer test")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var out struct {
				ContactCards []struct {
					FirstName string `json:"first_name"`
					IsActive  bool   `json:"is_active"`
				} `json:"contact_cards"`
			}
			if json.NewDecoder(resp.Body).Decode(&out) != nil {
				return false
			}
			active := 0
			for _, c := range out.ContactCards {
				if c.IsActive && c.FirstName == "Acme" {
					active++
				}
			}
			return active == 2
		}, "both lines have the company's card")
	})

	// The health poll runs every minute; right after a start no line should
	// read as stale for want of one.
	t.Run("StartConfirmsEveryLinesHealth", func(t *testing.T) {
		t.Parallel()
		e, _ := startEnv(t)
		g := e.gateway(t, true, func(c *config.Config) { c.HealthPollSpec = "@every 1h" })
		waitFor(t, func() bool {
			var unconfirmed int
			err := g.app.Pool().QueryRow(context.Background(),
				`SELECT count(*) FROM lines WHERE health_confirmed_at IS NULL`).Scan(&unconfirmed)
			return err == nil && unconfirmed == 0
		}, "every line confirmed by the start's poll")
	})

	t.Run("FirstStartWaitsForItsFirstListing", func(t *testing.T) {
		t.Parallel()
		e, gate := startEnv(t)
		gate.closed.Store(true)
		g := e.gateway(t, false)
		started := make(chan error, 1)
		var releasedAtReturn atomic.Bool
		go func() {
			err := g.app.Start(context.Background())
			releasedAtReturn.Store(gate.released.Load())
			started <- err
		}()
		<-gate.arrived
		// Long enough for a Start that did not wait to have returned.
		time.Sleep(200 * time.Millisecond)
		gate.open()
		require.NoError(t, <-started)
		require.True(t, releasedAtReturn.Load(), "Start returned before the first listing of an empty pool")
		require.Equal(t, 2, lineCount(t, g), "the pool is synced once Start returns")
	})
}

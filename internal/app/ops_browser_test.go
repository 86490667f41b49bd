package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/devpg"
	"github.com/linegate/linegate/internal/httpapi"
)

// screenshotEnv, set to 1, makes the browser test also write the
// dashboard's screenshot to docs/ops-dashboard.png (the README's).
const screenshotEnv = "LINEGATE_DASHBOARD_SCREENSHOT"

// chromiumPath finds headless Chromium, installing Debian's package with
// scripts/chromium.sh when it is missing: the test never skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_BIN"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if st, err := os.Stat(p); p != "" && err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	root, err := devpg.RepoRoot()
	require.NoError(t, err)
	out, err := exec.Command(filepath.Join(root, "scripts", "chromium.sh")).Output()
	require.NoError(t, err, "chromium is missing and scripts/chromium.sh could not install it")
	return strings.TrimSpace(string(out))
}

// browser is one headless Chromium with a fresh profile and one tab whose
// console errors are collected.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// waitJS waits until the expression is truthy in the page.
func (b *browser) waitJS(t *testing.T, expr, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(t, err, "waiting for %s", what)
}

func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

func (b *browser) consoleProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// openSignIn opens the dashboard at base and types key into the sign-in
// form; signIn submits it.
func (b *browser) openSignIn(t *testing.T, base, key string) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(base+"/ops"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key),
	)
}

func (b *browser) signIn(t *testing.T) {
	t.Helper()
	b.do(t, chromedp.Click(chromedp.CSS("#signin-form button")))
}

// crossSiteLog records requests to the ops API a browser marked as
// cross-site, with the answer and whether the session cookie came along.
type crossSiteLog struct {
	mu   sync.Mutex
	seen []crossSiteHit
}

type crossSiteHit struct {
	status int
	cookie bool
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (l *crossSiteLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-Fetch-Site") != "cross-site" || !strings.HasPrefix(r.URL.Path, "/v1/ops/") {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		_, err := r.Cookie(httpapi.OpsSessionCookie)
		l.mu.Lock()
		l.seen = append(l.seen, crossSiteHit{status: sw.status, cookie: err == nil})
		l.mu.Unlock()
	})
}

func (l *crossSiteLog) hits() []crossSiteHit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]crossSiteHit(nil), l.seen...)
}

func TestOpsDashboardInBrowser(t *testing.T) {
	t.Parallel()
	bin := chromiumPath(t)

	t.Run("SignInDrainFailoverAndSignOut", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		g := e.gws[0]
		l0, l1, l2, l3 := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]), e.lineID(t, e.lines[2]), e.lineID(t, e.lines[3])
		e.seedUsers(t, "a", 30, l0, l1)
		e.seedUsers(t, "b", 20, l1, l2)
		// A day of traffic in 15-minute steps, for the volume chart.
		_, err := g.app.Pool().Exec(context.Background(), `INSERT INTO line_volume (line_id, minute, inbound, outbound)
			SELECT l.id, date_trunc('minute', now()) - g * interval '15 minutes',
			       (4 + 3 * sin(g / 6.0 + l.id))::int, (9 + 6 * sin(g / 9.0 + l.id))::int
			FROM lines l CROSS JOIN generate_series(0, 95) g`)
		require.NoError(t, err)

		// The page is served through a recorder of cross-site requests.
		xs := &crossSiteLog{}
		page := httptest.NewServer(xs.wrap(g.app.Handler()))
		t.Cleanup(page.Close)
		b := newBrowser(t, bin)

		b.openSignIn(t, page.URL, g.key)
		b.signIn(t)
		b.waitJS(t, `document.querySelectorAll('#lines tr[data-line-id]').length === 4`, "the four seeded lines")
		type row struct {
			Number string `json:"number"`
			Users  string `json:"users"`
			Admin  string `json:"admin"`
		}
		rows := evalJS[map[string]row](t, b, `Object.fromEntries([...document.querySelectorAll('#lines tr[data-line-id]')].map(tr =>
			[tr.dataset.lineId, {number: tr.cells[0].textContent, users: tr.cells[3].textContent, admin: tr.dataset.admin}]))`)
		want := map[int64]string{l0: "30 / 850", l1: "20 / 850", l2: "0 / 850", l3: "0 / 850"}
		for i, id := range []int64{l0, l1, l2, l3} {
			r := rows[itoa(id)]
			require.Equal(t, e.lines[i], r.Number)
			require.Equal(t, want[id], r.Users, "line %s", r.Number)
			require.Equal(t, "active", r.Admin)
		}
		inRotation := `[...document.querySelectorAll('#rotation li')].some(li => li.dataset.lineId === "` + itoa(l3) + `")`
		require.True(t, evalJS[bool](t, b, inRotation), "the empty line leads the rotation before it is drained")

		// Drain the empty line: its state changes and the rotation skips it.
		b.do(t, chromedp.Click(chromedp.CSS(`#lines tr[data-line-id="`+itoa(l3)+`"] button[data-action="drain"]`)))
		b.waitJS(t, `document.querySelector('#lines tr[data-line-id="`+itoa(l3)+`"]').dataset.admin === "draining"`, "the line draining")
		b.waitJS(t, `document.querySelectorAll('#rotation li').length > 0`, "the rotation")
		require.False(t, evalJS[bool](t, b, inRotation), "a draining line is not in the rotation")
		st, out := g.call(t, "GET", "/v1/ops/lines", nil)
		require.Equal(t, http.StatusOK, st)
		for _, l := range out["lines"].([]any) {
			if m := l.(map[string]any); m["number"] == e.lines[3] {
				require.Equal(t, "draining", m["admin_state"])
			}
		}

		// Linq flags a line: the failover shows on the timeline.
		require.NoError(t, e.sim.FlagLine(e.lines[0]))
		waitFor(t, func() bool { return e.count(t, `SELECT count(*) FROM failovers WHERE line_id = $1`, l0) == 1 }, "the failover")
		b.do(t, chromedp.Click(chromedp.ID("refresh")))
		b.waitJS(t, `document.querySelector('#failovers tr[data-line-id="`+itoa(l0)+`"]') !== null`, "the failover in the table")
		b.waitJS(t, `document.querySelectorAll('#timeline .failover-mark').length === 1`, "the failover on the timeline")
		require.Equal(t, "30", evalJS[string](t, b, `document.querySelector('#failovers tr[data-line-id="`+itoa(l0)+`"]').cells[4].textContent`))
		require.Equal(t, "down", evalJS[string](t, b, `document.querySelector('#lines tr[data-line-id="`+itoa(l0)+`"]').dataset.state`))

		// The volume chart of a line.
		b.do(t, chromedp.Click(chromedp.CSS(`#lines tr[data-line-id="`+itoa(l1)+`"] a.line-link`)))
		b.waitJS(t, `document.querySelector('#chart polyline.series-outbound') !== null`, "the volume chart")
		require.Equal(t, 97, evalJS[int](t, b, `document.querySelector('#chart polyline.series-outbound').getAttribute('points').split(' ').length`))

		// Look a user up and move them to another line: only lines that
		// take users are offered (l0 is down, l3 draining, l1 the current).
		b.do(t, chromedp.SendKeys(chromedp.ID("user-ref"), "b-1"), chromedp.Click(chromedp.CSS("#user-form button")))
		b.waitJS(t, `!document.getElementById('user').hidden`, "the user")
		require.Contains(t, evalJS[string](t, b, `document.getElementById('user-summary').textContent`), "on "+e.lines[1])
		require.Equal(t, []string{itoa(l2)}, evalJS[[]string](t, b, `[...document.querySelectorAll('#reassign-line option')].map(o => o.value)`))
		require.True(t, evalJS[bool](t, b, `(window.confirm = () => true, true)`))
		b.do(t, chromedp.SetValue(chromedp.ID("reassign-line"), itoa(l2)), chromedp.Click(chromedp.CSS("#reassign-form button")))
		b.waitJS(t, `document.getElementById('user-summary').textContent.includes('on `+e.lines[2]+`')`, "the user on the new line")
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM users WHERE user_ref = 'b-1' AND current_line_id = $1`, l2))
		require.Equal(t, "ops", evalJS[string](t, b, `document.querySelector('#user-ledger tr').cells[1].textContent`))

		// Support has a phone number, written as people write them.
		_, err = g.app.Pool().Exec(context.Background(), `UPDATE users SET handle = '+14155550177' WHERE user_ref = 'a-7'`)
		require.NoError(t, err)
		b.do(t, chromedp.SetValue(chromedp.ID("user-by"), "handle"), chromedp.SetValue(chromedp.ID("user-ref"), "(415) 555-0177"),
			chromedp.Click(chromedp.CSS("#user-form button")))
		b.waitJS(t, `document.getElementById('user-summary').textContent.startsWith('a-7 (+14155550177)')`, "the user found by handle")

		shot := b.screenshot(t)
		path := filepath.Join(t.TempDir(), "ops-dashboard.png")
		require.NoError(t, os.WriteFile(path, shot, 0o600))
		t.Logf("dashboard screenshot: %s", path)
		if os.Getenv(screenshotEnv) == "1" {
			root, err := devpg.RepoRoot()
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(root, "docs", "ops-dashboard.png"), shot, 0o644)) //nolint:gosec // a committed image
			t.Logf("also written to docs/ops-dashboard.png")
		}
		require.Empty(t, b.consoleProblems(), "console errors")

		// Another site's page asks the gateway for the pool with the
		// browser's cookies: refused (SameSite=Strict keeps the cookie back;
		// the server refuses a cross-site request regardless).
		port := page.Listener.Addr().(*net.TCPAddr).Port
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><title>x</title><script>
fetch("http://127.0.0.1:%d/v1/ops/lines", {mode: "no-cors", credentials: "include"}).finally(() => { document.title = "sent"; });
</script>`, port)
		}))
		t.Cleanup(evil.Close)
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		other, cancel := chromedp.NewContext(b.ctx)
		t.Cleanup(cancel)
		ctx, cancelRun := context.WithTimeout(other, 30*time.Second)
		defer cancelRun()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(evilURL),
			chromedp.Poll[chromedp.Void](`document.title === "sent"`, chromedp.WithPollingInterval(50*time.Millisecond))))
		waitFor(t, func() bool { return len(xs.hits()) > 0 }, "the cross-site request")
		for _, h := range xs.hits() {
			require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, h.status, "cross-site request answered")
			require.False(t, h.cookie, "SameSite=Strict: no cookie on a cross-site request")
		}

		// Sign out: the old cookie no longer opens anything.
		cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{page.URL}})
		require.NoError(t, err)
		var session string
		for _, c := range cookies.Cookies {
			if c.Name == httpapi.OpsSessionCookie {
				session = c.Value
				require.True(t, c.HTTPOnly)
			}
		}
		require.NotEmpty(t, session)
		b.do(t, chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin")))
		req, err := http.NewRequest("GET", page.URL+"/v1/ops/lines", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: httpapi.OpsSessionCookie, Value: session})
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "cookie after sign-out")
		require.Empty(t, b.consoleProblems(), "console errors")
	})

	t.Run("AThousandLinesRenderAndFilter", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		g := e.gateway(t, false) // not started: no line sync marks the seeded lines missing
		_, err := g.app.Pool().Exec(context.Background(), `INSERT INTO lines (number, warmup_started_at, user_count, health_state)
			SELECT '+1555030' || lpad(g::text, 4, '0'), '2020-01-01', g % 300,
			       CASE WHEN g % 50 = 0 THEN 'down' WHEN g % 10 = 0 THEN 'at_risk' ELSE 'ok' END
			FROM generate_series(1, 1000) g`)
		require.NoError(t, err)
		b := newBrowser(t, bin)

		b.openSignIn(t, g.srv.URL, g.key)
		start := time.Now()
		b.signIn(t)
		b.waitJS(t, `document.querySelectorAll('#lines tr[data-line-id]').length === 1000`, "1,000 lines")
		t.Logf("sign-in to 1,000 rendered lines: %v (the page built the table in %s ms; the rest is the gateway's answers)",
			time.Since(start), evalJS[string](t, b, `document.getElementById('lines').dataset.renderMs`))

		ms := evalJS[float64](t, b, `(() => { const s = document.getElementById('state-filter'); const t0 = performance.now();
			s.value = 'down'; s.dispatchEvent(new Event('change')); return performance.now() - t0; })()`)
		t.Logf("filter by state in the page: %.1f ms", ms)
		require.Equal(t, 20, evalJS[int](t, b, `document.querySelectorAll('#lines tr[data-line-id]').length`))
		require.Equal(t, "showing 20 of 1000", evalJS[string](t, b, `document.getElementById('shown').textContent`))
		require.True(t, evalJS[bool](t, b, `[...document.querySelectorAll('#lines tr[data-line-id]')].every(tr => tr.dataset.state === 'down')`))

		start = time.Now()
		b.do(t, chromedp.SendKeys(chromedp.ID("search"), "+15550300050"))
		b.waitJS(t, `document.querySelectorAll('#lines tr[data-line-id]').length === 1`, "one line found")
		t.Logf("search by number: %v", time.Since(start))
		require.Equal(t, "+15550300050", evalJS[string](t, b, `document.querySelector('#lines tr[data-line-id]').cells[0].textContent`))

		b.do(t, chromedp.Click(chromedp.CSS(`th[data-sort="fill"]`)))
		ms = evalJS[float64](t, b, `(() => { const s = document.getElementById('state-filter'); document.getElementById('search').value = '';
			const t0 = performance.now(); s.value = ''; s.dispatchEvent(new Event('change')); return performance.now() - t0; })()`)
		t.Logf("clear the filter, 1,000 rows sorted by fill: %.1f ms", ms)
		require.Equal(t, 1000, evalJS[int](t, b, `document.querySelectorAll('#lines tr[data-line-id]').length`))
		require.Empty(t, b.consoleProblems(), "console errors")
	})
}

// screenshot captures the whole page as PNG.
func (b *browser) screenshot(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// From the top: a click scrolled the page, and a table header that
	// sticks to the viewport would be drawn where the viewport was.
	require.True(t, evalJS[bool](t, b, `(window.scrollTo(0, 0), true)`))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Greater(t, len(png), 1000)
	return png
}

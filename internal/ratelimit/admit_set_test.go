package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

// setRequest is one send of a set decided by one limits_admit call.
type setRequest struct {
	line    int // index into the run's lines
	handles []string
	reply   bool
}

// setAnswer is what limits_admit answers for one request.
type setAnswer struct {
	Outcome            string
	RetryMs            int64
	Quarantined        bool
	BudgetUsed, Budget int
	Why                string
}

// admitSet runs reqs through one limits_admit call, the k-th request at
// base + k-1 µs, as send_admit_many passes a batch.
func admitSet(t *testing.T, pool *pgxpool.Pool, settings []byte, lines []int64, reqs []setRequest, base time.Time) []setAnswer {
	t.Helper()
	var lineIDs []int64
	var reply []bool
	var units, reqNums []int32
	var handles []string
	var ats []time.Time
	for k, r := range reqs {
		lineIDs = append(lineIDs, lines[r.line])
		reply = append(reply, r.reply)
		units = append(units, 1)
		ats = append(ats, base.Add(time.Duration(k)*time.Microsecond))
		for _, h := range r.handles {
			reqNums = append(reqNums, int32(k+1))
			handles = append(handles, h)
		}
	}
	rows, err := pool.Query(context.Background(),
		`SELECT req, outcome, retry_after_ms, quarantined, budget_used, budget_limit, why
		   FROM limits_admit($1, $2, $3, $4, $5, $6, $7) ORDER BY req`,
		lineIDs, reply, units, reqNums, handles, settings, ats)
	require.NoError(t, err)
	defer rows.Close()
	var out []setAnswer
	for rows.Next() {
		var req int32
		var a setAnswer
		require.NoError(t, rows.Scan(&req, &a.Outcome, &a.RetryMs, &a.Quarantined, &a.BudgetUsed, &a.Budget, &a.Why))
		require.Equal(t, int32(len(out)+1), req)
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

// limitState is what admissions leave behind on a set of lines.
func limitState(t *testing.T, pool *pgxpool.Pool, lines []int64) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'pair ' || array_position($1::bigint[], line_id) || ' ' || handle || ' ' || sends::text || ' ' || hits::text
		       || ' ' || coalesce(quarantined_until::text, '-')
		  FROM pair_state WHERE line_id = ANY ($1)
		UNION ALL
		SELECT 'volume ' || array_position($1::bigint[], line_id) || ' ' || minute::text || ' ' || outbound
		  FROM line_volume WHERE line_id = ANY ($1)
		UNION ALL
		SELECT 'total ' || array_position($1::bigint[], line_id) || ' ' || total FROM line_window WHERE line_id = ANY ($1)
		ORDER BY 1`, lines)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// A set of sends decided in one limits_admit call gets exactly the answers
// (and leaves exactly the state) that the same sends get one call at a
// time, in order: the pair windows, the loop guard, the reply reserve and
// the budget interact within the set as they do across calls.
func TestAdmitSetMatchesOneAtATime(t *testing.T) {
	t.Parallel()
	set, single := pgtest.NewPool(t), pgtest.NewPool(t)
	settings := ratelimit.New(set, nil, metrics.New(), limits(func(c *ratelimit.Config) {
		c.PairLimit = 3
		c.PairWindow = 5 * time.Second
		c.HitLimit = 2
		c.Policy.DefaultBudget = 20
		c.Policy.ReplyReserve = 0.3
	})).Settings(nil)

	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		// Two lines in each database, made alike.
		var setLines, singleLines []int64
		for range 2 {
			setLines = append(setLines, insertLine(t, set, 0, time.Time{}))
			singleLines = append(singleLines, insertLine(t, single, 0, time.Time{}))
		}
		// The second line may be critical: replies only.
		if rapid.Bool().Draw(rt, "critical") {
			for _, db := range []struct {
				pool *pgxpool.Pool
				id   int64
			}{{set, setLines[1]}, {single, singleLines[1]}} {
				_, err := db.pool.Exec(context.Background(), `UPDATE lines SET health_state = 'critical' WHERE id = $1`, db.id)
				require.NoError(t, err)
			}
		}
		handle := rapid.SampledFrom([]string{"+17770000001", "+17770000002", "+17770000003"})
		request := rapid.Custom(func(rt *rapid.T) setRequest {
			hs := []string{handle.Draw(rt, "handle")}
			if rapid.IntRange(0, 5).Draw(rt, "group") == 0 {
				if h := handle.Draw(rt, "second"); h != hs[0] {
					hs = append(hs, h)
				}
			}
			return setRequest{line: rapid.IntRange(0, 1).Draw(rt, "line"), handles: hs, reply: rapid.Bool().Draw(rt, "reply")}
		})
		at := t0.Add(time.Duration(run) * time.Hour)
		// A few sets in a row, up to 8 s apart, so that later sets meet
		// full windows, hits and spent budgets. (A gap is never a whole
		// number of milliseconds: a set's counts are taken at its first
		// request's instant, a few microseconds before the others', which
		// differs from one call per request only for a send that leaves
		// the window within those microseconds.)
		for step := range rapid.IntRange(1, 6).Draw(rt, "sets") {
			if step > 0 {
				at = at.Add(time.Duration(rapid.IntRange(0, 8000).Draw(rt, "gap_ms"))*time.Millisecond + 300*time.Microsecond)
			}
			reqs := rapid.SliceOfN(request, 1, 16).Draw(rt, "requests")
			got := admitSet(t, set, settings, setLines, reqs, at)
			for k, r := range reqs {
				want := admitSet(t, single, settings, singleLines, []setRequest{r}, at.Add(time.Duration(k)*time.Microsecond))
				require.Equal(rt, want[0], got[k], "request %d of %d at step %d: %+v", k+1, len(reqs), step, r)
			}
			require.Equal(rt, limitState(t, single, singleLines), limitState(t, set, setLines), "state after step %d", step)
		}
	})
}

func (r setRequest) String() string {
	return fmt.Sprintf("line %d %v reply=%t", r.line, r.handles, r.reply)
}

package router

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
)

// sortedBackups is pickBackups' definition spelled as a sort of the whole
// pool: healthy lines other than home and exclude, fewest slots held for
// home first, then backupCmp; the first n.
func sortedBackups(p *planner, home int64, n int, held map[int64]int, exclude []int64) []int64 {
	var cands []*lines.Line
	for _, l := range p.lines {
		if l.ID != home && !slices.Contains(exclude, l.ID) && l.Healthy() {
			cands = append(cands, l)
		}
	}
	slices.SortFunc(cands, func(a, b *lines.Line) int {
		if c := cmp.Compare(held[a.ID], held[b.ID]); c != 0 {
			return c
		}
		return backupCmp(a, b)
	})
	ids := []int64{}
	for _, l := range cands[:min(n, len(cands))] {
		ids = append(ids, l.ID)
	}
	return ids
}

func TestPickBackupsMatchesASortOfThePool(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		size := 1 + rng.IntN(60)
		pool := make([]lines.Line, size)
		for i := range pool {
			pool[i] = lines.Line{
				ID: int64(i + 1), Cap: rng.IntN(5) * 50, UserCount: rng.IntN(120),
				MaySignup: rng.IntN(5) > 0,
			}
		}
		p := newPlanner(pool, time.Unix(0, 0))
		home := int64(1 + rng.IntN(size))
		slots := backupSlots{}
		for range rng.IntN(3 * size) {
			slots.add(home, int64(1+rng.IntN(size)), 1)
		}
		var exclude []int64
		for range rng.IntN(3) {
			exclude = append(exclude, int64(1+rng.IntN(size)))
		}
		// Several users of one home in a row, as a move picks them: each
		// pick books its slots, which the next one sees.
		for user := range 4 {
			n := rng.IntN(5)
			want := sortedBackups(p, home, n, slots[home], exclude)
			got := []int64{}
			for _, l := range p.pickBackups(home, n, slots, exclude...) {
				got = append(got, l.ID)
			}
			require.Equal(t, want, got, "trial %d, user %d: %d lines, n %d", trial, user, size, n)
		}
	}
}

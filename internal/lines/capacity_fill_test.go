package lines_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
)

func TestFillOf(t *testing.T) {
	t.Parallel()
	usable := func(users, lineCap int) lines.Line {
		return lines.Line{UserCount: users, Cap: lineCap, MaySignup: true}
	}
	parked := func(users, lineCap int) lines.Line { return lines.Line{UserCount: users, Cap: lineCap} }
	tests := []struct {
		name string
		ls   []lines.Line
		want lines.PoolFill
	}{
		{"EmptyPoolHasNoFill", nil, lines.PoolFill{}},
		{"LinesThatTakeNoUsersAddNoCapacity", []lines.Line{usable(24, 297), parked(6, 297)},
			lines.PoolFill{UsableLines: 1, Users: 24, UsersElsewhere: 6, Capacity: 297, Room: 273, Fill: 24.0 / 297}},
		{"ALineOverItsCapAddsNoRoom", []lines.Line{usable(15, 10), usable(0, 10)},
			lines.PoolFill{UsableLines: 2, Users: 15, Capacity: 20, Room: 10, Fill: 0.75}},
		{"NoUsableLineLeavesEveryUserElsewhere", []lines.Line{parked(30, 297)},
			lines.PoolFill{UsersElsewhere: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, lines.FillOf(tt.ls))
		})
	}
}

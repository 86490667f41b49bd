package lines_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
)

// Values Linq's wire does not define (yet) must neither take a line down
// nor give it new users.
func TestReadLinqValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, read, got string
		known           bool
		fn              func(string) (string, bool)
	}{
		{"ActiveStatusKept", lines.StatusActive, lines.StatusActive, true, lines.ReadStatus},
		{"FlaggedStatusKept", lines.StatusFlagged, lines.StatusFlagged, true, lines.ReadStatus},
		{"UnknownStatusLeavesTheStoredOne", "SUSPENDED", "", false, lines.ReadStatus},
		{"LowercaseStatusIsNotTheWires", "flagged", "", false, lines.ReadStatus},
		{"HealthyReputationKept", lines.ReputationHealthy, lines.ReputationHealthy, true, lines.ReadReputation},
		{"CriticalReputationKept", lines.ReputationCritical, lines.ReputationCritical, true, lines.ReadReputation},
		{"UnknownReputationIsAtRisk", "WOBBLY", lines.ReputationAtRisk, false, lines.ReadReputation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, known := tt.fn(tt.read)
			require.Equal(t, tt.got, got)
			require.Equal(t, tt.known, known)
		})
	}
}

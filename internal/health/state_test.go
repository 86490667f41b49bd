package health_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/health"
)

func TestDerive(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sig  health.Signals
		want string
	}{
		{"ActiveHealthyIsOK", health.Signals{ServiceStatus: "ACTIVE", Reputation: "HEALTHY"}, health.StateOK},
		{"AtRiskReputation", health.Signals{ServiceStatus: "ACTIVE", Reputation: "AT_RISK"}, health.StateAtRisk},
		{"UnknownReputationCountsAsAtRisk", health.Signals{ServiceStatus: "ACTIVE", Reputation: "SCORING"}, health.StateAtRisk},
		{"CriticalReputation", health.Signals{ServiceStatus: "ACTIVE", Reputation: "CRITICAL"}, health.StateCritical},
		{"FlaggedIsDownWhateverTheReputation", health.Signals{ServiceStatus: "FLAGGED", Reputation: "HEALTHY"}, health.StateDown},
		{"IneligibleIsDown", health.Signals{ServiceStatus: "ACTIVE", Reputation: "CRITICAL", Ineligible: true}, health.StateDown},
		{"MissingBeatsEverything", health.Signals{ServiceStatus: "FLAGGED", Reputation: "CRITICAL", Missing: true}, health.StateMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, health.Derive(c.sig))
		})
	}
}

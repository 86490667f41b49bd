package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// An event delivery job runs EVENT_DELIVERY_TIMEOUT plus 10 s to record its
// outcome; River takes a job running longer than 45 s for a dead replica's
// and runs it again, so a longer timeout would deliver twice.
func TestEventDeliveryTimeoutSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		value string
		ok    bool
	}{
		{"10s", true},
		{"30s", true},
		{"31s", false},
		{"1m", false},
		{"0s", false},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			t.Parallel()
			_, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", "EVENT_DELIVERY_TIMEOUT": c.value})
			if c.ok {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "EVENT_DELIVERY_TIMEOUT")
			}
		})
	}
}

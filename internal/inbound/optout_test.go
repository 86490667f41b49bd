package inbound

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsOptOut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		want bool
	}{
		{"STOP", true},
		{"  STOP\n", true},
		{"UNSUBSCRIBE", true},
		{"OPTOUT", true},
		{"CANCEL", true},
		{"END", true},
		{"QUIT", true},
		{"opt out", true},
		{"Opt Out", true},
		{"OPT-OUT", true},
		{"opt   out", true},
		{"opt - out", true},
		{"optout", true},
		{"\topt out ", true},
		{"Stop", false}, // keywords are exact case
		{"stop", false},
		{"quit", false},
		{"STOP please", false},
		{"please STOP", false},
		{"don't opt out", false},
		{"opt out now", false},
		{"STOP!", false},
		{"", false},
		{"hello", false},
		{"opt_out", false},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, IsOptOut(tc.text))
		})
	}
}

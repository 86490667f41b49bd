package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()

	// Ops look at last_used_at to find keys nobody uses before revoking
	// them, so it must be recorded whether or not verified keys are cached.
	t.Run("LastUseIsRecorded", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			ttl  time.Duration
		}{{"CacheOff", 0}, {"CacheOn", time.Minute}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				keys := apikey.New(pgtest.NewPool(t), apikey.Config{CacheTTL: tc.ttl})
				plain, k, err := keys.Create(ctx, "product", []string{apikey.ScopeSend})
				require.NoError(t, err)
				_, err = keys.Authenticate(ctx, plain)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					list, err := keys.List(ctx)
					require.NoError(t, err)
					for _, l := range list {
						if l.ID == k.ID {
							return l.LastUsedAt != nil
						}
					}
					return false
				}, 5*time.Second, 20*time.Millisecond, "last_used_at stays null")
			})
		}
	})
}

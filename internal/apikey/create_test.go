package apikey_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestCreate(t *testing.T) {
	t.Parallel()

	t.Run("AScopeNamedTwiceIsHeldOnce", func(t *testing.T) {
		t.Parallel()
		keys := apikey.New(pgtest.NewPool(t), apikey.Config{})
		_, k, err := keys.Create(context.Background(), "twice",
			[]string{apikey.ScopeSend, apikey.ScopeOpsRead, apikey.ScopeSend})
		require.NoError(t, err)
		require.Equal(t, []string{apikey.ScopeSend, apikey.ScopeOpsRead}, k.Scopes)
		list, err := keys.List(context.Background())
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, []string{apikey.ScopeSend, apikey.ScopeOpsRead}, list[0].Scopes)
	})
}

package apikey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
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

	t.Run("ANameTextCannotHoldIs422NamingIt", func(t *testing.T) {
		t.Parallel()
		keys := apikey.New(pgtest.NewPool(t), apikey.Config{})
		for _, name := range []string{"a\x00b", strings.Repeat("k", apikey.MaxNameLen+1), "\xff"} {
			_, _, err := keys.Create(context.Background(), name, []string{apikey.ScopeSend})
			ae, ok := apperr.As(err)
			require.True(t, ok, "%q: %v", name, err)
			require.Equal(t, apperr.Unprocessable, ae.Kind)
			require.Equal(t, "name", ae.Field)
		}
		_, _, err := keys.Create(context.Background(), strings.Repeat("k", apikey.MaxNameLen), []string{apikey.ScopeSend})
		require.NoError(t, err)
	})
}

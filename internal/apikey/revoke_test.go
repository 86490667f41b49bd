package apikey_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// setup makes two keys where the second's prefix spells the first's id
	// in digits: the one reference that could name both.
	setup := func(t *testing.T) (*apikey.Service, apikey.Key, apikey.Key, func() map[int64]bool) {
		t.Helper()
		pool := pgtest.NewPool(t)
		keys := apikey.New(pool, apikey.Config{})
		_, a, err := keys.Create(ctx, "a", []string{apikey.ScopeSend})
		require.NoError(t, err)
		_, b, err := keys.Create(ctx, "b", []string{apikey.ScopeSend})
		require.NoError(t, err)
		clash := strconv.FormatInt(100_000_000+a.ID, 10)[1:] // a's id, zero-padded to 8 digits
		_, err = pool.Exec(ctx, `UPDATE api_keys SET prefix = $1 WHERE id = $2`, clash, b.ID)
		require.NoError(t, err)
		b.Prefix = clash
		revoked := func() map[int64]bool {
			list, err := keys.List(ctx)
			require.NoError(t, err)
			out := map[int64]bool{}
			for _, k := range list {
				out[k.ID] = k.RevokedAt != nil
			}
			return out
		}
		return keys, a, b, revoked
	}

	t.Run("PrefixThatLooksLikeAnIDRevokesOnlyThePrefixedKey", func(t *testing.T) {
		t.Parallel()
		keys, a, b, revoked := setup(t)
		got, err := keys.Revoke(ctx, b.Prefix)
		require.NoError(t, err)
		require.Equal(t, b.ID, got.ID)
		require.Equal(t, map[int64]bool{a.ID: false, b.ID: true}, revoked())
	})

	t.Run("ByIDRevokesOnlyThatKey", func(t *testing.T) {
		t.Parallel()
		keys, a, b, revoked := setup(t)
		got, err := keys.RevokeByID(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a.ID, got.ID)
		require.Equal(t, map[int64]bool{a.ID: true, b.ID: false}, revoked())
	})

	t.Run("ShortNumberIsAnID", func(t *testing.T) {
		t.Parallel()
		keys, a, b, revoked := setup(t)
		got, err := keys.Revoke(ctx, strconv.FormatInt(a.ID, 10))
		require.NoError(t, err)
		require.Equal(t, a.ID, got.ID)
		require.Equal(t, map[int64]bool{a.ID: true, b.ID: false}, revoked())
	})

	t.Run("UnknownReferencesAreNotFound", func(t *testing.T) {
		t.Parallel()
		keys, a, b, revoked := setup(t)
		for _, ref := range []string{"", "0", "-1", "zzzzzzzz", "ABCDEF12", "123456789", b.Prefix + "0"} {
			_, err := keys.Revoke(ctx, ref)
			ae, ok := apperr.As(err)
			require.True(t, ok, "%q: %v", ref, err)
			require.Equal(t, apperr.NotFound, ae.Kind, "%q", ref)
		}
		_, err := keys.RevokeByPrefix(ctx, "12")
		require.Error(t, err)
		require.Equal(t, map[int64]bool{a.ID: false, b.ID: false}, revoked())
	})
}

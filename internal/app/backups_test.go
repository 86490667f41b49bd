package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
)

// TestBackupCountSetting runs BACKUP_COUNT from the environment to the
// lines a signup gets: 0 is no backups, not the default.
func TestBackupCountSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  string // BACKUP_COUNT, "" for unset
		want int
	}{
		{name: "ZeroGivesNoBackups", env: "0", want: 0},
		{name: "OneGivesOne", env: "1", want: 1},
		{name: "UnsetGivesTwo", env: "", want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHookEnv(t)
			e.sim.AddLine("") // three lines: room for two backups
			g := e.gateway(t, true, func(c *config.Config) {
				env := map[string]string{"DATABASE_URL": c.DatabaseURL}
				if tc.env != "" {
					env["BACKUP_COUNT"] = tc.env
				}
				loaded, err := config.Load(func(k string) string { return env[k] })
				require.NoError(t, err)
				c.BackupCount = loaded.BackupCount
			})
			for _, ref := range []string{"ann", "bob", "cy"} {
				st, out := g.call(t, "POST", "/v1/signups", map[string]any{"user_ref": ref})
				require.Equal(t, http.StatusCreated, st, "%v", out)
				require.Len(t, out["backups"], tc.want, "%v", out)
			}
			var backups int
			require.NoError(t, g.app.Pool().QueryRow(context.Background(),
				`SELECT count(*) FROM user_lines WHERE position > 0`).Scan(&backups))
			require.Equal(t, 3*tc.want, backups)
		})
	}
}

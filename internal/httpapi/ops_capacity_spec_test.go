package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/linegate/linegate/internal/devpg"
)

// specDescription is the description of method path in api/openapi.yaml.
func specDescription(t *testing.T, method, path string) string {
	t.Helper()
	root, err := devpg.RepoRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "api", "openapi.yaml"))
	require.NoError(t, err)
	var spec struct {
		Paths map[string]map[string]struct {
			Description string `yaml:"description"`
		} `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &spec))
	return spec.Paths[path][method].Description
}

// TestOpsSpecNamesEveryPoolFigure keeps the descriptions of the capacity
// plan and the line list in step with what they answer: ops read the
// figures by those words, and two figures of one name must mean one thing.
func TestOpsSpecNamesEveryPoolFigure(t *testing.T) {
	t.Parallel()
	b := opsSetup(t, "http://lg.example.com")
	b.addFixtureLine(t, "+15550100001", 3, "")
	auth := map[string]string{"Authorization": "Bearer " + b.opsKey}

	cases := []struct {
		name, path string
		// at is the object whose keys the description must name.
		at func(answer map[string]json.RawMessage) json.RawMessage
	}{
		{"CapacityPool", "/v1/ops/capacity", func(a map[string]json.RawMessage) json.RawMessage { return a["pool"] }},
		{"LinesSummary", "/v1/ops/lines", func(a map[string]json.RawMessage) json.RawMessage { return a["summary"] }},
		{"LineBudget", "/v1/ops/lines", func(a map[string]json.RawMessage) json.RawMessage {
			var ls []map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(a["lines"], &ls))
			require.NotEmpty(t, ls)
			return ls[0]["budget"]
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := b.request(t, "GET", tc.path, nil, "", auth)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var obj map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(tc.at(decodeJSON[map[string]json.RawMessage](t, rec)), &obj))
			desc := specDescription(t, "get", tc.path)
			var missing []string
			for k := range obj {
				if !strings.Contains(desc, "`"+k+"`") {
					missing = append(missing, k)
				}
			}
			slices.Sort(missing)
			require.Empty(t, missing, "GET %s's description does not name these fields", tc.path)
		})
	}
}

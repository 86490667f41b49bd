package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/devpg"
	"github.com/linegate/linegate/internal/pgtest"
)

// TestOpenAPIMatchesRoutes keeps api/openapi.yaml in step with the router:
// every route is described, every described route exists, and each
// operation's security scope is the route's scope.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var spec struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			Security []map[string][]string `yaml:"security"`
		} `yaml:"paths"`
	}
	readSpec(t, &spec)
	require.True(t, strings.HasPrefix(spec.OpenAPI, "3.1"))

	documented := map[string]string{} // "GET /path" -> scope
	for path, ops := range spec.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			scope := ""
			for _, req := range op.Security {
				for _, scopes := range req {
					if len(scopes) > 0 {
						scope = scopes[0]
					}
				}
			}
			documented[strings.ToUpper(method)+" "+path] = scope
		}
	}

	// /metrics is on the main router only with METRICS_ADDR=router; serve
	// it so the spec's entry is checked.
	cfg := app.TestConfig(pgtest.NewURL(t))
	cfg.MetricsAddr = config.MetricsOnRouter
	a := app.NewForTest(t, cfg)
	served := map[string]string{}
	for _, rt := range a.Routes() {
		served[rt.Method+" "+rt.Pattern] = rt.Scope
	}

	var missing, extra, wrongScope []string
	for k, scope := range served {
		d, ok := documented[k]
		if !ok {
			missing = append(missing, k)
		} else if d != scope {
			wrongScope = append(wrongScope, k+" (spec "+d+", route "+scope+")")
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	require.Empty(t, missing, "routes missing from api/openapi.yaml")
	require.Empty(t, extra, "api/openapi.yaml names routes that do not exist")
	require.Empty(t, wrongScope, "security scopes differ")
}

// readSpec decodes api/openapi.yaml into spec.
func readSpec(t *testing.T, spec any) {
	t.Helper()
	root, err := devpg.RepoRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "api", "openapi.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, spec))
}

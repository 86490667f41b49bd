package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/linegate/linegate/internal/metrics"
)

// seed writes the lines and n users spread over them, warm-up long over.
func seed(ctx context.Context, pool *pgxpool.Pool, numbers []string, n int) ([]user, error) {
	_, err := pool.Exec(ctx, `INSERT INTO lines (number, warmup_started_at)
		SELECT unnest($1::text[]), now() - interval '365 days'`, numbers)
	if err != nil {
		return nil, fmt.Errorf("seed lines: %w", err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
		SELECT 'bench-' || g, '+1415' || lpad(g::text, 7, '0'), 'BENCH' || g, l.id, l.id
		FROM generate_series(1, $1::int) AS g
		JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM lines) AS l ON l.i = g % $2::int`,
		n, len(numbers))
	if err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	users := make([]user, n)
	for g := 1; g <= n; g++ {
		users[g-1] = user{ref: fmt.Sprintf("bench-%d", g), handle: fmt.Sprintf("+1415%07d", g), line: numbers[g%len(numbers)]}
	}
	return users, nil
}

func counter(m *metrics.Metrics) float64 {
	var d dto.Metric
	if c, ok := m.Upstream429.(prometheus.Metric); ok && c.Write(&d) == nil {
		return d.GetCounter().GetValue()
	}
	return 0
}

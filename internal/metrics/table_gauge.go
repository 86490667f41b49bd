package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// tableGaugeMaxAge is how long a read stays fresh: scrapes closer together
// than this cost the database nothing.
const tableGaugeMaxAge = 5 * time.Second

// tableGaugeTimeout bounds a read at scrape time.
const tableGaugeTimeout = time.Second

// TableGauge is a gauge whose value lives in Postgres (stranded users, dead
// deliveries): every replica reads it from the database when scraped, so
// each reports the fleet's number at once, and nothing else keeps it. A
// failed read keeps the last value.
type TableGauge struct {
	desc *prometheus.Desc

	mu   sync.Mutex
	read func(context.Context) (int64, error)
	at   time.Time
	v    float64
	now  func() time.Time
}

func newTableGauge(name, help string) *TableGauge {
	return &TableGauge{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil), now: time.Now}
}

// ReadFrom sets where the value is read; the service owning the table
// calls it when it is built (the latest call wins).
func (g *TableGauge) ReadFrom(read func(context.Context) (int64, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.read, g.at = read, time.Time{}
}

// Value answers the gauge as a scrape would.
func (g *TableGauge) Value() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.read != nil && g.now().Sub(g.at) >= tableGaugeMaxAge {
		ctx, cancel := context.WithTimeout(context.Background(), tableGaugeTimeout)
		defer cancel()
		if n, err := g.read(ctx); err == nil {
			g.v, g.at = float64(n), g.now()
		}
	}
	return g.v
}

// Describe implements prometheus.Collector.
func (g *TableGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *TableGauge) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.Value())
}

// Package metrics declares every Prometheus collector of Linegate in one
// place, on a registry per process (never the global one) so that two gateway
// instances in one test do not collide.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "linegate"

// Metrics holds the collectors; fields are added here, not in feature code.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // method, route, status
	HTTPDuration *prometheus.HistogramVec // method, route
	HTTPErrors   *prometheus.CounterVec   // code
	JobRuns      *prometheus.HistogramVec // job, result

	Upstream429      prometheus.Counter
	UpstreamRequests *prometheus.CounterVec // op, outcome
	SendsRefused     *prometheus.CounterVec // reason
	SendsAccepted    prometheus.Counter
	PairQuarantines  prometheus.Counter
	PoolUnavailable  *prometheus.CounterVec // reason
	Signups          prometheus.Counter

	WebhooksAccepted    prometheus.Counter
	WebhooksRejected    *prometheus.CounterVec // reason
	WebhooksDuplicate   prometheus.Counter
	WebhookLag          prometheus.Histogram   // seconds from receipt to processed
	EventDeliveries     *prometheus.CounterVec // result
	EventDeliveriesDead *TableGauge

	HealthInputs      *prometheus.CounterVec // source, result
	HealthTransitions *prometheus.CounterVec // from, to
	FailoverUsers     *prometheus.CounterVec // result
	StrandedUsers     *TableGauge

	RetentionPruned *prometheus.CounterVec // table

	GroupCommitSize *prometheus.HistogramVec // batch: calls per statement and commit
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"method", "route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		HTTPErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_errors_total", Help: "Error responses by error code.",
		}, []string{"code"}),
		JobRuns: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "job_run_duration_seconds", Help: "Background job runs by job and result.",
		}, []string{"job", "result"}),
		Upstream429: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_429_total", Help: "429 answers from Linq; stays 0 when local limits work.",
		}),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_requests_total", Help: "Calls to Linq by operation and outcome.",
		}, []string{"op", "outcome"}),
		SendsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sends_refused_total", Help: "Sends refused locally by reason.",
		}, []string{"reason"}),
		SendsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "sends_accepted_total", Help: "Sends accepted by Linq.",
		}),
		PairQuarantines: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "pair_quarantines_total", Help: "Sender-recipient pairs quarantined by the loop guard.",
		}),
		PoolUnavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "pool_unavailable_total", Help: "Signups refused because no line was eligible, by reason.",
		}, []string{"reason"}),
		Signups: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "signups_total", Help: "Users assigned a line.",
		}),
	}
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.HTTPErrors, m.JobRuns, m.Upstream429, m.UpstreamRequests,
		m.SendsRefused, m.SendsAccepted, m.PairQuarantines, m.PoolUnavailable, m.Signups)
	m.WebhooksAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhooks_accepted_total", Help: "Linq webhooks stored for processing.",
	})
	m.WebhooksRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhooks_rejected_total", Help: "Linq webhooks refused, by reason.",
	}, []string{"reason"})
	m.WebhooksDuplicate = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhooks_duplicate_total", Help: "Linq webhooks whose event_id was seen before.",
	})
	m.WebhookLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "webhook_processing_lag_seconds", Help: "Time from accepting a Linq webhook to processing it.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	})
	m.EventDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "event_deliveries_total", Help: "Event delivery attempts to product services, by result.",
	}, []string{"result"})
	m.EventDeliveriesDead = newTableGauge("event_deliveries_dead", "Event deliveries out of attempts, waiting for a replay.")
	reg.MustRegister(m.WebhooksAccepted, m.WebhooksRejected, m.WebhooksDuplicate, m.WebhookLag, m.EventDeliveries,
		m.EventDeliveriesDead)
	m.HealthInputs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "line_health_inputs_total", Help: "Line health inputs by source and result (applied, stale).",
	}, []string{"source", "result"})
	m.HealthTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "line_health_transitions_total", Help: "Line health state changes.",
	}, []string{"from", "to"})
	m.FailoverUsers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "failover_users_total", Help: "Users failed over (moved), left stranded, or brought back (recovered).",
	}, []string{"result"})
	m.StrandedUsers = newTableGauge("stranded_users", "Users whose current line is failing and whom the pool could not take.")
	reg.MustRegister(m.HealthInputs, m.HealthTransitions, m.FailoverUsers, m.StrandedUsers)
	m.RetentionPruned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "retention_pruned_rows_total", Help: "Rows deleted by the retention job, by table.",
	}, []string{"table"})
	reg.MustRegister(m.RetentionPruned)
	m.GroupCommitSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "group_commit_batch_size", Help: "Calls decided in one statement and one commit, by batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	}, []string{"batch"})
	reg.MustRegister(m.GroupCommitSize)
	return m
}

package outbound

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's Prometheus collectors.
type metrics struct {
	commands        *prometheus.CounterVec   // command, status
	batchSize       *prometheus.HistogramVec // command
	callSeconds     *prometheus.HistogramVec // command, result
	retries         *prometheus.CounterVec   // command
	reconciliations *prometheus.CounterVec   // command, result
	poisoned        *prometheus.CounterVec   // command, status
	breakerState    prometheus.Gauge
	writeSeconds    *prometheus.HistogramVec // result
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "commands_total",
			Help: "Commands by command type and outcome status (applied, queued, rejected, failed, outcome_unknown).",
		}, []string{"command", "status"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "batch_size",
			Help:    "Commands per Dsco batch call.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}, []string{"command"}),
		callSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "dsco_call_seconds",
			Help:    "Latency of Dsco batch calls by result (ok, retryable, unknown, permanent, paused, stopped).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"command", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "retries_total",
			Help: "Dsco batch calls made again after a transient failure.",
		}, []string{"command"}),
		reconciliations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "reconciliations_total",
			Help: "Commands whose earlier send had an unknown outcome, by what reconciliation found (applied, resend, undecidable).",
		}, []string{"command", "result"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "poisoned_total",
			Help: "Records written to the poison topic, by command type (undecodable when unknown) and status.",
		}, []string{"command", "status"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "breaker_state",
			Help: "State of the circuit breaker around Dsco calls: 0 closed, 1 half-open, 2 open.",
		}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dsco", Subsystem: "outbound", Name: "kafka_write_seconds",
			Help:    "Latency of the Kafka writes that make outcomes durable (results, poison records and store marks of a batch together), by result (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.commands, m.batchSize, m.callSeconds, m.retries, m.reconciliations, m.poisoned, m.breakerState, m.writeSeconds} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("outbound: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}

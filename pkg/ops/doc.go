// Package ops is the connector's operations HTTP server: the endpoints an
// orchestrator and a person use to see whether the process works and what it
// is doing.
//
//   - GET /healthz: 200 while the process serves HTTP (liveness).
//   - GET /readyz: 200 when every readiness Check passes, else 503 naming the
//     failing checks. Checks run concurrently, each bounded by a timeout, and
//     their results are cached briefly, so that frequent probes do not
//     multiply the calls to Kafka, the registry or Dsco.
//   - GET /metrics: Prometheus metrics of a given Gatherer.
//   - GET /status.json: the Status the pipelines report (StatusFunc), with the
//     readiness results and the server's time.
//   - GET /: the status page, one self-contained HTML file (inline CSS and
//     JavaScript, no external assets, works offline) that polls /status.json
//     every second and shows each stream partition with its position, age and
//     lag, each command topic with its consumer lag, results and poison counts,
//     and the totals.
package ops

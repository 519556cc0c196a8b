// Package router assembles the connector's pipelines with their middleware
// in one visible order, and their Prometheus metrics.
//
// The inbound side (NewInbound) wraps the page handler of pkg/inbound in
// Recoverer, Poison, CorrelationID and Metrics, outermost first, and runs
// the stream pipeline and the GetItemInventory poller together.
//
// The outbound side (NewOutbound) is a Watermill router with one handler per
// command topic of the role, each feeding the pkg/outbound pipeline, behind
// Recoverer; validation, retries, the breaker and the poison topic live in
// the pipeline, which decides a command's outcome before its handler returns,
// so an offset is committed only once the command's result is in Kafka. On
// shutdown the pipeline goes first: its batches in flight finish while the
// router still runs, then the subscribers commit their acks (Outbound.Close).
package router

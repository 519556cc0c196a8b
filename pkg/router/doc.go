// Package router assembles the connector's pipelines with their middleware
// in one visible order, and their Prometheus metrics.
//
// The inbound side (NewInbound) wraps the page handler of pkg/inbound in
// Recoverer, Poison, CorrelationID and Metrics, outermost first, and runs
// the stream pipeline and the GetItemInventory poller together.
package router

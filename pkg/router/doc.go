// Package router assembles the connector's pipelines with their middleware
// in one visible order, and their Prometheus metrics.
//
// The inbound side (NewInbound) wraps the page handler of pkg/inbound in
// Recoverer, Poison, CorrelationID and Metrics, outermost first, and runs
// the stream pipeline and the GetItemInventory poller together; with a
// lease (InboundConfig.Lease, kafka.RunLeased), only while this process
// holds it, so that of several processes one reads Dsco at a time.
//
// The outbound side (NewOutbound) consumes each command topic of the role
// with a pkg/kafka Subscriber (Consume: records, key-ordered, many of a
// partition in flight) into the pkg/outbound pipeline's handler for it, which
// recovers from panics; validation, retries, the breaker and the poison topic
// live in the pipeline, which decides a command's outcome before a record is
// done, so an offset is committed only once the command's result is in Kafka.
// It uses no Watermill router: per command, a router's goroutine, message and
// channel hand-offs cost more CPU than the pipeline's own work. On shutdown
// the pipeline goes first: its batches in flight finish while the
// subscriptions still run, then the subscribers commit their acks
// (Outbound.Close).
package router

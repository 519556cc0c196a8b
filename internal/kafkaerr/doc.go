// Package kafkaerr classifies the errors of kafka-go, for the parts of the
// connector outside pkg/kafka that create and read topics of their own (the
// GetItemInventory poller's mark topic, the outbound applied-ids store), so
// that they agree on which of Kafka's answers they can go past.
package kafkaerr

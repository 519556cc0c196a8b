// Package kafka is the connector's Kafka transport: a Watermill [message.Publisher] and
// [message.Subscriber] built on github.com/segmentio/kafka-go.
//
// The Publisher returns from Publish only after Kafka has acknowledged every message of the
// call (acks=all by default), so a caller may move its own checkpoint as soon as Publish
// returns nil. Publishing is at least once, not exactly once: kafka-go re-sends a batch
// whose answer was lost and has no idempotent producer, so a record can be in the log more
// than once although Publish returned nil, at most Publisher.MaxCopies times per call
// (PublisherConfig.MaxAttempts). Records carry ids (event and command ids) for consumers
// to de-duplicate.
//
// The Subscriber consumes through a Kafka consumer group and owns its commit path: an
// offset is committed only after the message at that offset, and every message before it on
// the same partition, was acked, whatever order the acks came in; each commit carries the
// generation the messages were consumed in, so a member whose partitions were revoked
// cannot move their offsets. Each partition is consumed by its own goroutine; partitions do
// not wait for each other. Within a partition the Subscriber offers two models
// (SubscriberConfig.Ordering):
//   - OrderPerPartition, the default and Watermill's model: one message in flight; the next
//     message of the partition is delivered only after the previous one was acked.
//   - OrderPerKey, the model of Confluent's Parallel Consumer and LINE's Decaton: up to
//     MaxInFlightPerPartition messages in flight, at most one per record key, so the order
//     holds per key; records without a key are ordered among themselves. The limit also
//     bounds the records held per partition while they wait for their key.
//
// A nacked message is delivered again, before any later message of its key (partition).
// Delivery is at least once: after a crash, a rebalance or an abandoned handler, messages
// acked but not yet committed are delivered again. A partition the group has no committed
// offset for starts where StartOffset says, resolved to an absolute offset and committed
// before the member delivers anything from it, so that a message held unacked there is not
// skipped by the next member (which would otherwise resolve "latest" anew).
//
// [RunLeased] runs a function in one process of several at a time, through a consumer
// group on a one-partition topic: the inbound side reads Dsco that way.
//
// A Subscriber's member, and a lease holder, stay in their group while they finish a
// generation that kafka-go ended (a rebalance, Close): kafka-go stops heartbeating then,
// and the group would drop the member one session later, while it still drains, commits
// or stops. They heartbeat for it at the group's coordinator until they are done, up to
// RebalanceTimeout in a rebalance. (kafka-go's Client misreads Heartbeat answers,
// segmentio/kafka-go#1371: they are read right here.)
//
// Besides Watermill's Subscribe, [Subscriber.Consume] hands records to a [RecordHandler]
// with a done callback, with the same ordering, commit and drain guarantees and no
// message, channel or goroutine per record: the outbound side consumes that way. Besides
// Publish, [Publisher.WriteRecords] writes records already built, to several topics in one
// write, through a [Producer]: one produce request per partition leader, each partition's
// records encoded once into it as one record batch (long values streamed from the
// caller's records, not copied), with kafka-go's Transport carrying the requests. The
// pipelines write whole batches that way (kafka-go's Writer, which Publish keeps for its
// cross-call batching, sends one request per partition and allocates per record); its
// guarantees are Publish's.
//
// Each partition is read by a [PartitionReader]: Fetch requests of its own to the
// partition's leader over a connection of its own, the next one sent as a response arrives,
// records decoded in the partition's goroutine, each record's bytes in one allocation of
// its own. kafka-go's Reader, which it replaces, hands every record from a goroutine over a
// channel and allocates each of its fields apart; the outbound pipeline, which reads two
// records per command (the command and, following the applied-ids topic, its mark), spent
// about a fifth of its CPU there. The outbound pipeline's TopicReader reads with it too.
//
// Both share [ConnectionConfig] (brokers, TLS, SASL PLAIN and SCRAM). Package kafkatest
// provides the brokers for tests: an in-process kfake cluster, or real Kafka when the
// KAFKA_BROKERS environment variable is set.
//
// [message.Publisher]: https://pkg.go.dev/github.com/ThreeDotsLabs/watermill/message#Publisher
// [message.Subscriber]: https://pkg.go.dev/github.com/ThreeDotsLabs/watermill/message#Subscriber
package kafka

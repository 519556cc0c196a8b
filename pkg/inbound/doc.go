// Package inbound is the Dsco → Kafka half of the connector: it reads Dsco
// event streams and writes every event to its object type's Kafka topic as
// an Avro record, and follows GetItemInventory's high-water mark into the
// item inventory topic.
//
// # Streams
//
// [Pipeline] first makes sure that a Dsco stream exists for every configured
// object type (EnsureStream: the oldest stream of the same object type and
// query, or a new one; idempotent across restarts and across processes
// starting at once). It then runs one worker per stream partition it owns.
// Which partitions a process owns is passed in (Config.Owns), never decided
// by a global: a consumer-group assignment can decide it later.
//
// # A page is the unit of work
//
// A worker reads GET /streams/{id}/events?position=&limit= as raw bytes: a
// partition's first read asks for 100 events, each later one for as many as
// fit in Config.PageBytes (1.5 MiB) at the size per event of the last page
// that had events, at most Config.PageLimit (1000, Dsco's maximum), so that a
// page's memory follows PageBytes and not the events' size; an answer larger
// than the Dsco client reads (64 MiB) is asked for again with half the
// limit. It decodes the page in one pass
// ([PageDecoder]), turns its events into Kafka records through the page
// middleware (recoverer, poison, correlation id, metrics: see [Chain] and
// pkg/router), and produces them in one kafka.Producer write (acks=all) per
// page: one produce request per partition leader. The next page is read
// while the previous one is published (the next position is in the answer),
// at most Config.PagesInFlight pages per partition and Config.MaxPagesInFlight
// over all partitions together, so memory is bounded whatever the backlog and
// the partition count. A page's body and decoded records are needed only
// until its records are built (Config.MaxPagesDecoding of them at once); its
// records until Kafka acknowledged them. Both kinds of buffers are reused by
// the next page read, of any partition. While a page says hasMore the next read follows at
// once, otherwise after Config.PollInterval.
//
// Each event becomes one record on dsco.<objecttype>.v1 (Config.TopicPrefix),
// keyed by the record's business key (order id, or sku for inventory and
// catalog) so that one key's events stay in order on one Kafka partition.
// Headers: dsco_event_id, dsco_event_type and correlation_id (the event id).
// An event that cannot be mapped goes to the poison topic (dsco.poison.v1)
// with its raw bytes and headers naming the reason, the stream, the partition
// and the position; the partition goes on. So does an event whose record
// would be larger than Kafka.BatchBytes (RecordTooLargeError); a poison
// record that large carries only the start of the raw bytes and the header
// dsco_truncated: true. An event whose JSON is broken makes its whole page
// invalid JSON, which cannot be split into events: the page is read again
// with fewer events, down to one, so that the events around the broken one
// are published as they are; read alone three times, that page goes to the
// poison topic whole and the partition goes on from the position the page
// names. A page naming no position that can be told apart from its events
// (or two) is read again until the stream's position is moved past it.
//
// # Delivery: at least once, duplicates bounded
//
// A stream position is committed (POST /streams/{id}/position) only once
// Kafka acknowledged every event of the page it ends and of every page before
// it: pages of a partition are published one after another, so the position
// of the last acknowledged page is always safe, and commits never move
// backwards. Commits are batched: every Config.CheckpointEvents events or
// Config.CheckpointInterval, whichever comes first, and once more on
// shutdown; a partition whose commits fall behind by CheckpointEvents waits
// for them before it produces more. After a crash the partition is read
// again from its last commit, so what Kafka acknowledged after that commit
// is written again: at most CheckpointEvents + 2 × PageLimit events per
// partition and crash (the page that crossed the mark and the page being
// produced), 5000 + 2000 with the defaults. A page whose produce fails is
// produced again after a backoff without the records Kafka acknowledged, so
// a partition of Kafka refusing records for a while does not repeat the
// others' (only a produce request whose answer was lost can leave a record
// in the log twice). Every record carries the Dsco event id for consumers
// that drop duplicates.
//
// # GetItemInventory
//
// [Poller] follows the high-water mark of GetItemInventory into
// dsco.iteminventory.v1. Its mark lives only in Kafka: a compacted topic
// holds the last mark written after the items before it were acknowledged.
// At start it reads that mark, asking again after a backoff while Kafka
// cannot answer (brokers down or restarting, a leader election); it gives
// up only when Kafka refuses the connector the topic for good (authorization
// or authentication; a refusal to create it is none when it was made
// beforehand) or refuses to create the missing topic as asked (a policy, a
// config or a replication factor the cluster rejects). It reads the
// answers (pages, or the file of resultType file) as raw bytes and decodes
// them in one pass (schemas.ItemInventoryDecoder), like the stream pages:
// unknown attributes reach Kafka byte-exact in extra, and an
// item that cannot be mapped goes to the poison topic with its raw bytes
// and the reason while the rest of the answer is delivered. A file line
// longer than the Dsco client reads (64 MiB) is such an item too: the
// download skips it in bounded memory, and its poison record holds its
// start (dsco_truncated) and a reason naming the file's request, the line
// and its length.
package inbound

package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// ErrTopicNotFound is returned by TopicReader.Read, wrapped with the topic's name, for a
// topic that does not exist.
var ErrTopicNotFound = errors.New("the topic does not exist")

// TopicReader reads a whole topic from its first offset without a consumer group, each
// partition with a kafka.PartitionReader: the applied-ids store loads and follows its topic
// with it, and the poison tools list the poison topic with it.
type TopicReader struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// Dialer connects to the brokers (TLS, SASL); nil is kafka-go's default dialer.
	Dialer *kafkago.Dialer
	// OffsetsTimeout bounds each partition's offsets request when the topic's ends are
	// listed (its load, the applied-ids store's CatchUp; default 30 s): a broker that
	// holds one unanswered (a host gone without closing its connections) fails the
	// listing instead of holding it until TCP gives the connection up, many minutes later.
	OffsetsTimeout time.Duration
	// view passes Read's fn records that point into the reader's buffers, valid only until
	// fn returns (kafka.PartitionReader.FetchView), saving the copy of each record and its
	// allocations: the applied-ids store, whose fn keeps nothing of them, reads so.
	view bool
	// created says the caller created the topic a moment ago, or was told by Kafka that it
	// exists (the applied-ids store, when its CreateTopic succeeded): a broker that does
	// not list it yet is asked again for a while, as one whose partitions have no leader
	// yet, instead of Read reporting ErrTopicNotFound.
	created bool
	// progress, when set, is told from each partition's goroutine that every record of
	// the partition before next was passed to Read's fn (and done with, see stage): with
	// 0 before the partition is read, then, once records were passed, as the reader waits
	// for more and as it reaches the end Read found, with the reader's offset after the
	// last (past the records a stand-in for a batch that does not decode holds, and past
	// those compaction removed at the end of a batch). The applied-ids store's CatchUp
	// waits on it.
	progress func(partition int, next int64)
	// stage, when set, is asked by each partition's goroutine for the functions it passes
	// the partition's records to in place of Read's fn: add, for each record, and done,
	// once the records passed so far must be done with: before progress is told of them,
	// before loaded is called, and whenever the reader waits for records
	// (kafka.PartitionReaderConfig.Idle). The applied-ids store puts its marks in chunks
	// so (see Store.follower).
	stage func() (add func(kafkago.Message), done func())
}

func (tr TopicReader) dialer() *kafkago.Dialer {
	if tr.Dialer != nil {
		return tr.Dialer
	}
	return &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true}
}

// dial connects to the first of Brokers that answers, in their order: any of them serves
// metadata, so one broker down (the first one listed, say) stops nothing.
func (tr TopicReader) dial(ctx context.Context) (*kafkago.Conn, error) {
	if len(tr.Brokers) == 0 {
		return nil, errors.New("no brokers given")
	}
	d := tr.dialer()
	var errs []error
	for _, b := range tr.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connecting to the brokers: %w", errors.Join(errs...))
}

// ends returns the topic's partitions and, for each, the offset after its last record at
// the time of the call. A topic created a moment ago has partitions whose leaders are not
// elected yet (real brokers answer NOT_LEADER_FOR_PARTITION or LEADER_NOT_AVAILABLE for a
// while), and brokers other than the controller learn of it a little later: such temporary
// answers are asked again until ctx ends or a minute passed. A topic no broker knows is
// ErrTopicNotFound at once, unless tr.created.
func (tr TopicReader) ends(ctx context.Context, topic string) (map[int]int64, error) {
	giveUp := time.Now().Add(time.Minute)
	for {
		ends, err := tr.endsOnce(ctx, topic)
		var kerr kafkago.Error
		temporary := errors.As(err, &kerr) && kerr.Temporary() || tr.created && errors.Is(err, ErrTopicNotFound)
		if err == nil || !temporary || time.Now().After(giveUp) {
			return ends, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (tr TopicReader) endsOnce(ctx context.Context, topic string) (map[int]int64, error) {
	d := tr.dialer()
	parts, err := tr.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(parts))
	for _, p := range parts {
		leader := net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port))
		lc, err := d.DialLeader(ctx, "tcp", leader, topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("outbound: connecting to the leader of %s/%d: %w", topic, p.ID, err)
		}
		// ReadOffsets takes no context: the connection's deadline ends it with ctx, or
		// after OffsetsTimeout.
		timeout := tr.OffsetsTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		_ = lc.SetDeadline(time.Now().Add(timeout))
		stop := context.AfterFunc(ctx, func() { _ = lc.SetDeadline(time.Now()) })
		first, last, err := lc.ReadOffsets()
		stop()
		_ = lc.Close()
		if err != nil {
			return nil, fmt.Errorf("outbound: reading the offsets of %s/%d: %w", topic, p.ID, err)
		}
		if last > first {
			ends[p.ID] = last
		} else {
			ends[p.ID] = -1 // empty
		}
	}
	return ends, nil
}

// partitions returns the partitions of topic, each with its leader, as the first of
// Brokers that answers lists them (any of them serves metadata, so one broker down, the
// first one listed say, stops nothing); ErrTopicNotFound when it does not list the topic.
// Its metadata request asks for no topic to be created: kafka-go's Conn.ReadPartitions
// asks brokers that create topics on first use to create one they do not know.
func (tr TopicReader) partitions(ctx context.Context, topic string) ([]kafkago.Partition, error) {
	if len(tr.Brokers) == 0 {
		return nil, errors.New("outbound: no brokers given")
	}
	d := tr.dialer()
	// A transport of its own, for this topic alone, with the dialer's connection settings:
	// one whose metadata cache lists every topic would leave out a topic the credentials
	// may not describe, as if it did not exist (see kafka.TopicsTransport).
	t := kafka.TopicsTransport(&kafkago.Transport{ClientID: d.ClientID, DialTimeout: d.Timeout, TLS: d.TLS,
		SASL: d.SASLMechanism, Dial: d.DialFunc}, topic)
	defer t.CloseIdleConnections()
	var md *kafkago.MetadataResponse
	var errs []error
	for _, b := range tr.Brokers {
		var err error
		md, err = (&kafkago.Client{Addr: kafkago.TCP(b), Transport: t}).Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, kafka.ClientError(err)))
		if ctx.Err() != nil {
			break
		}
	}
	if md == nil {
		return nil, fmt.Errorf("outbound: reading the metadata of %s from the brokers: %w", topic, errors.Join(errs...))
	}
	for _, mt := range md.Topics {
		if mt.Name != topic {
			continue
		}
		if errors.Is(mt.Error, kafkago.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("outbound: reading %s: %w", topic, ErrTopicNotFound)
		}
		if mt.Error != nil {
			return nil, fmt.Errorf("outbound: reading the metadata of %s: %w", topic, mt.Error)
		}
		for _, p := range mt.Partitions {
			if p.Leader.Host == "" { // no leader (elected) yet
				err := p.Error
				if err == nil {
					err = kafkago.LeaderNotAvailable
				}
				return nil, fmt.Errorf("outbound: reading the metadata of %s/%d: %w", topic, p.ID, err)
			}
		}
		return mt.Partitions, nil
	}
	return nil, fmt.Errorf("outbound: reading %s: %w", topic, ErrTopicNotFound)
}

// CreateTopic creates topic with the given partitions (replication factor: the broker's
// default) and config entries ("cleanup.policy": "compact"); an existing topic is left as
// it is. Every error names the topic. Kafka's refusals are returned wrapping its code: a
// refusal of the right to create topics (kafkago.TopicAuthorizationFailed,
// kafkago.ClusterAuthorizationFailed) comes for an existing topic too, so it says nothing
// of whether the topic exists.
func (tr TopicReader) CreateTopic(ctx context.Context, topic string, partitions int, configs map[string]string) error {
	d := tr.dialer()
	conn, err := tr.dial(ctx)
	if err != nil {
		return fmt.Errorf("outbound: creating topic %s: %w", topic, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("outbound: creating topic %s: finding the controller: %w", topic, err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("outbound: creating topic %s: connecting to the controller: %w", topic, err)
	}
	defer cc.Close()
	tc := kafkago.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	if err := cc.CreateTopics(tc); err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("outbound: creating topic %s: %w", topic, err)
	}
	return nil
}

// Read calls fn for every record of topic, partition by partition in offset order
// (partitions concurrently, fn is called from one goroutine per partition). It returns
// once every record that existed when it was called was passed to fn, unless follow is
// set: then loaded is called at that point, and Read goes on passing new records until
// ctx ends, and returns ctx's error. Following, a partition read to its end is fetched
// from with the broker asked to wait for records to gather (64 KiB, or 100 ms after the
// fetch came): new records reach fn in bulk, each up to 100 ms after it was written.
// Without follow, ctx ending before every record was passed is an error too (fn saw part
// of the topic). A topic that does not exist is an error wrapping ErrTopicNotFound,
// returned before fn or loaded is called; Read never creates a topic, not even where
// brokers create topics on first use (CreateTopic does).
func (tr TopicReader) Read(ctx context.Context, topic string, follow bool, loaded func(), fn func(kafkago.Message)) error {
	ends, err := tr.ends(ctx, topic)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(ends))
	// done is closed once every partition was read to its end: counted down, not waited
	// for by a goroutine, which a partition that never gets there would leave behind.
	done := make(chan struct{})
	var unloaded atomic.Int64
	if unloaded.Store(int64(len(ends))); len(ends) == 0 {
		close(done)
	}
	for p, end := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			loaded := func() {
				once.Do(func() {
					if unloaded.Add(-1) == 0 {
						close(done)
					}
				})
			}
			if err := tr.readPartition(ctx, topic, p, end, follow, loaded, fn); err != nil {
				errc <- err
			}
		}()
	}
	select {
	case <-done:
		if loaded != nil {
			loaded()
		}
	case err := <-errc:
		cancel()
		wg.Wait()
		return err
	case <-ctx.Done():
		select {
		case <-done: // read to the end all the same
		default:
			if !follow {
				wg.Wait()
				return fmt.Errorf("outbound: reading %s: stopped before its end, with part of its records read: %w", topic, context.Cause(ctx))
			}
		}
	}
	if !follow {
		cancel()
		wg.Wait()
		return nil
	}
	// Following: a partition whose reader fails ends the whole Read with its error,
	// so that the caller (the applied-ids store) does not go on with a partition
	// nobody reads any more.
	select {
	case err := <-errc:
		cancel()
		wg.Wait()
		return err
	case <-ctx.Done():
		wg.Wait()
		return ctx.Err()
	}
}

// What a follow asks of each fetch once it has read a partition to the end (see
// readPartition): the broker answers once followMinBytes of records are there, or
// followMaxWait after the fetch came. The applied-ids store's marks, a few per Dsco call,
// reach its follow up to followMaxWait late, which Store.CatchUp waits for at most.
const (
	followMinBytes = 64 << 10
	followMaxWait  = 100 * time.Millisecond
)

func (tr TopicReader) readPartition(ctx context.Context, topic string, p int, end int64, follow bool, loaded func(), fn func(kafkago.Message)) error {
	progress := tr.progress
	if progress == nil {
		progress = func(int, int64) {}
	}
	progress(p, 0)
	done := func() {}
	if tr.stage != nil {
		fn, done = tr.stage()
	}
	// told is the offset progress was last told, next the reader's offset after the last
	// record passed to fn: settle has done with the records before it, and tells progress.
	told, next := int64(0), int64(0)
	settle := func() {
		done()
		if next > told {
			progress(p, next)
			told = next
		}
	}
	if end < 0 {
		loaded()
		if !follow {
			return nil
		}
	}
	// Up to the end, each fetch is answered as soon as there are records: reading once
	// (`poison list`), or the store's load, does not wait at the end of a partition.
	// Following, the broker waits for records to gather (followMinBytes): each fetch
	// answered at once brought the few marks written since the one before, a fetch per
	// Dsco call or so.
	reader := func(following bool, from int64) *kafka.PartitionReader {
		cfg := kafka.PartitionReaderConfig{Brokers: tr.Brokers, Dialer: tr.dialer(), Topic: topic, Partition: p,
			MaxWait: 250 * time.Millisecond, Idle: settle}
		if following {
			cfg.MinBytes, cfg.MaxWait = followMinBytes, followMaxWait
		}
		r := kafka.NewPartitionReader(cfg)
		r.SetOffset(from)
		return r
	}
	reached := end < 0
	r := reader(reached, kafkago.FirstOffset) // records are read from the first retained one
	defer func() { _ = r.Close() }()
	for {
		var m kafkago.Message
		var err error
		if tr.view {
			m, err = r.FetchView(ctx)
		} else {
			m, err = r.FetchMessage(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("outbound: reading %s/%d: %w", topic, p, err)
		}
		fn(m)
		// The reader's offset, not m's: a record that stands for a batch that does not
		// decode is at the batch's first offset, and the batch may end the partition.
		next = r.Offset()
		if !reached && next >= end {
			settle()
			reached = true
			loaded()
			if !follow {
				return nil
			}
			_ = r.Close()
			r = reader(true, next)
		}
	}
}

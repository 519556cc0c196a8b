package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// ErrClosed is returned by Run and RunPartitions called after Close.
var ErrClosed = errors.New("inbound: pipeline closed")

// KafkaConfig is where and how the pipeline produces.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers. Required.
	Brokers []string
	// Transport carries the produce requests (TLS, SASL); nil means a
	// kafka-go Transport of the pipeline's own with MetadataTTL. The
	// Poller reads its mark topic on a kafka-go Transport of its own, for
	// that topic alone, with this one's connection settings when it is a
	// *kafkago.Transport (another RoundTripper it uses as it is).
	Transport kafkago.RoundTripper
	// MetadataTTL is how long the own transport caches topic metadata
	// (default 2s); a write to a topic created meanwhile is retried for up
	// to twice as long.
	MetadataTTL time.Duration
	// BatchBytes bounds one partition's record batch, and so the largest
	// record (default 1 MiB, the broker's default; see kafka.RecordBatchSize):
	// an event whose record is larger goes to the poison topic.
	BatchBytes int64
	// WriteTimeout bounds each produce request (default 10s); MaxAttempts is
	// how often the producer sends a batch before the page's write fails
	// (default 10), after which the page's records that Kafka did not
	// acknowledge are produced again after a backoff.
	WriteTimeout time.Duration
	MaxAttempts  int
	// AllowAutoTopicCreation lets the broker create missing topics.
	AllowAutoTopicCreation bool
}

// Config configures a Pipeline.
type Config struct {
	// Client is the Dsco client. Required.
	Client *dsco.Client
	// Serde encodes the records; Register must have succeeded for the event
	// records of Streams. Required.
	Serde *schemas.Serde
	// NewDecoder returns the page decoder of an object type (default
	// NewEventPageDecoder).
	NewDecoder NewDecoderFunc
	// Streams are the streams to read, one per object type. Required.
	Streams []StreamConfig
	// Owns says whether this process reads partition of the stream of
	// objectType; nil means every partition. A consumer-group assignment
	// can decide it; RunPartitions runs an explicit set instead.
	Owns func(objectType string, partition int) bool
	// Kafka is where the records go. Required: Kafka.Brokers.
	Kafka KafkaConfig
	// TopicPrefix and TopicSuffix name each object type's topic:
	// TopicPrefix + objectType + TopicSuffix (default "dsco." and ".v1").
	TopicPrefix, TopicSuffix string
	// PoisonTopic receives the events that cannot be mapped (default
	// dsco.poison.v1).
	PoisonTopic string
	// Middleware wraps the page handler, outermost first (default
	// DefaultMiddleware; pkg/router adds metrics).
	Middleware []PageMiddleware
	// Metrics receives measurements (default NopMetrics).
	Metrics Metrics

	// PageLimit is the most events a read asks for (default 1000, Dsco's
	// maximum).
	PageLimit int
	// PageBytes is the body size a read aims at (default 1.5 MiB), so that
	// the memory pages take follows it and not the events' size: a
	// partition's first read asks for at most 100 events, and each later
	// one for as many as fit in PageBytes at the last page's bytes per
	// event (at least 1, at most PageLimit). 1000 order events of 5 lines
	// take about 1.5 MB, so they come 1000 to a page; orders carrying 20
	// unknown attributes per object (5.4 KB each) come about 290 to a page,
	// and pages in flight hold no more memory for it. Smaller pages cost a
	// Dsco round trip per fewer events: where Dsco's latency bounds a
	// partition's rate, it is PageBytes over that latency. A page without
	// events keeps the limit. A body buffer grown past twice PageBytes (a
	// page of events larger than their predecessors) is not kept for the
	// next read, nor the decoder that points into it.
	PageBytes int
	// PollInterval is the wait after a page without hasMore, or one that
	// brings no event and leaves the position where it was (default 1s).
	PollInterval time.Duration
	// PagesInFlight caps the pages of a partition read and not yet
	// acknowledged by Kafka (default 2: one being produced, one read ahead).
	PagesInFlight int
	// MaxPagesInFlight caps the pages read and not yet acknowledged of all
	// partitions together (default 3), and so the pipeline's memory
	// whatever the partition count. A page in flight holds its records
	// (with 1000 order events of 5 lines, about 1 MB); the buffers of an
	// acknowledged page are reused by the next page read, of any
	// partition. A partition waits for a free page when the others hold
	// them all; waiting partitions get their turn in order.
	MaxPagesInFlight int
	// MaxPagesDecoding caps the pages being read, decoded and mapped to
	// records at once over all partitions (default 2, at most
	// MaxPagesInFlight): each holds the page's body and decoded records
	// (about 3 MB with 1000 order events of 5 lines), which go back to the
	// pool, for the next read of any partition, once the page's records are
	// built.
	MaxPagesDecoding int
	// CheckpointEvents and CheckpointInterval batch the position commits:
	// a commit after that many acknowledged events or that long after the
	// first uncommitted one, whichever comes first (defaults 5000 and 1s).
	CheckpointEvents   int
	CheckpointInterval time.Duration
	// RetryBackoff and RetryBackoffMax bound the waits between failed reads
	// or produce calls of a partition, after the Dsco client's own retries
	// (defaults 200ms and 10s).
	RetryBackoff, RetryBackoffMax time.Duration
	// ShutdownTimeout bounds, once Run's context is done or a partition
	// cannot go on, the wait for the page being produced (three quarters of
	// it) and the final commit of every partition, all at once (default
	// 10s). Close waits for Run at most this long plus one second.
	ShutdownTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.TopicPrefix == "" {
		c.TopicPrefix = "dsco."
	}
	if c.TopicSuffix == "" {
		c.TopicSuffix = ".v1"
	}
	if c.PoisonTopic == "" {
		c.PoisonTopic = "dsco.poison.v1"
	}
	if c.NewDecoder == nil {
		c.NewDecoder = NewEventPageDecoder
	}
	if c.Middleware == nil {
		c.Middleware = DefaultMiddleware()
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	if c.PageLimit == 0 {
		c.PageLimit = 1000
	}
	if c.PageBytes == 0 {
		c.PageBytes = 3 << 19 // 1.5 MiB
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.PagesInFlight == 0 {
		c.PagesInFlight = 2
	}
	if c.MaxPagesInFlight == 0 {
		c.MaxPagesInFlight = 3
	}
	if c.MaxPagesDecoding == 0 {
		c.MaxPagesDecoding = min(2, c.MaxPagesInFlight)
	}
	if c.CheckpointEvents == 0 {
		c.CheckpointEvents = 5000
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = 10 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	for i := range c.Streams {
		c.Streams[i].setDefaults()
	}
	c.Kafka.setDefaults()
}

func (k *KafkaConfig) setDefaults() {
	if k.BatchBytes == 0 {
		k.BatchBytes = 1 << 20
	}
	if k.WriteTimeout == 0 {
		k.WriteTimeout = 10 * time.Second
	}
	if k.MaxAttempts == 0 {
		k.MaxAttempts = 10
	}
	if k.MetadataTTL == 0 {
		k.MetadataTTL = 2 * time.Second
	}
}

// Validate reports whether the configuration is usable.
func (c *Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("missing Client"))
	}
	if c.Serde == nil {
		errs = append(errs, errors.New("missing Serde"))
	}
	if len(c.Streams) == 0 {
		errs = append(errs, errors.New("no Streams: name at least one object type"))
	}
	seen := map[string]bool{}
	for _, s := range c.Streams {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.ObjectType] {
			errs = append(errs, fmt.Errorf("object type %q appears twice in Streams", s.ObjectType))
		}
		seen[s.ObjectType] = true
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("Kafka.Brokers is required"))
	}
	if c.PageLimit < 1 || c.PageLimit > 1000 {
		errs = append(errs, fmt.Errorf("PageLimit %d is not within 1..1000", c.PageLimit))
	}
	if c.PageBytes < 1 {
		errs = append(errs, fmt.Errorf("PageBytes %d must be at least 1", c.PageBytes))
	}
	if c.PagesInFlight < 1 {
		errs = append(errs, fmt.Errorf("PagesInFlight %d must be at least 1", c.PagesInFlight))
	}
	if c.MaxPagesInFlight < 1 {
		errs = append(errs, fmt.Errorf("MaxPagesInFlight %d must be at least 1", c.MaxPagesInFlight))
	}
	if c.MaxPagesDecoding < 1 || c.MaxPagesDecoding > max(c.MaxPagesInFlight, 1) {
		errs = append(errs, fmt.Errorf("MaxPagesDecoding %d is not within 1..MaxPagesInFlight (%d)", c.MaxPagesDecoding, c.MaxPagesInFlight))
	}
	if c.CheckpointEvents < 1 {
		errs = append(errs, fmt.Errorf("CheckpointEvents %d must be at least 1", c.CheckpointEvents))
	}
	for name, d := range map[string]time.Duration{
		"PollInterval": c.PollInterval, "CheckpointInterval": c.CheckpointInterval, "RetryBackoff": c.RetryBackoff,
		"RetryBackoffMax": c.RetryBackoffMax, "ShutdownTimeout": c.ShutdownTimeout,
		"Kafka.WriteTimeout": c.Kafka.WriteTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v must not be negative", name, d))
		}
	}
	if c.Kafka.BatchBytes < 0 || c.Kafka.MaxAttempts < 0 {
		errs = append(errs, errors.New("Kafka.BatchBytes and Kafka.MaxAttempts must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("inbound: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// Topic returns the event topic of an object type.
func (c *Config) Topic(objectType string) string { return c.TopicPrefix + objectType + c.TopicSuffix }

// Pipeline reads Dsco streams into Kafka. Run runs it, and may run it again
// once it returned (the inbound lease came back); Close stops it. Its
// methods are safe for concurrent use.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	writer  *writer
	handler PageHandler
	slots   *pool[slot]    // pages in flight
	bufs    *pool[pageBuf] // pages being read and decoded

	mu      sync.Mutex
	cancel  context.CancelCauseFunc
	running bool
	closed  bool
	done    chan struct{}
}

// NewPipeline returns a Pipeline for cfg. It does not connect: Run does. A
// nil logger discards.
func NewPipeline(cfg Config, logger *slog.Logger) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w, err := newWriter(cfg.Kafka, logger)
	if err != nil {
		return nil, fmt.Errorf("inbound: %w", err)
	}
	return &Pipeline{
		cfg:     cfg,
		log:     logger,
		writer:  w,
		handler: Chain(encodeEvents, cfg.Middleware...),
		slots:   newSlotPool(cfg.MaxPagesInFlight),
		bufs:    newPageBufPool(cfg.MaxPagesDecoding, cfg.NewDecoder),
		done:    make(chan struct{}),
	}, nil
}

// Assignment is one stream partition a worker reads.
type Assignment struct {
	Stream    StreamInfo
	Partition int
}

// Bootstrap makes sure every configured stream exists (EnsureStream) and,
// for a stream with StartLatest, skips the events retained when it was
// created in every partition that has not been read past them, whichever
// process created it (see StartLatest). It returns the streams in the order
// of Config.Streams. Run calls it.
func (p *Pipeline) Bootstrap(ctx context.Context) ([]StreamInfo, error) {
	out := make([]StreamInfo, 0, len(p.cfg.Streams))
	for _, sc := range p.cfg.Streams {
		s, err := EnsureStream(ctx, p.cfg.Client, sc)
		if err != nil {
			return nil, err
		}
		if sc.Start == StartLatest {
			if s.CreatedAt.IsZero() {
				return nil, fmt.Errorf("inbound: stream %s has no createdAt: StartLatest cannot tell the retained events", s.ID)
			}
			for part := range s.Partitions {
				if err := skipRetained(ctx, p.cfg.Client, s, part); err != nil {
					return nil, err
				}
			}
		}
		p.log.InfoContext(ctx, "inbound: stream ready", "objectType", s.ObjectType, "stream", s.ID,
			"partitions", s.Partitions, "created", s.Created)
		out = append(out, s)
	}
	return out, nil
}

// bootstrapUntilDone is Bootstrap, asked again while Dsco cannot be reached
// or answers with a status worth retrying (a deploy during a Dsco outage
// waits for Dsco rather than exiting): after RetryBackoff, growing to
// RetryBackoffMax. Anything else ends it: refused credentials or rights, an
// invalid stream, ctx ending.
func (p *Pipeline) bootstrapUntilDone(ctx context.Context) ([]StreamInfo, error) {
	backoff := newBackoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax)
	fails := newStreak()
	for {
		streams, err := p.Bootstrap(ctx)
		if err == nil {
			logWorks(ctx, p.log, &fails, "inbound: setting up the Dsco streams works again")
		}
		if err == nil || ctx.Err() != nil || !transient(err) {
			return streams, err
		}
		delay := backoff.next()
		logFailure(ctx, p.log, &fails, "inbound: setting up the Dsco streams failed; trying again", err, slog.Duration("delay", delay))
		if sleepCtx(ctx, delay) != nil {
			return nil, ctx.Err()
		}
	}
}

// transient reports whether err, from setting up a stream, may pass by
// itself: what the Dsco client calls retryable (the network, 408, 429, 5xx),
// or a createStream whose outcome is unknown (EnsureStream lists the streams
// before creating one again).
func transient(err error) bool {
	return dsco.IsRetryable(err) || errors.Is(err, dsco.ErrOutcomeUnknown)
}

// Run bootstraps the streams (asking again while Dsco cannot be reached)
// and reads every partition Config.Owns gives this process until ctx is
// done or Close is called; then it finishes the
// page being produced, commits the last safe position of each partition
// and returns nil, also when that happens during the bootstrap. With no
// partition to read it waits all the same, so that a process that owns
// none (one that only polls item inventory beside it) keeps running. Run
// after Close returns ErrClosed. It returns an error when a partition cannot
// go on: Dsco refuses its reads or its position commits with a status that
// retrying cannot mend (its position expired, the stream is gone, a
// position or partition Dsco does not know, credentials or rights it
// refuses), or one of its events alone is larger than the Dsco client
// reads. All partitions then stop as they do when ctx ends, the others
// without waiting for that one to finish its page and final commit, so that
// their time limits run together. Run returns the first such failure; those
// of other partitions after it, or while Run stops, are logged at error
// level.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, err := p.start(ctx)
	if err != nil {
		return err
	}
	defer p.finish()
	streams, err := p.bootstrapUntilDone(ctx)
	if err != nil {
		return p.result(ctx, err)
	}
	var as []Assignment
	for _, s := range streams {
		for part := range s.Partitions {
			if p.cfg.Owns == nil || p.cfg.Owns(s.ObjectType, part) {
				as = append(as, Assignment{Stream: s, Partition: part})
			}
		}
	}
	return p.result(ctx, p.runPartitions(ctx, as))
}

// RunPartitions reads the given partitions, of streams Bootstrap returned,
// as Run does (also waiting when there are none): the entry point for an
// owner decided elsewhere.
func (p *Pipeline) RunPartitions(ctx context.Context, as []Assignment) error {
	ctx, err := p.start(ctx)
	if err != nil {
		return err
	}
	defer p.finish()
	return p.result(ctx, p.runPartitions(ctx, as))
}

func (p *Pipeline) start(ctx context.Context) (context.Context, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.running {
		return nil, errors.New("inbound: the pipeline is already running")
	}
	p.running = true
	ctx, p.cancel = context.WithCancelCause(ctx)
	return ctx, nil
}

func (p *Pipeline) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel(nil)
	p.running = false
	close(p.done)
	p.done = make(chan struct{})
}

// result is what Run returns for err once it stopped: nil when err is only
// ctx ending. The Dsco client returns the cause of ctx (ErrClosed after
// Close, or whatever cause the caller cancelled with), not always
// context.Canceled.
func (p *Pipeline) result(ctx context.Context, err error) error {
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Cause(ctx))) {
		return nil
	}
	return err
}

func (p *Pipeline) runPartitions(ctx context.Context, as []Assignment) error {
	if len(as) == 0 {
		p.log.InfoContext(ctx, "inbound: no partition to read; waiting until stopped")
		<-ctx.Done()
		return nil
	}
	// ctx ends, too, when a partition cannot go on: the others stop at once,
	// while it finishes, so that every partition's time limits run together.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	// fail records the first failure and ends ctx. A failure after it, or
	// after Run was stopped, is not returned: it is logged, so that the
	// operator learns of every partition Dsco refused for good, not only the
	// first (the error names the stream, partition and position).
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		switch {
		case ctx.Err() == nil:
			firstErr = err
			cancel(err)
		case firstErr != nil:
			p.log.LogAttrs(context.Background(), slog.LevelError, "inbound: a partition cannot go on (besides the failure already reported)",
				slog.Any("error", err))
		default:
			p.log.LogAttrs(context.Background(), slog.LevelError, "inbound: a partition cannot go on (while stopping)", slog.Any("error", err))
		}
	}
	for _, a := range as {
		w := p.newWorker(a)
		wg.Go(func() { w.run(ctx, fail) })
	}
	wg.Wait()
	return firstErr
}

// Close stops Run and waits for it to return, at most ShutdownTimeout plus
// one second. It is idempotent, and also closes the Kafka writer.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	running, done := p.running, p.done
	if p.cancel != nil {
		p.cancel(ErrClosed)
	}
	p.mu.Unlock()
	var err error
	if running {
		select {
		case <-done:
		case <-time.After(p.cfg.ShutdownTimeout + time.Second):
			err = errors.New("inbound: closing: Run did not return in time")
		}
	}
	if cerr := p.writer.close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("inbound: closing the Kafka writer: %w", cerr))
	}
	return err
}

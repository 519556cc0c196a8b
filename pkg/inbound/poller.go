package inbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// ItemInventoryObjectType is the object type of the poller's records.
const ItemInventoryObjectType = "iteminventory"

// callbackTokenHeader carries the secret the poller gives Dsco with each
// file request; a callback without it is refused.
const callbackTokenHeader = "X-Connector-Callback-Token"

// PollerConfig configures a Poller.
type PollerConfig struct {
	// Client is the Dsco client. Required.
	Client *dsco.Client
	// Serde encodes the records; Register must have succeeded for
	// ItemInventoryEvent. Required.
	Serde *schemas.Serde
	// Kafka is where the records and the marks go. Required: Kafka.Brokers.
	Kafka KafkaConfig
	// Topic receives the items (default dsco.iteminventory.v1); PoisonTopic
	// the items that cannot be mapped (default dsco.poison.v1).
	Topic, PoisonTopic string
	// MarkTopic is the compacted topic that holds the high-water mark
	// (default dsco.iteminventory.marks.v1; created compacted with one
	// partition when missing, so where Kafka refuses the connector the right
	// to create topics, make it beforehand), under MarkKey (default
	// "iteminventory"): give each poller with another query a key of its
	// own.
	MarkTopic, MarkKey string
	// Start is the highWaterMarkQuery of the first poll, when no mark is
	// stored: an ISO 8601 date (default 1970-01-01T00:00:00.000Z: every
	// change Dsco retains).
	Start string
	// ResultType is objects (paged answers, the default) or file (Dsco
	// generates a file and calls back; the poller serves the callback).
	ResultType dsco.ResultType
	// Limit is the page size of objects polls (default 1000). An answer
	// larger than the Dsco client reads (64 MiB) is asked for again with
	// half the limit, and the run goes on with the limit that fits.
	Limit int
	// DscoSupplierID and DscoSupplierTradingPartnerID filter a retailer's
	// polls by supplier.
	DscoSupplierID               int64
	DscoSupplierTradingPartnerID string
	// PollInterval is the wait after a poll that returned everything, or
	// one that brought no item and left the mark where it was (default 10s).
	PollInterval time.Duration
	// CallbackAddr is where the file callback is served (file mode;
	// default 127.0.0.1:0, a free loopback port). CallbackURL is the URL
	// Dsco posts to (default http://<the listener's address>/callback).
	CallbackAddr, CallbackURL string
	// FileTimeout bounds the wait for a file callback (default 10m).
	FileTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the waits after failed polls,
	// and after failed reads of the stored mark at start (defaults 1s and
	// 1m).
	RetryBackoff, RetryBackoffMax time.Duration
	// Metrics receives measurements (default NopMetrics).
	Metrics Metrics
	// CloseTimeout bounds Close (default 10s).
	CloseTimeout time.Duration
}

func (c *PollerConfig) setDefaults() {
	if c.Topic == "" {
		c.Topic = "dsco.iteminventory.v1"
	}
	if c.PoisonTopic == "" {
		c.PoisonTopic = "dsco.poison.v1"
	}
	if c.MarkTopic == "" {
		c.MarkTopic = "dsco.iteminventory.marks.v1"
	}
	if c.MarkKey == "" {
		c.MarkKey = ItemInventoryObjectType
	}
	if c.Start == "" {
		c.Start = "1970-01-01T00:00:00.000Z"
	}
	if c.ResultType == "" {
		c.ResultType = dsco.ResultObjects
	}
	if c.Limit == 0 {
		c.Limit = 1000
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.CallbackAddr == "" {
		c.CallbackAddr = "127.0.0.1:0"
	}
	if c.FileTimeout == 0 {
		c.FileTimeout = 10 * time.Minute
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = time.Second
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = time.Minute
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 10 * time.Second
	}
	c.Kafka.setDefaults()
}

// Validate reports whether the configuration is usable.
func (c *PollerConfig) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("missing Client"))
	}
	if c.Serde == nil {
		errs = append(errs, errors.New("missing Serde"))
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("missing Kafka.Brokers"))
	}
	if c.ResultType != dsco.ResultObjects && c.ResultType != dsco.ResultFile {
		errs = append(errs, fmt.Errorf("ResultType %q is neither objects nor file", c.ResultType))
	}
	if c.Limit < 1 || c.Limit > 1000 {
		errs = append(errs, fmt.Errorf("limit %d is not within 1..1000", c.Limit))
	}
	q := c.query(c.Start)
	q.ResultType = dsco.ResultObjects
	if err := q.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PollInterval < 0 || c.FileTimeout < 0 || c.RetryBackoff < 0 || c.RetryBackoffMax < 0 || c.CloseTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("inbound: invalid poller config: %w", errors.Join(errs...))
	}
	return nil
}

func (c *PollerConfig) query(mark string) dsco.InventoryQuery {
	return dsco.InventoryQuery{HighWaterMarkQuery: mark, DscoSupplierID: c.DscoSupplierID,
		DscoSupplierTradingPartnerID: c.DscoSupplierTradingPartnerID}
}

// Poller follows GetItemInventory's high-water mark into the item
// inventory topic. After each page (objects) or file, once Kafka has
// acknowledged its items, it stores the mark in the compacted mark topic;
// after a restart it resumes from the stored mark, so delivery is at least
// once and a clean restart repeats nothing. In file mode the mark is the
// newest lastUpdate of the file's items: the changes of that millisecond
// are in the next file again and skipped (after a restart, delivered
// again).
//
// Answers are read as raw bytes and decoded in one pass by
// schemas.ItemInventoryDecoder, as the stream workers decode their pages:
// unknown attributes, of the item and of its warehouses, go to the records'
// extra fields byte-exact. An item that cannot be mapped (a value of the
// wrong type or out of range, no sku, a file line that is not JSON) or whose
// record would be larger than Kafka.BatchBytes goes to the poison topic with
// its raw bytes, the reason and where it was read (dsco_position: the mark
// of its page, or the file's request id and the item's line, see
// HeaderPosition), and the poll goes on. So does a file line
// longer than the Dsco client reads into memory (64 MiB, see
// dsco.WithMaxFileLine), which the download skips without holding it: its
// poison record holds the line's start, with the header dsco_truncated, and
// a reason naming the file's request, the line and its length; like the
// other poisoned items it does not move the mark, and a later file that
// repeats it unchanged does not poison it again. Each record's event id
// is derived from the item's sku, lastUpdate and raw bytes, so repeated
// deliveries of a change carry the same id.
//
// Run runs it, and may run it again once it returned (the inbound lease came
// back); Close stops it. Its methods are safe for concurrent use.
type Poller struct {
	cfg    PollerConfig
	log    *slog.Logger
	writer *writer
	marks  *markStore

	// Run's own, one poll at a time: the decoder, the last objects answer,
	// the items of the batch being produced, and the buffers of its
	// messages (reused once Kafka acknowledged them).
	dec    *schemas.ItemInventoryDecoder
	body   []byte
	batch  []polledItem
	out    pollerMessages
	newest time.Time // the newest lastUpdate Kafka acknowledged
	limit  int       // the limit of objects polls: Limit, or less once an answer was too large

	// file mode
	ln        net.Listener
	srv       *http.Server
	token     string
	cbMu      sync.Mutex
	callbacks map[string]string // request id -> file URL
	// edge holds the sums (rawSum) of the items of the last file's newest
	// millisecond, and of the items it poisoned: the next file starts at
	// that millisecond and repeats them, so they are skipped (after a
	// restart they are delivered again).
	edge      map[uint64]struct{}
	cbChanged chan struct{} // closed and replaced on every callback

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	running bool
	closed  bool
}

// polledItem is an item of an answer with the FNV-1a sum of its raw bytes,
// its identity: the same change read twice has the same bytes.
type polledItem struct {
	schemas.DecodedItem
	sum uint64
	// truncated says that Raw is only the start of the item's bytes (a file
	// line too long to read, whose sum is that of all its bytes).
	truncated bool
	// line is the number of the item's line in its file, from 1 (0 for an
	// item of a page): with the file's request id, the item's place, which
	// its poison record names (filePosition).
	line int64
}

// filePosition is the dsco_position of a poison record of an item of an
// inventory file: the request id of the file and the item's line in it,
// from 1, as "<requestId>:<line>" (the line follows the last colon).
func filePosition(dst []byte, requestID string, line int64) []byte {
	dst = append(append(dst, requestID...), ':')
	return strconv.AppendInt(dst, line, 10)
}

// rawSum is the sum of an item's raw bytes: FNV-1a, 64 bits, as the sum of
// a dsco.LineTooLongError.
func rawSum(raw []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return h.Sum64()
}

// pollerMessages are the Kafka messages of one produce call and the buffers
// they point into.
type pollerMessages struct {
	msgs        []kafkago.Message
	recordArena // keys, values, header values and header slices of msgs
	rec         schemas.ItemInventoryEvent
	id          []byte    // the event id being built
	newest      time.Time // the newest lastUpdate of the records (not the poisoned)
}

// NewPoller returns a Poller. In file mode it starts listening for
// callbacks at once, so that CallbackURL is known.
func NewPoller(cfg PollerConfig, logger *slog.Logger) (*Poller, error) {
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
	p := &Poller{cfg: cfg, log: logger, writer: w, done: make(chan struct{}), dec: schemas.NewItemInventoryDecoder(),
		marks: newMarkStore(cfg.Kafka, w, cfg.MarkTopic)}
	if cfg.ResultType == dsco.ResultFile {
		ln, err := net.Listen("tcp", cfg.CallbackAddr)
		if err != nil {
			return nil, fmt.Errorf("inbound: listening for inventory file callbacks on %s: %w", cfg.CallbackAddr, err)
		}
		var b [16]byte
		_, _ = rand.Read(b[:])
		p.ln, p.token = ln, hex.EncodeToString(b[:])
		p.callbacks, p.cbChanged = map[string]string{}, make(chan struct{})
		if p.cfg.CallbackURL == "" {
			p.cfg.CallbackURL = "http://" + ln.Addr().String() + "/callback"
		}
		// Dsco's callback is one small request: a connection holds no more than that.
		p.srv = &http.Server{Handler: http.HandlerFunc(p.serveCallback), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second}
		go func() { _ = p.srv.Serve(ln) }()
	}
	return p, nil
}

// CallbackURL returns the URL Dsco posts file callbacks to (file mode).
func (p *Poller) CallbackURL() string { return p.cfg.CallbackURL }

func (p *Poller) serveCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(callbackTokenHeader)), []byte(p.token)) != 1 {
		http.Error(w, "unknown caller", http.StatusUnauthorized)
		return
	}
	var cb dsco.InventoryCallback
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cb); err != nil || cb.RequestID == "" || cb.FileURL == "" {
		http.Error(w, "want {requestId, fileUrl}", http.StatusBadRequest)
		return
	}
	p.cbMu.Lock()
	if len(p.callbacks) >= maxPendingCallbacks {
		p.cbMu.Unlock()
		http.Error(w, "too many callbacks for requests not waited on", http.StatusServiceUnavailable)
		return
	}
	p.callbacks[cb.RequestID] = cb.FileURL
	close(p.cbChanged)
	p.cbChanged = make(chan struct{})
	p.cbMu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// maxPendingCallbacks bounds the callbacks kept for requests nobody waits on
// (late ones, unknown ids) between two waits.
const maxPendingCallbacks = 64

// waitCallback returns the file URL of a request once Dsco called back. The
// poller makes one file request at a time, so when the wait ends every other
// callback kept is stale (one that came after its request timed out) and is
// dropped: the map stays bounded.
func (p *Poller) waitCallback(ctx context.Context, requestID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.FileTimeout)
	defer cancel()
	defer func() {
		p.cbMu.Lock()
		clear(p.callbacks)
		p.cbMu.Unlock()
	}()
	for {
		p.cbMu.Lock()
		u, ok := p.callbacks[requestID]
		delete(p.callbacks, requestID)
		changed := p.cbChanged
		p.cbMu.Unlock()
		if ok {
			return u, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("inbound: waiting for the callback of inventory file request %s: %w", requestID, ctx.Err())
		}
	}
}

// Run polls until ctx is done or Close is called, then returns nil; it may
// be called again after it returned, until Close. It first reads the stored
// mark, asking again while Kafka cannot answer (brokers down or restarting,
// a leader being elected), with a warning in the log at the first failure,
// then once a minute (see kafka.Streak), and a line once it passes. It returns
// an error when Kafka refuses the connector the mark topic for good
// (authorization or authentication failed; a refusal to create it is none
// when it was made beforehand), or answers the creation of the missing
// topic with a code that asking again cannot mend (such as POLICY_VIOLATION
// or INVALID_REPLICATION_FACTOR), or when Dsco refuses a poll for good (a
// 4xx other than 408 and 429: an expired mark, refused credentials or
// rights) or answers a poll of one item with more than the Dsco client
// reads, leaving the stored mark as it was; other failures are retried
// after a backoff (RetryBackoff, growing to RetryBackoffMax): a poll from
// the same mark again, but for a Kafka write, which is asked again without
// the records Kafka acknowledged.
func (p *Poller) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.running {
		p.mu.Unlock()
		return errors.New("inbound: the poller is already running")
	}
	p.running = true
	ctx, p.cancel = context.WithCancel(ctx)
	done := p.done
	p.mu.Unlock()
	defer func() { // Run may be called again (the inbound lease came back)
		p.mu.Lock()
		p.running, p.done = false, make(chan struct{})
		p.mu.Unlock()
		close(done)
	}()

	p.limit = p.cfg.Limit
	mark, err := p.loadMark(ctx)
	if err != nil {
		return p.stopped(ctx, err)
	}
	if mark == "" {
		mark = p.cfg.Start
	}
	p.log.InfoContext(ctx, "inbound: polling item inventory", "mode", p.cfg.ResultType, "from", mark)
	backoff := newBackoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax)
	fails := newStreak()
	for ctx.Err() == nil {
		start := time.Now()
		next, more, read, err := p.poll(ctx, mark)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindPoll)
			if _, ok := errors.AsType[refusedError](err); ok {
				// An expired mark, refused credentials or rights: asking again
				// cannot mend it, and the mark stays where it was.
				return p.stopped(ctx, fmt.Errorf("inbound: polling item inventory after %q: Dsco refuses it for good: %w", mark, err))
			}
			logFailure(ctx, p.log, &fails, "inbound: polling item inventory failed; trying again", err, slog.String("from", mark))
			_ = sleepCtx(ctx, backoff.next())
			continue
		}
		backoff.reset()
		logWorks(ctx, p.log, &fails, "inbound: polling item inventory works again", slog.String("from", mark))
		p.cfg.Metrics.PageRead(ItemInventoryObjectType, -1, read, time.Since(start))
		// An answer without items that leaves the mark where it was would come
		// back the same if asked again at once, hasMore or not.
		stuck := read == 0 && next == mark
		mark = next
		if !more || stuck {
			_ = sleepCtx(ctx, p.cfg.PollInterval)
		}
	}
	return nil
}

// loadMark makes the mark topic unless it exists and returns the mark stored
// in it, asking again while that fails in a way that may pass after
// RetryBackoff, growing to RetryBackoffMax, as the pipeline waits for Dsco
// at start: a broker restarting or a leader election as the poller starts
// (or the inbound lease comes back) delays it instead of ending the inbound
// side. It ends when ctx does.
//
// Kafka refusing the connector the right to create topics is no failure
// when the topic exists (made beforehand, as the connector's own topic
// set-up allows); when it is missing too, loadMark ends with both. Any other
// create failure is asked again only when it may pass by itself (Kafka not
// answering, a broker or the controller moving: kafka.Transient); one
// that cannot succeed as asked (POLICY_VIOLATION, INVALID_CONFIG,
// INVALID_REPLICATION_FACTOR, UNSUPPORTED_VERSION) ends loadMark with
// Kafka's answer. Reading the mark is asked again unless Kafka refuses the
// connector the topic (kafka.Refused): each attempt reads the offsets
// anew. Each failure counts in Metrics.Error as ErrKindMark.
func (p *Poller) loadMark(ctx context.Context) (string, error) {
	backoff := newBackoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax)
	fails := newStreak()
	for {
		created := p.marks.ensure(ctx)
		err := created
		var mark string
		again := true // the failure may pass by itself
		switch {
		case created == nil || kafka.CreateRefused(created):
			mark, err = p.marks.load(ctx, p.cfg.MarkKey)
			if created != nil && errors.Is(err, kafkago.UnknownTopicOrPartition) {
				err = fmt.Errorf("%w (%w)", err, created)
			}
			again = !kafka.Refused(err)
		default:
			again = kafka.Transient(created)
		}
		if err == nil {
			logWorks(ctx, p.log, &fails, "inbound: reading the item inventory mark works again", slog.String("topic", p.cfg.MarkTopic))
		}
		if err == nil || ctx.Err() != nil {
			return mark, err
		}
		p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindMark)
		if !again {
			return "", err
		}
		delay := backoff.next()
		logFailure(ctx, p.log, &fails, "inbound: reading the item inventory mark failed; trying again", err,
			slog.String("topic", p.cfg.MarkTopic), slog.Duration("delay", delay))
		if sleepCtx(ctx, delay) != nil {
			return "", ctx.Err()
		}
	}
}

// refusedError is a poll's request that Dsco refused for good: Run ends.
type refusedError struct{ error }

func (e refusedError) Unwrap() error { return e.error }

// refusal is err, from a poll's request to Dsco (not a file's download: an
// expired or missing file is mended by requesting a new one), marked as a
// refusedError when asking again cannot mend it (see permanent).
func refusal(err error) error {
	if permanent(err) {
		return refusedError{err}
	}
	return err
}

// poll reads and produces one answer after mark (pollFile or pollObjects)
// and returns how many items it read. A panic on the way (input no test
// foresaw) is an error: the poll is logged and tried again from the same
// mark, and the process goes on.
func (p *Poller) poll(ctx context.Context, mark string) (next string, more bool, read int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("inbound: polling item inventory after %q panicked: %v\n%s", mark, r, debug.Stack())
		}
	}()
	if p.cfg.ResultType == dsco.ResultFile {
		next, read, err = p.pollFile(ctx, mark)
		return next, false, read, err
	}
	return p.pollObjects(ctx, mark)
}

func (p *Poller) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// finishing returns the context that finishes a poll whose answer is in
// hand: producing its items and storing its mark go on after ctx ends
// (Close), for half of CloseTimeout from then, so that a clean stop stores
// the mark of everything produced and a restart repeats nothing. Before ctx
// ends, the poll takes as long as it takes (a large file).
func (p *Poller) finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.CloseTimeout/2, cancel)
		context.AfterFunc(fctx, func() { t.Stop() })
	})
	return fctx, func() {
		stop()
		cancel()
	}
}

// pollObjects reads one page after mark, produces its items, stores the
// page's mark and returns it with the number of items.
func (p *Poller) pollObjects(ctx context.Context, mark string) (string, bool, int, error) {
	q := p.cfg.query(mark)
	var err error
	for {
		q.Limit = p.limit
		p.body, err = p.cfg.Client.GetItemInventoryRaw(ctx, q, p.body)
		if !tooLarge(err) || p.limit == 1 {
			break
		}
		// The same request would fail again: fewer items fit.
		p.limit = max(1, p.limit/2)
		p.log.WarnContext(ctx, "inbound: a GetItemInventory answer is larger than the Dsco client reads; asking for fewer items",
			"from", mark, "limit", p.limit, "error", err)
	}
	if err != nil {
		return "", false, 0, refusal(err)
	}
	page, err := p.dec.DecodePage(p.body)
	if err != nil {
		p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindDecode)
		return "", false, 0, fmt.Errorf("inbound: decoding the GetItemInventory answer after %q: %w", mark, err)
	}
	next := strings.Clone(page.HighWaterMark) // the page's strings point into p.body
	ctx, cancel := p.finishing(ctx)
	defer cancel()
	if err := p.produce(ctx, p.pageItems(page), nil, &next); err != nil {
		return "", false, 0, err
	}
	if next != mark {
		if err := p.saveMark(ctx, next); err != nil {
			return "", false, 0, err
		}
	}
	return next, page.HasMore, len(page.Items), nil
}

// pageItems returns the items of page with their sums, in p.batch.
func (p *Poller) pageItems(page *schemas.ItemInventoryPage) []polledItem {
	p.batch = p.batch[:0]
	for _, it := range page.Items {
		p.batch = append(p.batch, polledItem{DecodedItem: it, sum: rawSum(it.Raw)})
	}
	return p.batch
}

// pollFile requests a file of the changes after mark, waits for its
// callback, streams its items to Kafka and stores the newest lastUpdate as
// the next mark. It returns the mark with the number of items read, those
// of the file that were not delivered with the previous one.
func (p *Poller) pollFile(ctx context.Context, mark string) (string, int, error) {
	// An item dated after the file was asked for (a wrong date, or Dsco's
	// clock ahead of ours) does not move the mark: one dated in the future
	// would move it there, and every change until then would be missed. It is
	// kept with the edge instead, as a poisoned item is, so that the next file
	// does not deliver it again while it is unchanged.
	limit := time.Now().UTC().Truncate(time.Millisecond)
	q := p.cfg.query(mark)
	q.CallbackURL = p.cfg.CallbackURL
	q.CallbackHeaders = []dsco.CallbackHeader{{Name: callbackTokenHeader, Value: p.token}}
	req, err := p.cfg.Client.RequestItemInventoryFile(ctx, q)
	if err != nil {
		return "", 0, refusal(err)
	}
	fileURL, err := p.waitCallback(ctx, req.RequestID)
	if err != nil {
		return "", 0, err
	}
	ctx, cancel := p.finishing(ctx)
	defer cancel()
	var newest time.Time
	read, warned := 0, false
	edge := map[uint64]struct{}{} // the items at newest
	// The items that do not move the mark, whatever their time: those that
	// cannot be mapped (lines too long to read among them), and those dated
	// after limit.
	kept := map[uint64]struct{}{}
	// add puts an item of the file into the batch being produced, unless the
	// previous file delivered it.
	add := func(it polledItem) error {
		_, again := p.edge[it.sum]
		if it.Err != nil {
			kept[it.sum] = struct{}{}
		} else {
			switch last := lastUpdate(it.Item); {
			case last.After(limit):
				if !again && !warned {
					warned = true
					p.log.WarnContext(ctx, "inbound: an inventory file has items dated after it was asked for; they do not move the mark",
						"request", req.RequestID, "sku", it.Item.SKU, "lastUpdate", last)
				}
				kept[it.sum] = struct{}{}
			case last.After(newest):
				newest = last
				clear(edge)
				edge[it.sum] = struct{}{}
			case last.Equal(newest):
				edge[it.sum] = struct{}{}
			}
		}
		if again {
			return nil // delivered with the previous file, whose mark was this millisecond
		}
		read++
		if p.batch = append(p.batch, it); len(p.batch) == p.cfg.Limit {
			if err := p.produce(ctx, p.batch, &req.RequestID, nil); err != nil {
				return err
			}
			p.batch = p.batch[:0]
		}
		return nil
	}
	line := int64(1) // the number of the line the next chunk starts with
	for chunk, err := range p.cfg.Client.DownloadInventoryFileRaw(ctx, fileURL) {
		// The items of a chunk, and the start of a line too long, are valid
		// until the iteration goes on: they are produced first.
		p.batch = p.batch[:0]
		if long, ok := errors.AsType[*dsco.LineTooLongError](err); ok {
			// Not an item the poller can hold, but a line the download went
			// past: poisoned as an item that cannot be mapped is, with the
			// start of its bytes, and known again by the sum of all of them.
			err = add(polledItem{DecodedItem: schemas.DecodedItem{Raw: long.Head,
				Err: fmt.Errorf("inventory file of request %s: %w", req.RequestID, long)}, sum: long.Sum, truncated: true,
				line: long.Line})
			line = long.Line + 1
		} else if err != nil {
			return "", 0, fmt.Errorf("inbound: downloading inventory file %s: %w", req.RequestID, err)
		} else {
			for _, it := range p.dec.DecodeLines(chunk) {
				if err = add(polledItem{DecodedItem: it, sum: rawSum(it.Raw), line: line + int64(it.Line) - 1}); err != nil {
					break
				}
			}
			line += int64(bytes.Count(chunk, []byte{'\n'}))
		}
		if err == nil {
			err = p.produce(ctx, p.batch, &req.RequestID, nil)
		}
		if err != nil {
			return "", 0, err
		}
	}
	// The next file starts at newest (or at mark again, when no item had a
	// lastUpdate), so it repeats the items at newest, the poisoned ones and
	// those dated in the future.
	maps.Copy(edge, kept)
	p.edge = edge
	if newest.IsZero() {
		return mark, read, nil
	}
	next := newest.Format(isoMillis)
	if next != mark {
		if err := p.saveMark(ctx, next); err != nil {
			return "", 0, err
		}
	}
	return next, read, nil
}

// isoMillis is the form of the marks of file mode and of the time in event
// ids.
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

// lastUpdate is the item's lastUpdate in UTC milliseconds, zero when it has
// none.
func lastUpdate(it *schemas.ItemInventory) time.Time {
	if it.LastUpdate == nil {
		return time.Time{}
	}
	return it.LastUpdate.UTC().Truncate(time.Millisecond)
}

// Header values shared by the poller's records.
var (
	updatedBytes    = []byte("updated")
	objectTypeBytes = []byte(ItemInventoryObjectType)
	trueBytes       = []byte("true")
)

// produce writes items as ItemInventoryEvent records in one call; items
// that cannot be mapped go to the poison topic.
func (p *Poller) produce(ctx context.Context, items []polledItem, requestID, mark *string) error {
	if len(items) == 0 {
		return nil
	}
	published, poisoned := p.out.build(items, p.cfg.Serde, p.cfg.Topic, p.cfg.PoisonTopic, p.cfg.Kafka.BatchBytes, requestID, mark)
	newest := p.out.newest // p.out is dropped below when a write was retried
	if retried, err := p.write(ctx, p.out.msgs); err != nil || retried {
		// The transport may still read the messages of a request given up
		// on: their buffers are not reused.
		n := len(p.out.msgs)
		p.out = pollerMessages{}
		if err != nil {
			return fmt.Errorf("inbound: producing %d item inventory records: %w", n, err)
		}
	}
	p.cfg.Metrics.PagePublished(ItemInventoryObjectType, -1, published, poisoned)
	if n := notAfterNow(newest); n.After(p.newest) {
		p.newest = n
		p.cfg.Metrics.NewestEvent(ItemInventoryObjectType, -1, p.newest)
	}
	return nil
}

// write writes msgs, asking again after a backoff (RetryBackoff, growing to
// RetryBackoffMax) while Kafka refuses them, until it acknowledged them all
// or ctx ends (it then returns the last failure). A write asked again leaves
// out the records Kafka acknowledged (kafka.WriteError): a partition
// refusing records for a while does not have those of the others written
// once more at every try, as asking Dsco again for the same answer would.
// retried says whether a write failed.
func (p *Poller) write(ctx context.Context, msgs []kafkago.Message) (retried bool, err error) {
	backoff := newBackoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax)
	fails := newStreak()
	for {
		err := p.writer.Write(ctx, msgs...)
		if err == nil {
			logWorks(ctx, p.log, &fails, "inbound: producing item inventory records works again")
			return retried, nil
		}
		retried = true
		p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindProduce)
		msgs = kafka.Unwritten(msgs, err)
		if ctx.Err() != nil {
			return true, err
		}
		logFailure(ctx, p.log, &fails, "inbound: producing item inventory records failed; trying again", err,
			slog.Int("records", len(msgs)))
		if sleepCtx(ctx, backoff.next()) != nil {
			return true, err
		}
	}
}

// saveMark stores mark under MarkKey (see write).
func (p *Poller) saveMark(ctx context.Context, mark string) error {
	if _, err := p.write(ctx, []kafkago.Message{p.marks.record(p.cfg.MarkKey, mark)}); err != nil {
		return fmt.Errorf("inbound: storing the high-water mark in %s: %w", p.cfg.MarkTopic, err)
	}
	return nil
}

// build replaces m's messages with those of items: a record on topic for
// each item that maps and encodes into a record of at most maxBytes (0: no
// limit), and the poison record of each other one.
func (m *pollerMessages) build(items []polledItem, serde *schemas.Serde, topic, poisonTopic string, maxBytes int64,
	requestID, mark *string) (published, poisoned int) {
	// Size the buffers so that they do not grow while the messages are
	// built: a grown arena keeps its old array alive until the write ends.
	want := 0
	for i := range items {
		want += 2*len(items[i].Raw) + 128 // the value, the key and the headers; the raw bytes of a poison record
	}
	if cap(m.arena) < want {
		m.arena = make([]byte, 0, want)
	}
	if cap(m.msgs) < len(items) {
		m.msgs = make([]kafkago.Message, 0, len(items))
	}
	if want := 4 * len(items); cap(m.headers) < want {
		m.headers = make([]kafkago.Header, 0, want)
	}
	m.msgs, m.arena, m.headers = m.msgs[:0], m.arena[:0], m.headers[:0]
	m.newest = time.Time{}
	now := time.Now().UTC().Truncate(time.Millisecond)
	position := m.bytes(deref(mark))
	for i := range items {
		it := &items[i]
		reason := it.Err
		if reason == nil {
			last := lastUpdate(it.Item)
			m.id = append(append(m.id[:0], it.SKU...), '@')
			m.id = append(last.AppendFormat(m.id, isoMillis), '#')
			m.id = strconv.AppendUint(m.id, it.sum, 16)
			m.rec = schemas.ItemInventoryEvent{
				EventID:       unsafe.String(unsafe.SliceData(m.id), len(m.id)), // read only while encoding
				EventType:     "updated",
				ObjectType:    ItemInventoryObjectType,
				Timestamp:     now,
				RequestID:     requestID,
				HighWaterMark: mark,
				ItemInventory: *it.Item,
			}
			start := len(m.arena)
			var err error
			if m.arena, err = serde.AppendEncode(m.arena, &m.rec); err == nil {
				value := m.arena[start:len(m.arena):len(m.arena)]
				id, key := m.bytes(m.rec.EventID), m.bytes(it.SKU)
				h := m.hdrs(3)
				h[0] = kafkago.Header{Key: HeaderEventID, Value: id}
				h[1] = kafkago.Header{Key: HeaderEventType, Value: updatedBytes}
				h[2] = kafkago.Header{Key: HeaderCorrelationID, Value: id}
				if size := kafka.RecordBatchSize(len(key), len(value), len(h), headersSize(h)); maxBytes > 0 && size > maxBytes {
					err = &RecordTooLargeError{Size: size, Limit: maxBytes}
				} else {
					m.msgs = append(m.msgs, kafkago.Message{Topic: topic, Key: key, Value: value, Headers: h})
					if last.After(m.newest) {
						m.newest = last
					}
					published++
					continue
				}
			}
			m.arena = m.arena[:start]
			reason = err
		}
		pos := position
		if it.line > 0 {
			start := len(m.arena)
			m.arena = filePosition(m.arena, deref(requestID), it.line)
			pos = m.arena[start:len(m.arena):len(m.arena)]
		}
		m.poison(it.Raw, it.truncated, reason, poisonTopic, pos, maxBytes)
		poisoned++
	}
	return published, poisoned
}

// poison adds the poison record of an item: its raw bytes, with the
// reason, the object type and its position (the mark of its page, or its
// place in its file: filePosition) as headers. When raw
// is only the start of the item's bytes (truncated), or when the record
// would be larger than maxBytes, it has the HeaderTruncated header; in the
// second case its value is the start of raw that fits.
func (m *pollerMessages) poison(raw []byte, truncated bool, reason error, topic string, position []byte, maxBytes int64) {
	h := m.hdrs(4)
	h[0] = kafkago.Header{Key: HeaderPoisonReason, Value: m.bytes(reason.Error())}
	h[1] = kafkago.Header{Key: HeaderObjectType, Value: objectTypeBytes}
	h[2] = kafkago.Header{Key: HeaderPosition, Value: position}
	h[3] = kafkago.Header{Key: HeaderTruncated, Value: trueBytes}
	hs := h[:3]
	if truncated {
		hs = h
	}
	if maxBytes > 0 && kafka.RecordBatchSize(len(objectTypeBytes), len(raw), len(hs), headersSize(hs)) > maxBytes {
		fitHeaders(h, maxBytes)
		room := kafka.MaxValueLen(maxBytes, len(objectTypeBytes), len(h), headersSize(h))
		raw, hs = raw[:max(0, min(room, int64(len(raw))))], h
	}
	start := len(m.arena)
	m.arena = append(m.arena, raw...)
	value := m.arena[start:len(m.arena):len(m.arena)]
	m.msgs = append(m.msgs, kafkago.Message{Topic: topic, Key: objectTypeBytes, Value: value, Headers: hs})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Close stops Run, waits for it at most CloseTimeout, stops the callback
// server and closes the Kafka writer. It is idempotent.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	running, done := p.running, p.done
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	var errs []error
	if running {
		select {
		case <-done:
		case <-time.After(p.cfg.CloseTimeout):
			errs = append(errs, errors.New("inbound: closing the poller: Run did not return in time"))
		}
	}
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CloseTimeout)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("inbound: stopping the callback server: %w", err))
		}
	}
	p.marks.close()
	if err := p.writer.close(); err != nil {
		errs = append(errs, fmt.Errorf("inbound: closing the Kafka writer: %w", err))
	}
	return errors.Join(errs...)
}

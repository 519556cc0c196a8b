package inbound

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/dsco"
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
	// partition when missing), under MarkKey (default "iteminventory"):
	// give each poller with another query a key of its own.
	MarkTopic, MarkKey string
	// Start is the highWaterMarkQuery of the first poll, when no mark is
	// stored: an ISO 8601 date (default 1970-01-01T00:00:00.000Z: every
	// change Dsco retains).
	Start string
	// ResultType is objects (paged answers, the default) or file (Dsco
	// generates a file and calls back; the poller serves the callback).
	ResultType dsco.ResultType
	// Limit is the page size of objects polls (default 1000).
	Limit int
	// DscoSupplierID and DscoSupplierTradingPartnerID filter a retailer's
	// polls by supplier.
	DscoSupplierID               int64
	DscoSupplierTradingPartnerID string
	// PollInterval is the wait after a poll that returned everything
	// (default 10s).
	PollInterval time.Duration
	// CallbackAddr is where the file callback is served (file mode;
	// default 127.0.0.1:0, a free loopback port). CallbackURL is the URL
	// Dsco posts to (default http://<the listener's address>/callback).
	CallbackAddr, CallbackURL string
	// FileTimeout bounds the wait for a file callback (default 10m).
	FileTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the waits after failed polls
	// (defaults 1s and 1m).
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
// again). Each record's event id is derived
// from the item's sku, lastUpdate and content, so repeated deliveries of a
// change carry the same id.
//
// Run it once; Close stops it. Its methods are safe for concurrent use.
type Poller struct {
	cfg    PollerConfig
	log    *slog.Logger
	writer *writer
	marks  *markStore

	// file mode
	ln        net.Listener
	srv       *http.Server
	token     string
	cbMu      sync.Mutex
	callbacks map[string]string // request id -> file URL
	// edge holds the event ids of the items of the last file's newest
	// millisecond: the next file starts at that millisecond and repeats
	// them, so they are skipped (after a restart they are delivered again).
	edge      map[string]bool
	cbChanged chan struct{} // closed and replaced on every callback

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	running bool
	closed  bool
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
	w := newWriter(cfg.Kafka, cfg.Limit, logger)
	p := &Poller{cfg: cfg, log: logger, writer: w, done: make(chan struct{}),
		marks: &markStore{client: &kafkago.Client{Addr: w.Addr, Transport: w.Transport, Timeout: cfg.Kafka.WriteTimeout},
			writer: w, topic: cfg.MarkTopic}}
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
		p.srv = &http.Server{Handler: http.HandlerFunc(p.serveCallback), ReadHeaderTimeout: 10 * time.Second}
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

// Run polls until ctx is done or Close is called, then returns nil. It
// returns an error only when it cannot start (the mark topic cannot be
// read).
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
	defer close(done)

	if err := p.marks.ensure(ctx); err != nil {
		return p.stopped(ctx, err)
	}
	mark, err := p.marks.load(ctx, p.cfg.MarkKey)
	if err != nil {
		return p.stopped(ctx, err)
	}
	if mark == "" {
		mark = p.cfg.Start
	}
	p.log.InfoContext(ctx, "inbound: polling item inventory", "mode", p.cfg.ResultType, "from", mark)
	backoff := newBackoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax)
	for ctx.Err() == nil {
		start := time.Now()
		var next string
		var more bool
		var err error
		if p.cfg.ResultType == dsco.ResultFile {
			next, err = p.pollFile(ctx, mark)
		} else {
			next, more, err = p.pollObjects(ctx, mark)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindPoll)
			p.log.WarnContext(ctx, "inbound: polling item inventory failed; trying again", "from", mark, "error", err)
			_ = sleepCtx(ctx, backoff.next())
			continue
		}
		backoff.reset()
		p.cfg.Metrics.PageRead(ItemInventoryObjectType, -1, 0, time.Since(start))
		mark = next
		if !more {
			_ = sleepCtx(ctx, p.cfg.PollInterval)
		}
	}
	return nil
}

func (p *Poller) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// finishing returns the context that finishes a poll whose answer is in
// hand: producing its items and storing its mark go on after ctx ends
// (Close), within half of CloseTimeout, so that a clean stop stores the
// mark of everything produced and a restart repeats nothing.
func (p *Poller) finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CloseTimeout/2)
}

// pollObjects reads one page after mark, produces its items, stores the
// page's mark and returns it.
func (p *Poller) pollObjects(ctx context.Context, mark string) (string, bool, error) {
	q := p.cfg.query(mark)
	q.Limit = p.cfg.Limit
	page, err := p.cfg.Client.GetItemInventory(ctx, q)
	if err != nil {
		return "", false, err
	}
	if page.HighWaterMark == "" {
		return "", false, errors.New("inbound: GetItemInventory answered without a highWaterMark")
	}
	ctx, cancel := p.finishing(ctx)
	defer cancel()
	if err := p.produce(ctx, page.Items, nil, &page.HighWaterMark); err != nil {
		return "", false, err
	}
	if page.HighWaterMark != mark {
		if err := p.marks.save(ctx, p.cfg.MarkKey, page.HighWaterMark); err != nil {
			return "", false, err
		}
	}
	return page.HighWaterMark, page.HasMore, nil
}

// pollFile requests a file of the changes after mark, waits for its
// callback, streams its items to Kafka and stores the newest lastUpdate as
// the next mark.
func (p *Poller) pollFile(ctx context.Context, mark string) (string, error) {
	q := p.cfg.query(mark)
	q.CallbackURL = p.cfg.CallbackURL
	q.CallbackHeaders = []dsco.CallbackHeader{{Name: callbackTokenHeader, Value: p.token}}
	req, err := p.cfg.Client.RequestItemInventoryFile(ctx, q)
	if err != nil {
		return "", err
	}
	fileURL, err := p.waitCallback(ctx, req.RequestID)
	if err != nil {
		return "", err
	}
	ctx, cancel := p.finishing(ctx)
	defer cancel()
	var newest time.Time
	edge := map[string]bool{} // event ids of the items at newest
	batch := make([]dsco.ItemInventory, 0, p.cfg.Limit)
	for it, err := range p.cfg.Client.DownloadInventoryFile(ctx, fileURL) {
		if err != nil {
			return "", fmt.Errorf("inbound: downloading inventory file %s: %w", req.RequestID, err)
		}
		last := it.LastUpdate.UTC().Truncate(time.Millisecond)
		if last.After(newest) {
			newest = last
			clear(edge)
		}
		if last.Equal(newest) {
			id := itemEventID(it)
			edge[id] = true
			if p.edge[id] {
				continue // delivered with the previous file, whose mark was this millisecond
			}
		}
		if batch = append(batch, it); len(batch) == cap(batch) {
			if err := p.produce(ctx, batch, &req.RequestID, nil); err != nil {
				return "", err
			}
			batch = batch[:0]
		}
	}
	if err := p.produce(ctx, batch, &req.RequestID, nil); err != nil {
		return "", err
	}
	if newest.IsZero() {
		return mark, nil
	}
	p.edge = edge
	next := newest.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if next != mark {
		if err := p.marks.save(ctx, p.cfg.MarkKey, next); err != nil {
			return "", err
		}
	}
	return next, nil
}

// produce writes items as ItemInventoryEvent records in one call; items
// that cannot be mapped go to the poison topic.
func (p *Poller) produce(ctx context.Context, items []dsco.ItemInventory, requestID, mark *string) error {
	if len(items) == 0 {
		return nil
	}
	msgs, published, poisoned := p.messages(items, requestID, mark)
	if err := p.writer.write(ctx, msgs...); err != nil {
		p.cfg.Metrics.Error(ItemInventoryObjectType, ErrKindProduce)
		return fmt.Errorf("inbound: producing %d item inventory records: %w", len(msgs), err)
	}
	p.cfg.Metrics.PagePublished(ItemInventoryObjectType, -1, published, poisoned)
	return nil
}

// messages maps items to their records, or their poison records.
func (p *Poller) messages(items []dsco.ItemInventory, requestID, mark *string) (msgs []kafkago.Message, published, poisoned int) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	msgs = make([]kafkago.Message, 0, len(items))
	for _, it := range items {
		raw, _ := json.Marshal(it)
		rec, err := itemRecord(it, raw, now, requestID, mark)
		var value []byte
		if err == nil {
			value, err = p.cfg.Serde.Encode(rec)
		}
		if err != nil {
			poisoned++
			msgs = append(msgs, kafkago.Message{Topic: p.cfg.PoisonTopic, Key: []byte(ItemInventoryObjectType), Value: raw,
				Headers: []kafkago.Header{
					{Key: HeaderPoisonReason, Value: []byte(err.Error())},
					{Key: HeaderObjectType, Value: []byte(ItemInventoryObjectType)},
					{Key: HeaderPosition, Value: []byte(deref(mark))},
				}})
			continue
		}
		published++
		id := []byte(rec.EventID)
		msgs = append(msgs, kafkago.Message{Topic: p.cfg.Topic, Key: []byte(rec.Key()), Value: value,
			Headers: []kafkago.Header{
				{Key: HeaderEventID, Value: id},
				{Key: HeaderEventType, Value: []byte(rec.EventType)},
				{Key: HeaderCorrelationID, Value: id},
			}})
	}
	return msgs, published, poisoned
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// itemRecord maps one item; raw is its JSON, for the event id.
func itemRecord(it dsco.ItemInventory, raw []byte, now time.Time, requestID, mark *string) (*schemas.ItemInventoryEvent, error) {
	if it.SKU == "" {
		return nil, errors.New("inbound: item inventory without a sku")
	}
	i32 := func(name string, v int) (*int32, error) {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("inbound: item %s: %s %d does not fit an int", it.SKU, name, v)
		}
		n := int32(v)
		return &n, nil
	}
	qty, err := i32("quantityAvailable", it.QuantityAvailable)
	if err != nil {
		return nil, err
	}
	last := it.LastUpdate.UTC().Truncate(time.Millisecond)
	r := &schemas.ItemInventoryEvent{
		EventID:       eventIDOf(it.SKU, last, raw),
		EventType:     "updated",
		ObjectType:    ItemInventoryObjectType,
		Timestamp:     now,
		RequestID:     requestID,
		HighWaterMark: mark,
		ItemInventory: schemas.ItemInventory{
			SKU:               it.SKU,
			QuantityAvailable: qty,
			Extra:             extraJSON(it.Extra),
			Warehouses:        make([]schemas.WarehouseQuantity, 0, len(it.Warehouses)),
		},
	}
	ii := &r.ItemInventory
	if it.DscoItemID != "" {
		ii.DscoItemID = &it.DscoItemID
	}
	if it.DscoSupplierID != 0 {
		ii.DscoSupplierID = &it.DscoSupplierID
	}
	if it.Status != "" {
		ii.Status = &it.Status
	}
	if !it.LastUpdate.IsZero() {
		ii.LastUpdate = &last
	}
	for _, w := range it.Warehouses {
		q, err := i32("warehouse quantity", w.Quantity)
		if err != nil {
			return nil, err
		}
		wq := schemas.WarehouseQuantity{Quantity: q, Extra: extraJSON(w.Extra)}
		if w.WarehouseID != "" {
			wq.WarehouseID = &w.WarehouseID
		}
		ii.Warehouses = append(ii.Warehouses, wq)
	}
	return r, nil
}

// itemEventID is the event id of an item's record: its sku, its
// lastUpdate and a hash of its JSON, the same for every delivery of one
// change.
func itemEventID(it dsco.ItemInventory) string {
	raw, _ := json.Marshal(it)
	return eventIDOf(it.SKU, it.LastUpdate.UTC().Truncate(time.Millisecond), raw)
}

func eventIDOf(sku string, last time.Time, raw []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return sku + "@" + last.Format("2006-01-02T15:04:05.000Z07:00") + "#" + strconv.FormatUint(h.Sum64(), 16)
}

// extraJSON renders unknown attributes as one JSON object text (nil when
// there are none); each attribute's value keeps Dsco's bytes.
func extraJSON(x dsco.Extra) *string {
	if len(x) == 0 {
		return nil
	}
	b, err := json.Marshal(map[string]json.RawMessage(x))
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
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
	if err := p.writer.close(); err != nil {
		errs = append(errs, fmt.Errorf("inbound: closing the Kafka writer: %w", err))
	}
	return errors.Join(errs...)
}

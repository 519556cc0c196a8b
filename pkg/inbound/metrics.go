package inbound

import "time"

// Error kinds reported to Metrics.Error.
const (
	ErrKindRead       = "read"       // reading a page from Dsco failed (after the client's retries)
	ErrKindDecode     = "decode"     // a page was not a page
	ErrKindProduce    = "produce"    // producing a page to Kafka failed
	ErrKindCheckpoint = "checkpoint" // committing a stream position failed
	ErrKindHandler    = "handler"    // the page handler chain failed
	ErrKindPoll       = "poll"       // a GetItemInventory poll failed
	ErrKindMark       = "mark"       // reading (or making) the GetItemInventory poller's mark topic at start failed
)

// Metrics receives the pipeline's measurements. Implementations must be safe
// for concurrent use; pkg/router has the Prometheus one. Partition is -1 for
// the GetItemInventory poller.
type Metrics interface {
	// PageRead: a page of events was read and decoded in d, and its
	// records were built; for the poller, one poll read that many items.
	// A page read again after its records could not be built counts once,
	// when they are.
	PageRead(objectType string, partition, events int, d time.Duration)
	// PagePublished: Kafka acknowledged the records of a page: published
	// events on the object type's topic, poisoned on the poison topic.
	PagePublished(objectType string, partition, published, poisoned int)
	// PagesInFlight: the pages of a partition read (with events, or without
	// events and with a new position to commit) and not yet
	// acknowledged by Kafka or dropped, reported whenever it changes, so
	// that it falls back to 0 when the partition is idle.
	PagesInFlight(objectType string, partition, n int)
	// NewestEvent: Kafka acknowledged an event of the partition newer than
	// every one before it (since the pipeline or poller started): t is its
	// Dsco timestamp, for the poller the newest lastUpdate of its items, and
	// never later than the time of the report (an event dated in the future
	// counts as dated now, so that a lag computed from t still shows).
	// Events that went to the poison topic do not count.
	NewestEvent(objectType string, partition int, t time.Time)
	// Checkpointed: a position was committed that covers events more
	// events than the one before it, at time at.
	Checkpointed(objectType string, partition, events int, at time.Time)
	// Error: a failure of the given kind (ErrKind...).
	Error(objectType, kind string)
}

// NopMetrics discards every measurement. Embed it to implement only some
// of the methods.
type NopMetrics struct{}

// PageRead discards.
func (NopMetrics) PageRead(string, int, int, time.Duration) {}

// PagePublished discards.
func (NopMetrics) PagePublished(string, int, int, int) {}

// PagesInFlight discards.
func (NopMetrics) PagesInFlight(string, int, int) {}

// NewestEvent discards.
func (NopMetrics) NewestEvent(string, int, time.Time) {}

// Checkpointed discards.
func (NopMetrics) Checkpointed(string, int, int, time.Time) {}

// Error discards.
func (NopMetrics) Error(string, string) {}

// notAfterNow is t, or the time now when t is later (see NewestEvent).
func notAfterNow(t time.Time) time.Time {
	if now := time.Now(); t.After(now) {
		return now
	}
	return t
}

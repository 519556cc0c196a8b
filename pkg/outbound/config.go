package outbound

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// DefaultPoisonTopic is the default topic of poisoned commands.
const DefaultPoisonTopic = "dsco.poison.v1"

// Config configures a Pipeline.
type Config struct {
	// Role decides which commands are consumed: RoleSupplier (ship, cancel, invoice,
	// acknowledge, inventory, catalog, return) or RoleRetailer (retailer-order,
	// retailer-return, retailer-cancel, retailer-catalog-attribution). Required.
	Role Role
	// Client calls Dsco with the role's credentials. Required. Its own retries (408, 429,
	// 503, connections that failed before sending) run inside each of the pipeline's
	// attempts.
	Client *dsco.Client
	// Serde decodes commands and encodes results; Register must have run for
	// schemas.Result. Required. Command topics are the Serde's (schemas.Config.Topics).
	Serde *schemas.Serde
	// Writer writes results, poison records and the store's marks, those of a batch in
	// one write (pkg/kafka's Publisher). Required.
	Writer RecordWriter
	// ResultsTopic defaults to the Serde's topic of schemas.Result (dsco.cmd.results.v1);
	// PoisonTopic to DefaultPoisonTopic.
	ResultsTopic string
	PoisonTopic  string

	// Store configures the applied-ids store; Store.Writer defaults to Writer.
	Store StoreConfig

	// Carriers a ship command may name. Default DefaultCarriers.
	Carriers []string
	// MaxRecordBytes rejects larger command records. Default 256 KiB.
	MaxRecordBytes int

	// MaxBatchItems, MaxBatchBytes and MaxBatchWait bound one Dsco call: at most that
	// many commands, at most about that many bytes (estimated as twice the Avro size of
	// the records), and a batch is sent at the latest MaxBatchWait after its first
	// command arrived, or at once when no Dsco call of its command type is in flight and
	// no command of it is being decoded. Defaults 100, 1 MiB, 20ms.
	MaxBatchItems int
	MaxBatchBytes int
	MaxBatchWait  time.Duration
	// MaxConcurrentBatches bounds the Dsco calls in flight per command type. Default 4.
	MaxConcurrentBatches int

	// Retry bounds the retries of transient failures.
	Retry RetryConfig
	// Breaker configures the circuit breaker around Dsco calls.
	Breaker BreakerConfig

	// Registerer registers the pipeline's Prometheus metrics; nil registers none (they
	// are still counted).
	Registerer prometheus.Registerer

	// CloseTimeout bounds a shutdown (Close, or the end of Run's context): how long the
	// batches already dispatched may take to finish their Dsco calls and write their
	// outcomes before their calls are cancelled and their commands released (see
	// Pipeline.Close). Default 30s.
	CloseTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RecordWriter writes Kafka records, each to its own topic, as one write, and returns
// once Kafka acknowledged every one of them (acks=all), or with an error when any failed.
// Some may have been written then: the pipeline writes again those Kafka did not
// acknowledge when the error says which (a *kafka.WriteError, as pkg/kafka's Publisher
// returns), else all of them (its records are idempotent or carry the command id).
// WriteRecords must not keep the records, nor read the memory they refer to, once it
// returned: the pipeline reuses that memory for later records (after a write that
// returned nil). pkg/kafka's Publisher is one.
type RecordWriter interface {
	WriteRecords(recs ...kafkago.Message) error
}

// RetryConfig bounds the retries of a command whose Dsco calls fail transiently (network
// errors before sending, 408, 429, 503 after the client's own retries).
type RetryConfig struct {
	// MaxAttempts is the most Dsco calls that carry one command, those sent again after
	// an unknown outcome included. Default 8. A command that spends it fails
	// (StatusFailed), or is StatusOutcomeUnknown when one of its calls may have applied it.
	MaxAttempts int
	// MaxElapsed is the most time from a command's first call to its last, the time
	// paused behind an open breaker not counted. Default 2m.
	MaxElapsed time.Duration
	// BaseDelay and MaxDelay shape the exponential backoff with full jitter between
	// attempts. Defaults 200ms and 10s. A longer Retry-After from Dsco is obeyed up to
	// MaxDelay.
	BaseDelay, MaxDelay time.Duration
}

// BreakerConfig configures the circuit breaker (github.com/sony/gobreaker) that pauses
// Dsco calls, and so consumption, while Dsco is down altogether: commands wait instead of
// spending their retry budget.
type BreakerConfig struct {
	// ConsecutiveFailures of transient kind (including timeouts and answers that leave
	// the outcome unknown, such as a 502) open the breaker. Default 5. A call that fails
	// so while the breaker is open or half-open (its trial call, or the failure that
	// opened it) spends none of the retry budget of the commands it carried (those an
	// unknown outcome leaves to send again are reconciled first): they wait for the next
	// trial, however long Dsco stays down. Its commands wait so as well when they are
	// Dsco's only traffic and fail transiently for a reason of their own.
	ConsecutiveFailures int
	// OpenTimeout is how long the breaker stays open before one trial call. Default 5s.
	OpenTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.ResultsTopic == "" && c.Serde != nil {
		c.ResultsTopic = c.Serde.Topic(schemas.Result)
	}
	if c.PoisonTopic == "" {
		c.PoisonTopic = DefaultPoisonTopic
	}
	if c.Store.Writer == nil {
		c.Store.Writer = c.Writer
	}
	if c.Carriers == nil {
		c.Carriers = DefaultCarriers
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = 256 << 10
	}
	if c.MaxBatchItems == 0 {
		c.MaxBatchItems = 100
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 1 << 20
	}
	if c.MaxBatchWait == 0 {
		c.MaxBatchWait = 20 * time.Millisecond
	}
	if c.MaxConcurrentBatches == 0 {
		c.MaxConcurrentBatches = 4
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 8
	}
	if c.Retry.MaxElapsed == 0 {
		c.Retry.MaxElapsed = 2 * time.Minute
	}
	if c.Retry.BaseDelay == 0 {
		c.Retry.BaseDelay = 200 * time.Millisecond
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = 10 * time.Second
	}
	if c.Breaker.ConsecutiveFailures == 0 {
		c.Breaker.ConsecutiveFailures = 5
	}
	if c.Breaker.OpenTimeout == 0 {
		c.Breaker.OpenTimeout = 5 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Store.Now == nil {
		c.Store.Now = c.Now
	}
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	var errs []error
	if c.Role != RoleSupplier && c.Role != RoleRetailer {
		errs = append(errs, fmt.Errorf("role %q is neither supplier nor retailer", c.Role))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("missing required Client"))
	}
	if c.Serde == nil {
		errs = append(errs, errors.New("missing required Serde"))
	}
	if c.Writer == nil {
		errs = append(errs, errors.New("missing required Writer"))
	}
	if c.MaxRecordBytes < 0 || c.MaxBatchItems < 0 || c.MaxBatchBytes < 0 || c.MaxBatchWait < 0 || c.MaxConcurrentBatches < 0 {
		errs = append(errs, errors.New("negative MaxRecordBytes, MaxBatchItems, MaxBatchBytes, MaxBatchWait or MaxConcurrentBatches"))
	}
	if c.Retry.MaxAttempts < 0 || c.Retry.MaxElapsed < 0 || c.Retry.BaseDelay < 0 || c.Retry.MaxDelay < c.Retry.BaseDelay {
		errs = append(errs, errors.New("invalid Retry: MaxAttempts, MaxElapsed and BaseDelay must not be negative, MaxDelay not below BaseDelay"))
	}
	if c.Breaker.ConsecutiveFailures < 0 || c.Breaker.OpenTimeout < 0 {
		errs = append(errs, errors.New("invalid Breaker: ConsecutiveFailures and OpenTimeout must not be negative"))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, errors.New("negative CloseTimeout"))
	}
	if err := c.Store.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("outbound: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

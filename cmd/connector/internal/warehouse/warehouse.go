// Package warehouse is a SAMPLE, not part of the connector: the small
// "warehouse" service of `connector demo`. It shows what a team's own
// service does with the connector's topics: it consumes the order events
// from Kafka and, for every new order, puts a ship command per line item
// and one invoice command on the command topics. The connector applies them
// at Dsco and writes a result record for each.
//
// Command ids are derived from the order and line ids, so an order event
// delivered twice (the connector delivers at least once) yields the same
// commands, which the connector applies once.
package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// Config configures a Warehouse.
type Config struct {
	// Connection reaches Kafka. Required: Connection.Brokers.
	Connection kafka.ConnectionConfig
	// Serde decodes order events and encodes commands; Register must have
	// run for schemas' order event and the ship and invoice commands, whose
	// topics it names. Required.
	Serde *schemas.Serde
	// ConsumerGroup consumes the order topic (default "demo-warehouse").
	ConsumerGroup string
	// Carrier is the carrier of every shipment (default "UPS").
	Carrier string
	// CloseTimeout bounds Close (default 10s).
	CloseTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = "demo-warehouse"
	}
	if c.Carrier == "" {
		c.Carrier = "UPS"
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 10 * time.Second
	}
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	var errs []error
	if len(c.Connection.Brokers) == 0 {
		errs = append(errs, errors.New("missing Connection.Brokers"))
	}
	if c.Serde == nil {
		errs = append(errs, errors.New("missing Serde"))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, errors.New("negative CloseTimeout"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("warehouse: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// Stats counts what the warehouse did since it started.
type Stats struct {
	// Orders is the new orders handled (order.created events).
	Orders int64
	// Ships and Invoices are the commands published.
	Ships, Invoices int64
}

// Warehouse consumes order events and publishes ship and invoice commands.
// Run it once; Close stops it; Stats is safe for concurrent use.
type Warehouse struct {
	cfg                     Config
	log                     *slog.Logger
	sub                     *kafka.Subscriber
	pub                     *kafka.Publisher
	orderTopic              string
	shipTopic, invoiceTopic string
	orders, ships, invoices atomic.Int64
	running                 atomic.Bool
	stopped                 chan struct{} // closed when Run returns
	closing                 chan struct{} // closed by Close
	closeOnce               sync.Once
	closeErr                error
}

// New returns a Warehouse; logger may be nil.
func New(cfg Config, logger *slog.Logger) (*Warehouse, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ship, _ := schemas.Command("ship")
	invoice, _ := schemas.Command("invoice")
	order, _ := schemas.Event("order")
	wlog := watermill.NewSlogLogger(logger)
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Connection: cfg.Connection, ConsumerGroup: cfg.ConsumerGroup}, wlog)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: cfg.Connection, AllowAutoTopicCreation: true}, wlog)
	if err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	return &Warehouse{cfg: cfg, log: logger, sub: sub, pub: pub, orderTopic: cfg.Serde.Topic(order),
		shipTopic: cfg.Serde.Topic(ship), invoiceTopic: cfg.Serde.Topic(invoice), stopped: make(chan struct{}), closing: make(chan struct{})}, nil
}

// Stats returns the counters.
func (w *Warehouse) Stats() Stats {
	return Stats{Orders: w.orders.Load(), Ships: w.ships.Load(), Invoices: w.invoices.Load()}
}

// Run consumes the order topic until ctx ends or Close is called. A record
// is acknowledged (its offset committed) once its commands are in Kafka; one
// that is not an order event is logged and skipped (a sample has no poison
// topic of its own).
func (w *Warehouse) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("warehouse: Run called twice")
	}
	defer close(w.stopped)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	msgs, err := w.sub.Subscribe(ctx, w.orderTopic)
	if err != nil {
		return fmt.Errorf("warehouse: subscribing to %s: %w", w.orderTopic, err)
	}
	for msg := range msgs {
		if err := w.handle(ctx, msg); err != nil {
			if ctx.Err() != nil {
				msg.Nack()
				break
			}
			w.log.Warn("warehouse: handling an order event", "error", err.Error())
			msg.Nack()
			continue
		}
		msg.Ack()
	}
	return nil
}

func (w *Warehouse) handle(ctx context.Context, msg *message.Message) error {
	var ev schemas.OrderEvent
	if err := w.cfg.Serde.Decode(ctx, msg.Payload, &ev); err != nil {
		w.log.Warn("warehouse: skipping a record that is not an order event", "error", err.Error())
		return nil
	}
	if ev.EventType != "order.created" {
		return nil
	}
	o := ev.Order
	now := time.Now().UTC()
	var recs []schemas.Record
	total := new(big.Rat)
	for _, it := range o.Items {
		if it.LineItemID == nil {
			continue
		}
		recs = append(recs, &schemas.ShipCommand{
			CommandID: "ship-" + o.OrderID + "-" + *it.LineItemID, CorrelationID: &ev.EventID,
			OrderID: o.OrderID, LineItemID: it.LineItemID,
			TrackingNumber: ptr("1Z" + o.OrderID + *it.LineItemID), Carrier: &w.cfg.Carrier, ShippedAt: &now,
		})
		amount := it.Cost
		if amount.IsNull() {
			amount = it.Price
		}
		if !amount.IsNull() && it.Quantity != nil {
			total.Add(total, new(big.Rat).Mul(amount.Rat(), big.NewRat(int64(*it.Quantity), 1)))
		}
	}
	amount, err := schemas.DecimalFromRat(total)
	if err != nil {
		return fmt.Errorf("order %s: invoice amount: %w", o.OrderID, err)
	}
	day := now.Truncate(24 * time.Hour)
	recs = append(recs, &schemas.InvoiceCommand{CommandID: "invoice-" + o.OrderID, CorrelationID: &ev.EventID,
		OrderID: o.OrderID, InvoiceNumber: ptr("INV-" + o.OrderID), Amount: amount, InvoiceDate: &day})
	ships, invoices := make([]*message.Message, 0, len(recs)), make([]*message.Message, 0, 1)
	for _, r := range recs {
		b, err := w.cfg.Serde.Encode(r)
		if err != nil {
			return fmt.Errorf("order %s: encoding a command: %w", o.OrderID, err)
		}
		m := message.NewMessage(watermill.NewUUID(), b)
		m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, r.Key())
		if _, ok := r.(*schemas.InvoiceCommand); ok {
			invoices = append(invoices, m)
		} else {
			ships = append(ships, m)
		}
	}
	if err := w.pub.Publish(w.shipTopic, ships...); err != nil {
		return err
	}
	if err := w.pub.Publish(w.invoiceTopic, invoices...); err != nil {
		return err
	}
	w.orders.Add(1)
	w.ships.Add(int64(len(ships)))
	w.invoices.Add(int64(len(invoices)))
	return nil
}

// Close stops Run and closes the Kafka clients, within CloseTimeout. It is
// idempotent.
func (w *Warehouse) Close() error {
	w.closeOnce.Do(func() {
		close(w.closing)
		err := w.sub.Close()
		if w.running.Load() {
			select {
			case <-w.stopped:
			case <-time.After(w.cfg.CloseTimeout):
				err = errors.Join(err, errors.New("warehouse: Run did not stop within CloseTimeout"))
			}
		}
		w.closeErr = errors.Join(err, w.pub.Close())
	})
	return w.closeErr
}

func ptr[T any](v T) *T { return &v }

package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/hamba/avro/v2"
)

// Namespace is the Avro namespace of every record in the contract. A change
// that cannot be made compatibly goes to a new namespace and new topics
// (v2).
const Namespace = "io.dscokafka.v1"

//go:embed avro/*.avsc
var avscFiles embed.FS

// Kind tells events, commands and the command result apart.
type Kind int

// The kinds of record.
const (
	// KindEvent is an inbound record: a Dsco event written to Kafka.
	KindEvent Kind = iota + 1
	// KindCommand is an outbound record: a command read from Kafka and sent
	// to Dsco.
	KindCommand
	// KindResult is the record reporting a command's outcome.
	KindResult
)

// String returns "event", "command" or "result".
func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindCommand:
		return "command"
	case KindResult:
		return "result"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Descriptor describes one record of the contract: its name, default topic,
// key, schema and Go type. Descriptors are built once when the package is
// initialised and are read-only; share them freely.
type Descriptor struct {
	// Name is the short name: the Dsco object type for events (order,
	// orderitemchange, ...), the command name for commands (ship,
	// retailer-order, ...), "results" for the command result.
	Name string
	// Kind is event, command or result.
	Kind Kind
	// Topic is the default topic: dsco.<objecttype>.v1, dsco.cmd.<command>.v1
	// or dsco.cmd.results.v1.
	Topic string
	// KeyField is the path of the field whose value is the record's Kafka
	// key (a plain UTF-8 string), for example "order.orderId".
	KeyField string
	// RecordName is the schema's full name, for example
	// io.dscokafka.v1.OrderEvent.
	RecordName string
	// File is the schema's path in the embedded file system, for example
	// avro/OrderEvent.avsc.
	File string
	// Schema is the parsed schema.
	Schema avro.Schema
	// Text is the schema text as it is registered: the .avsc file, compacted.
	Text string
	// GoType is the Go struct type of the record (not a pointer).
	GoType reflect.Type

	newRecord func() Record
}

// New returns a new, zero record of the descriptor's Go type.
func (d *Descriptor) New() Record { return d.newRecord() }

func describe[T any, P interface {
	*T
	Record
}](name string, kind Kind, topic, keyField, file string) *Descriptor {
	raw, err := avscFiles.ReadFile(file)
	if err != nil {
		panic(fmt.Sprintf("schemas: embedded %s: %v", file, err))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		panic(fmt.Sprintf("schemas: embedded %s is not JSON: %v", file, err))
	}
	// Each file is parsed with its own cache: files define their nested
	// types inline and must not see each other's (or the registry's) names.
	sch, err := avro.ParseBytesWithCache(compact.Bytes(), "", &avro.SchemaCache{})
	if err != nil {
		panic(fmt.Sprintf("schemas: embedded %s: %v", file, err))
	}
	rec, ok := sch.(*avro.RecordSchema)
	if !ok {
		panic(fmt.Sprintf("schemas: embedded %s is not a record schema", file))
	}
	return &Descriptor{
		Name:       name,
		Kind:       kind,
		Topic:      topic,
		KeyField:   keyField,
		RecordName: rec.FullName(),
		File:       file,
		Schema:     sch,
		Text:       compact.String(),
		GoType:     reflect.TypeFor[T](),
		newRecord:  func() Record { return P(new(T)) },
	}
}

// The descriptors, one per record. The embedded schemas are part of the
// binary, so failing to parse one is a programming error caught by the
// package's tests, hence the panic in describe.
var (
	descOrderEvent           = describe[OrderEvent]("order", KindEvent, "dsco.order.v1", "order.orderId", "avro/OrderEvent.avsc")
	descReturnEvent          = describe[ReturnEvent]("return", KindEvent, "dsco.return.v1", "return.orderId", "avro/ReturnEvent.avsc")
	descInventoryEvent       = describe[InventoryEvent]("inventory", KindEvent, "dsco.inventory.v1", "inventory.sku", "avro/InventoryEvent.avsc")
	descCatalogEvent         = describe[CatalogEvent]("catalog", KindEvent, "dsco.catalog.v1", "catalog.sku", "avro/CatalogEvent.avsc")
	descInvoiceEvent         = describe[InvoiceEvent]("invoice", KindEvent, "dsco.invoice.v1", "invoice.orderId", "avro/InvoiceEvent.avsc")
	descOrderItemChangeEvent = describe[OrderItemChangeEvent]("orderitemchange", KindEvent, "dsco.orderitemchange.v1", "orderItemChange.orderId", "avro/OrderItemChangeEvent.avsc")
	descItemInventoryEvent   = describe[ItemInventoryEvent]("iteminventory", KindEvent, "dsco.iteminventory.v1", "itemInventory.sku", "avro/ItemInventoryEvent.avsc")

	descShip                       = describe[ShipCommand]("ship", KindCommand, "dsco.cmd.ship.v1", "orderId", "avro/ShipCommand.avsc")
	descCancel                     = describe[CancelCommand]("cancel", KindCommand, "dsco.cmd.cancel.v1", "orderId", "avro/CancelCommand.avsc")
	descInvoice                    = describe[InvoiceCommand]("invoice", KindCommand, "dsco.cmd.invoice.v1", "orderId", "avro/InvoiceCommand.avsc")
	descAcknowledge                = describe[AcknowledgeCommand]("acknowledge", KindCommand, "dsco.cmd.acknowledge.v1", "orderId", "avro/AcknowledgeCommand.avsc")
	descInventory                  = describe[InventoryCommand]("inventory", KindCommand, "dsco.cmd.inventory.v1", "sku", "avro/InventoryCommand.avsc")
	descCatalog                    = describe[CatalogCommand]("catalog", KindCommand, "dsco.cmd.catalog.v1", "sku", "avro/CatalogCommand.avsc")
	descReturn                     = describe[ReturnCommand]("return", KindCommand, "dsco.cmd.return.v1", "orderId", "avro/ReturnCommand.avsc")
	descRetailerOrder              = describe[RetailerOrderCommand]("retailer-order", KindCommand, "dsco.cmd.retailer-order.v1", "orderId", "avro/RetailerOrderCommand.avsc")
	descRetailerReturn             = describe[RetailerReturnCommand]("retailer-return", KindCommand, "dsco.cmd.retailer-return.v1", "orderId", "avro/RetailerReturnCommand.avsc")
	descRetailerCancel             = describe[RetailerCancelCommand]("retailer-cancel", KindCommand, "dsco.cmd.retailer-cancel.v1", "orderId", "avro/RetailerCancelCommand.avsc")
	descRetailerCatalogAttribution = describe[RetailerCatalogAttributionCommand]("retailer-catalog-attribution", KindCommand, "dsco.cmd.retailer-catalog-attribution.v1", "sku", "avro/RetailerCatalogAttributionCommand.avsc")

	descResult = describe[CommandResult]("results", KindResult, "dsco.cmd.results.v1", "commandId", "avro/CommandResult.avsc")
)

// Events lists the inbound event records, one per Dsco object type, in a
// fixed order. Do not modify the slice.
var Events = []*Descriptor{
	descOrderEvent, descReturnEvent, descInventoryEvent, descCatalogEvent,
	descInvoiceEvent, descOrderItemChangeEvent, descItemInventoryEvent,
}

// Commands lists the outbound command records, supplier commands first, in
// a fixed order. Do not modify the slice.
var Commands = []*Descriptor{
	descShip, descCancel, descInvoice, descAcknowledge, descInventory,
	descCatalog, descReturn, descRetailerOrder, descRetailerReturn,
	descRetailerCancel, descRetailerCatalogAttribution,
}

// Result describes the CommandResult record.
var Result = descResult

// All returns every descriptor: the events, the commands, then the result.
func All() []*Descriptor {
	all := make([]*Descriptor, 0, len(Events)+len(Commands)+1)
	all = append(all, Events...)
	all = append(all, Commands...)
	return append(all, Result)
}

// Event returns the event descriptor of a Dsco object type (order, return,
// inventory, catalog, invoice, orderitemchange, iteminventory).
func Event(objectType string) (*Descriptor, bool) { return find(Events, objectType) }

// Command returns the descriptor of a command name (ship, cancel, ...,
// retailer-catalog-attribution).
func Command(name string) (*Descriptor, bool) { return find(Commands, name) }

// ByRecordName returns the descriptor whose schema has the given full name.
func ByRecordName(fullName string) (*Descriptor, bool) {
	for _, d := range All() {
		if d.RecordName == fullName {
			return d, true
		}
	}
	return nil, false
}

func find(ds []*Descriptor, name string) (*Descriptor, bool) {
	for _, d := range ds {
		if d.Name == name {
			return d, true
		}
	}
	return nil, false
}

func (*OrderEvent) descriptor() *Descriptor            { return descOrderEvent }
func (*ReturnEvent) descriptor() *Descriptor           { return descReturnEvent }
func (*InventoryEvent) descriptor() *Descriptor        { return descInventoryEvent }
func (*CatalogEvent) descriptor() *Descriptor          { return descCatalogEvent }
func (*InvoiceEvent) descriptor() *Descriptor          { return descInvoiceEvent }
func (*OrderItemChangeEvent) descriptor() *Descriptor  { return descOrderItemChangeEvent }
func (*ItemInventoryEvent) descriptor() *Descriptor    { return descItemInventoryEvent }
func (*ShipCommand) descriptor() *Descriptor           { return descShip }
func (*CancelCommand) descriptor() *Descriptor         { return descCancel }
func (*InvoiceCommand) descriptor() *Descriptor        { return descInvoice }
func (*AcknowledgeCommand) descriptor() *Descriptor    { return descAcknowledge }
func (*InventoryCommand) descriptor() *Descriptor      { return descInventory }
func (*CatalogCommand) descriptor() *Descriptor        { return descCatalog }
func (*ReturnCommand) descriptor() *Descriptor         { return descReturn }
func (*RetailerOrderCommand) descriptor() *Descriptor  { return descRetailerOrder }
func (*RetailerReturnCommand) descriptor() *Descriptor { return descRetailerReturn }
func (*RetailerCancelCommand) descriptor() *Descriptor { return descRetailerCancel }
func (*RetailerCatalogAttributionCommand) descriptor() *Descriptor {
	return descRetailerCatalogAttribution
}
func (*CommandResult) descriptor() *Descriptor { return descResult }

// DescriptorOf returns the descriptor of a record.
func DescriptorOf(r Record) *Descriptor { return r.descriptor() }

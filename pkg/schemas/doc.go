// Package schemas is the connector's Kafka record contract: the Avro schemas
// of every record the connector writes or reads (embedded .avsc files under
// avro/), a Go type per record, the table of records with their default
// topics and keys (Events, Commands, Result), and the Serde that encodes and
// decodes them in the Confluent wire format against a Schema Registry.
//
// # Records
//
// Inbound events (one per Dsco object type) carry the Dsco stream envelope
// (eventId, eventType, objectType, timestamp, streamId, position) and the
// typed object. Every record that stands for a Dsco object has an extra
// field: the attributes Dsco sent that the schema does not declare, as one
// JSON object text, so that nothing Dsco sends is lost. Outbound commands
// carry the fields of the Dsco item they create, under the same names, plus
// commandId and correlationId. CommandResult reports what became of a
// command.
//
// Each .avsc file is one self-contained top-level schema (named types it
// uses are defined inline), so that the text in the registry is exactly the
// file in the repository and any Confluent client can read it without
// schema references. Nested types that several files define (Address,
// OrderItem, RetailModelRules) are identical in every file; a test enforces
// it.
//
// Money amounts are Avro decimal (bytes, precision 18, scale 4); in Go they
// are Decimal, nil for null, built from a JSON number's text by
// ParseDecimal without going through float64 (Decimal.Rat gives a
// *big.Rat). Instants are timestamp-millis (time.Time in UTC, millisecond
// precision), calendar
// dates are date (time.Time at UTC midnight). Every field the Dsco API does
// not require is nullable with a null default, and arrays default to empty,
// so adding fields later stays BACKWARD compatible.
//
// # Wire format
//
// Values are framed as Confluent does: magic byte 0, the 4-byte big-endian
// schema id, then the Avro binary encoding. Keys are plain UTF-8 strings,
// not Avro. Registry subjects follow a SubjectStrategy (TopicName by
// default). Without a registry, Config.SingleObject selects Avro
// single-object encoding (C3 01, the 8-byte little-endian CRC-64-AVRO
// fingerprint of the schema's canonical form, then the Avro binary).
//
// # Encoding and decoding
//
// Records are written by encoders generated from the schemas, which refuse
// what other ecosystems could not read back as written (a string that is
// not valid UTF-8, a decimal beyond precision 18, an enum value that is no
// symbol) with an *EncodeError naming the field, for example
// order.items[2].cost. Values written with this build's own schemas (the
// common case) are read by decoders generated the same way; both are
// checked against hamba/avro's reflective codec by the tests. Values
// written with any other registered version of a record, whoever wrote it,
// are first resolved into our schema's encoding by a plan compiled once per
// writer schema id (resolve.go), then read by the same decoders: fields
// added with defaults, removed or reordered; numeric and string/bytes
// promotions; unions and enums resolved. A decimal written with another
// scale or precision is rescaled when that is exact and otherwise refused
// with a *DecimalError naming the field, so an amount is never read wrong;
// a timestamp or date is only read from the same logical type. hamba/avro's
// decoder never sees a foreign writer's bytes: every length and block count
// is checked before it is used, and any malformed body gives the same
// *MalformedError whichever schema wrote it. A consumer on a hot path may
// decode into the same record again and again: Decode then reuses its
// nested records, slices and nullable fields instead of allocating them.
//
// # Compatibility
//
// Serde.Register and Serde.Check compare each schema with the latest version
// the registry holds, locally (test registries such as srfake answer
// "compatible" to everything), by compiling the same resolution plan that
// decoding uses: the check and the decoding cannot disagree. An
// incompatible schema is refused with an IncompatibleError that names the
// subject and the field. A registry that answers 409 to a registration is
// refused the same way.
//
// # Generated code
//
// The .avsc files are the one source of truth. The record types
// (types_gen.go), their Avro decoders (avrodecode_gen.go) and encoders
// (avroencode_gen.go) and their Dsco JSON decoders (dscojson_records.go)
// are generated from them by internal/avrogen, and the contract document
// docs/kafka-contract.md by internal/contractdoc: run go generate
// ./pkg/schemas after changing a schema. Tests fail when a generated file
// is stale.
package schemas

//go:generate go run ./internal/avrogen -schemas avro -out .
//go:generate go run ./internal/contractdoc -out ../../docs/kafka-contract.md

// Command avrogen generates the Go code of package schemas that mirrors the
// Avro schemas (pkg/schemas/avro/*.avsc), so that the .avsc files are the
// one source of truth: the record types, the fast Avro decoders, the
// validating Avro encoders and the one-pass Dsco JSON decoders. Run it
// through go generate in pkg/schemas; a test fails when the checked-in
// output is stale.
//
// The generator is a schema model (model.go: every record, field and enum
// of the files, with the Go name and the Dsco JSON name of each) and one
// emitter per output file (emit_types.go, emit_avrodecode.go,
// emit_avroencode.go, emit_dscojson.go), listed in emitters. Go names come
// from one rule (goName) or the go.name attribute, so every output names a
// type or field the same way.
//
// Schema attributes the generator reads (every other Avro client ignores
// them):
//
//   - "go.name" on a record, enum or field: the Go name, where the rule
//     (the Avro name with its first letter upper-cased and the words Id,
//     Sku, Url and Http written ID, SKU, URL and HTTP) does not give the
//     right one.
//   - "go.envelope" on a top-level record: the number of leading fields
//     that form the Dsco stream envelope, generated once as the Envelope
//     struct and embedded in each such record. Every record with the
//     attribute must declare those fields identically, streamId and
//     position among them.
//   - "go.prefix" on an enum: the prefix of its Go constants (Outcome +
//     accepted gives OutcomeAccepted); the enum's Go name by default.
//   - "dsco.name" on a field: the name of the field in Dsco's JSON, where
//     it differs from the Avro name (the object of a stream event is read
//     from the event's "data" member unless it says otherwise).
//   - "dsco.json": "object" on a nullable string field: it holds a JSON
//     object's text exactly as Dsco sent it (CatalogItem.attributes is read
//     so without the attribute, which its registered schema predates).
//   - "dsco.objectType" on a stream event record: the Dsco object type of
//     its stream, where it is not the object field's name in lower case.
//
// What the connector reads from Dsco JSON: the top-level records named
// ...Event. One with an envelope is a stream event, decoded whole (the
// stream id from the caller, the position from the event's own position
// member when present); another (ItemInventoryEvent) has only its object
// read from Dsco JSON. A field named extra (a nullable string) collects the
// members of the object the schema does not declare.
//
// Hand-written code in package schemas provides what the generated code
// calls: the decoder and encoder types with their primitives (fastdecode.go,
// encode.go), the Dsco JSON page decoder and value readers (dscojson.go,
// over the scanner of internal/dscojson), Decimal, and the descriptor
// table (contract.go).
package main

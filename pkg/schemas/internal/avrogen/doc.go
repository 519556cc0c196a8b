// Command avrogen generates the Go code of package schemas that mirrors the
// Avro schemas (pkg/schemas/avro/*.avsc), so that the .avsc files are the
// one source of truth: the record types, the fast Avro decoders and the
// validating Avro encoders. Run it through go generate in pkg/schemas; a
// test fails when the checked-in output is stale.
//
// The generator is a schema model (model.go: every record, field and enum
// of the files, with the Go name of each) and one emitter per output file
// (emit_types.go, emit_avrodecode.go, emit_avroencode.go), listed in
// emitters. Another output, such as the decoders of the Dsco JSON of each
// record, is one more emitter over the same model; the Dsco JSON name of a
// field is its "dsco.name" attribute, or its Avro name when it has none.
//
// Schema attributes the generator reads (every other Avro client ignores
// them):
//
//   - "go.name" on a record, enum or field: the Go name, where the rule
//     (the Avro name with its first letter upper-cased and the words Id
//     and Sku written ID and SKU) does not give the right one.
//   - "go.envelope" on a top-level record: the number of leading fields
//     that form the Dsco stream envelope, generated once as the Envelope
//     struct and embedded in each such record. Every record with the
//     attribute must declare those fields identically.
//   - "go.prefix" on an enum: the prefix of its Go constants (Outcome +
//     accepted gives OutcomeAccepted); the enum's Go name by default.
//   - "dsco.name" on a field: the name of the field in Dsco's JSON, where
//     it differs from the Avro name.
//
// Hand-written code in package schemas provides what the generated code
// calls: the decoder and encoder types with their primitives (fastdecode.go,
// encode.go), Decimal, and the descriptor table (contract.go).
package main

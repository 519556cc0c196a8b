// Command dscojsongen generates the Dsco JSON decoders of package schemas
// (dscojson_records.go) from the .avsc files: for every record a Dsco
// stream event carries, a decoder that reads the Dsco JSON object straight
// into the record's Go type through the generic scanner of
// internal/dscojson, and for every stream event record the decoder of the
// whole event (envelope and data).
//
// The model is the parsed schemas (hamba/avro). The Dsco JSON name of a
// field is its "dsco.name" attribute when present, else the Avro field
// name; the event's object is read from the event's "data" member. A
// nullable string field with the attribute "dsco.json": "object" (or one
// named in rawObjectFields) holds a JSON object's text as Dsco sent it. A
// field named "extra" collects the members the schema does not declare.
// Stream event records are the ones with a streamId field: the stream id
// comes from the call, the position from the event's own "position" member
// when present. The object type of an event record is its "dsco.objectType"
// attribute, else the name of its object field in lower case.
//
// Go names are the "go.name" attribute of a record or field, else the
// Avro name with its first letter upper-cased and the words Id and Sku
// written ID and SKU (lineItemId → LineItemID), as internal/avrogen names
// the Go types; the tests check them against the Go types.
//
// Run it with go generate ./pkg/schemas; a test fails when the checked-in
// output is stale.
package main

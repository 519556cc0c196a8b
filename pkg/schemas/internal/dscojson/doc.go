// Package dscojson is the generic core of the connector's Dsco JSON
// decoders: a strict, validating, allocation-free scanner over one JSON text
// (a page of Dsco stream events), string unescaping into a per-page arena,
// exact money parsing into an unscaled integer, the timestamp forms Dsco
// documents, and the capture of unknown object members as raw spans for the
// records' extra fields.
//
// It knows nothing of the records: the per-record decoders in pkg/schemas
// are generated from the Avro schemas and call this package. It accepts
// exactly the texts encoding/json accepts (including its nesting limit of
// 10,000), unescapes strings as encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD), and never panics on input.
//
// A Scanner is not safe for concurrent use. The strings it returns are
// substrings of the text, or (unescaped strings, extras) live in an arena
// that is reused from the next Reset: they are valid until then.
package dscojson

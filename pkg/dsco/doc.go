// Package dsco is a typed client for the Dsco Platform API v3: OAuth2 client
// credentials shared by all goroutines, one method per operation of the API
// contract (api/dsco-openapi.yaml) plus GetItemInventory and its file
// download, retries with exponential backoff and full jitter, client-side
// rate limits per endpoint group, and typed errors.
//
// Every model keeps the JSON attributes it does not know in its Extra map and
// writes them back when it is encoded, so that nothing Dsco sends is lost on
// its way to Kafka. Money amounts keep their exact JSON number text (Money),
// calendar dates are Date, instants are time.Time, read with ParseTime from
// every form Dsco documents (RFC 3339, and offsets written +01:00, +0100 or
// +01). A value that does not fit its field (an integer beyond int64, a
// timestamp in no documented form) is a *FieldError naming the model and the
// field.
//
// GetStreamEventsRaw, GetItemInventoryRaw and DownloadInventoryFileRaw make
// the same calls and return the answers as Dsco sent them, undecoded, for
// callers that decode them in one pass into their own records (pkg/schemas'
// generated decoders, used by pkg/inbound).
//
// Errors are classified in one place: IsRetryable reports whether repeating
// the same call later may succeed (network errors, 408, 429, 5xx).
// ErrOutcomeUnknown marks a write that may have reached Dsco before the
// connection failed; Dsco has no idempotency keys, so the client never
// re-sends such a write by itself and the caller has to decide.
// ErrAnswerUnreadable marks a write that took effect although its answer
// could not be read (createStream answered 2xx: the stream exists).
//
// A Client is safe for concurrent use by multiple goroutines. Close it when
// done with it: Close ends a token request under way and closes the
// connections of the HTTP transport the client made for itself, which
// net/http otherwise keeps open, with a goroutine or two each; calls after
// Close fail with ErrClosed. A client given an *http.Client (WithHTTPClient)
// leaves that client's connections to its owner.
package dsco

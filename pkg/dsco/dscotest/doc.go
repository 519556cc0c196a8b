// Package dscotest is a stateful, spec-validated sandbox of the Dsco Platform
// API v3, for tests, benchmarks, the demo and the compose stack.
//
// A Sandbox is an http.Handler serving the API under /api/v3: OAuth2 client
// credentials tokens with a TTL, every operation of the embedded OpenAPI
// contract (package github.com/dscokafka/connector/api) with each request
// validated against it, real state (orders and their line items with a
// lifecycle, catalog, inventory per sku and warehouse, shipments,
// cancellations, invoices, returns), partitioned event streams with positions
// and retention, the GetItemInventory extension (high-water-mark paging and
// file delivery with a callback), deterministic fault injection (also
// faults after a write was applied), a queue mode that answers batch writes
// "accepted" and applies them later (Config.Queue), counts of what every
// write applied (Sandbox.Applied) and a traffic generator whose orders are
// kept as seeds, so that backlogs of millions of events fit in little
// memory (SeedOrderBacklog). NewServer serves a Sandbox on a loopback port,
// like net/http/httptest.
//
// The sandbox is an independent implementation of the contract: it shares no
// code with the client in package dsco, so that each can catch the other's
// mistakes. ValidatingTransport checks a client's traffic against the same
// contract.
//
// Extensions beyond the OpenAPI document (the partition query parameter,
// position encoding, GetItemInventory, inventory files, the queue mode and
// /_sandbox) are described in docs/dsco-sandbox.md.
package dscotest

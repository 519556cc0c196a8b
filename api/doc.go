// Package api embeds the Dsco Platform API v3 contract that this project
// implements, both as a client (pkg/dsco) and as a sandbox server
// (pkg/dsco/dscotest).
//
// The OpenAPI document is the project's own copy: it ships with the binary so
// that the sandbox and the tests validate traffic against exactly the contract
// the client was written for.
package api

// Command dsco-sandbox serves the stateful Dsco API v3 sandbox of package
// dscotest on a TCP address, for the compose stack, benchmarks and manual
// tries with curl. See docs/dsco-sandbox.md.
package main

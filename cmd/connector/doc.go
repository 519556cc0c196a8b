// Command connector joins the Dsco Platform API v3 to Apache Kafka.
//
// Usage:
//
//	connector <command> [flags]
//
// The commands:
//
//	check             validate the configuration and reach Kafka, the Schema Registry and Dsco
//	schemas print     show the records, topics and subjects this configuration uses
//	schemas register  register the schemas (after a local compatibility check)
//	schemas check     check the schemas against the registered versions
//	probe URL         GET a URL and succeed on a 2xx answer (container health checks)
//	version           print the module version and VCS information
//
// Configuration comes from environment variables only (see the README's
// configuration table, generated from package internal/config); an invalid
// configuration exits with status 2 and lists every problem. Other failures
// exit with status 1. SIGINT and SIGTERM cancel the running command.
package main

//go:generate go run ./internal/configdoc -readme ../../README.md

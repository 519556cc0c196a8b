// Command connector joins the Dsco Platform API v3 to Apache Kafka.
//
// Usage:
//
//	connector <command> [flags]
//
// The commands:
//
//	run               (the default) both directions per configuration until SIGTERM or SIGINT,
//	                  then a graceful shutdown within CONNECTOR_SHUTDOWN_TIMEOUT; ops server
//	                  on CONNECTOR_OPS_ADDR (status page, /healthz, /readyz, /metrics)
//	demo              everything embedded: kfake, srfake, the Dsco sandbox and its order
//	                  generator, the connector as a supplier and a sample warehouse service
//	                  (internal/warehouse); -duration stops it; prints a summary
//	poison list       list the poison topic's records with their reasons (filters, -limit, -json)
//	poison replay     requeue selected poison records to their source topics
//	check             validate the configuration and reach Kafka, the Schema Registry and Dsco
//	schemas print     show the records, topics and subjects this configuration uses
//	schemas register  register the schemas (after a local compatibility check)
//	schemas check     check the schemas against the registered versions
//	probe URL         GET a URL and succeed on a 2xx answer (container health checks)
//	version           print the module version and VCS information
//
// Configuration comes from environment variables only (`connector run -h`
// lists them, as does the README's configuration table, both generated from
// package internal/config); an invalid
// configuration exits with status 2 and lists every problem, and so does a
// command line the connector refuses (an unknown command, flag or argument,
// flags before the command). Other failures exit with status 1. SIGINT and SIGTERM cancel the running command; a
// second signal kills the process.
//
// # run
//
// run builds the Dsco client, the serde (registering the schemas, or with
// SCHEMA_REGISTRY_LOOKUP_ONLY looking them up, after a compatibility check:
// it refuses to start when that fails, and waits up to 30 seconds for a
// registry that does not answer), the Kafka publisher, and per
// CONNECTOR_DIRECTIONS the inbound router (the streams of DSCO_STREAMS, and
// the GetItemInventory poller when DSCO_ITEM_INVENTORY_INTERVAL is above
// zero) and the outbound router (the command topics of DSCO_ROLE), through
// pkg/router. Readiness: kafka, registry, dsco and routers (running, and
// refused none of their consumer groups by Kafka). The status page
// is refreshed every 2 seconds from the pipelines' metrics, the streams'
// saved positions at Dsco and the command topics' consumer lag.
package main

//go:generate go run ./internal/configdoc -readme ../../README.md

// Command contractdoc writes docs/kafka-contract.md, the Kafka record
// contract, from the schemas embedded in package schemas: every topic with
// its key and record, every field with its type, default and doc, the wire
// format and the subject strategies. Run it through go generate in
// pkg/schemas; a test fails when the committed document is stale.
package main

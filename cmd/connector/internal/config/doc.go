// Package config is the connector's configuration: one root struct, Config,
// read from environment variables with go-envconfig, and mapped onto the
// Config structs of the packages that do the work (pkg/kafka, pkg/schemas,
// pkg/dsco).
//
// Only cmd/connector reads the environment: everything else receives plain
// values. Load reports every problem at once, each naming the variable and
// what it expects, so that a person fixes a deployment in one round. Secrets
// (client secret, static token, SASL and registry passwords) are held in
// Secret values, which never print, marshal or log their contents.
//
// The struct tags are the single source of the variables' names, defaults and
// meanings: Fields lists them by reflection, and the README's configuration
// table is generated from it (go generate ./cmd/connector).
package config

// Command configdoc writes the configuration table of README.md from the
// connector's configuration struct (package config): every environment
// variable with its default, whether it is required, and its meaning (the
// desc tag). It replaces what lies between the markers
// <!-- config:begin --> and <!-- config:end --> and leaves the rest of the
// file alone. Run it through go generate ./cmd/connector; a test fails when
// the README's table is stale.
package main

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestContractDocIsCurrent fails when docs/kafka-contract.md does not match
// the embedded schemas.
func TestContractDocIsCurrent(t *testing.T) {
	want, err := generate()
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "kafka-contract.md"))
	require.NoError(t, err, "docs/kafka-contract.md is missing: run `go generate ./pkg/schemas`")
	require.True(t, string(want) == string(got),
		"docs/kafka-contract.md is stale: run `go generate ./pkg/schemas` and commit the result")
}

func TestContractDocCoversEveryRecord(t *testing.T) {
	doc, err := generate()
	require.NoError(t, err)
	for _, d := range schemas.All() {
		t.Run(d.RecordName, func(t *testing.T) {
			assert.Contains(t, string(doc), "## "+d.RecordName+"\n")
			assert.Contains(t, string(doc), "`"+d.Topic+"`")
			assert.Contains(t, string(doc), "`pkg/schemas/"+d.File+"`")
		})
	}
}

// TestContractDocShowsDscoNames: a field whose Dsco JSON attribute has
// another name (the schema attribute dsco.name) says so in the document.
func TestContractDocShowsDscoNames(t *testing.T) {
	doc, err := generate()
	require.NoError(t, err)
	for _, field := range []string{"order", "orderItemChange", "inventory", "catalog", "invoice", "return"} {
		assert.Regexp(t, "\\| `"+field+"` \\| record `\\w+` \\|  \\| [^|]*Dsco JSON: `data`\\. \\|", string(doc), field)
	}
	assert.NotContains(t, string(doc), "| `orderId` | `string` |  | Dsco JSON", "fields named as in Dsco's JSON say nothing")
}

// TestContractDocShowsEnums: every enum is documented with its symbols and
// the default symbol a reader falls back to.
func TestContractDocShowsEnums(t *testing.T) {
	doc, err := generate()
	require.NoError(t, err)
	assert.Contains(t, string(doc), "#### io.dscokafka.v1.CommandOutcome\n")
	assert.Contains(t, string(doc), "- symbols: `accepted`, `rejected`, `failed`\n- default symbol (what a reader reads for a symbol its schema does not know): `failed`\n")
	assert.Contains(t, string(doc), "#### io.dscokafka.v1.CommandStatus\n")
	assert.Contains(t, string(doc), "does not know): `unspecified`\n")
}

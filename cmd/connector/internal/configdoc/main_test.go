package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
)

const readmePath = "../../../../README.md"

// TestReadmeTableIsCurrent fails when README.md's configuration table does
// not match the configuration struct.
func TestReadmeTableIsCurrent(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	want, err := splice(readme, table())
	require.NoError(t, err, "README.md needs the configuration markers")
	require.True(t, string(want) == string(readme),
		"README.md's configuration table is stale: run `go generate ./cmd/connector` and commit the result")
}

func TestTableHasEveryVariable(t *testing.T) {
	tbl := table()
	for _, f := range config.Fields() {
		assert.Contains(t, tbl, "| `"+f.Var+"` |")
	}
	assert.Contains(t, tbl, "| `CONNECTOR_TOPIC_PREFIX` | `dsco.` |  |")
	assert.Contains(t, tbl, "| `KAFKA_BROKERS` |  | yes |")
	assert.Contains(t, tbl, "topic (&lt;topic&gt;-value)", "angle brackets stay text")
}

func TestSplice(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "replaces between markers", in: "a\n<!-- config:begin -->\nold\n<!-- config:end -->\nb\n",
			want: "a\n<!-- config:begin -->\nNEW\n<!-- config:end -->\nb\n"},
		{name: "no markers", in: "a\n", err: "markers <!-- config:begin --> and <!-- config:end --> not found"},
		{name: "twice", in: "<!-- config:begin --><!-- config:end --><!-- config:begin -->",
			err: "each marker must appear exactly once"},
		{name: "reversed", in: "<!-- config:end --><!-- config:begin -->",
			err: "<!-- config:end --> comes before <!-- config:begin -->"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splice([]byte(tt.in), "NEW\n")
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestUpdateWritesOnlyTheSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(path, []byte("# T\n\n<!-- config:begin -->\n<!-- config:end -->\n\nafter\n"), 0o644))
	require.NoError(t, update(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(got), "# T\n\n<!-- config:begin -->\n<!-- Generated"))
	assert.True(t, strings.HasSuffix(string(got), "|\n<!-- config:end -->\n\nafter\n"))
}

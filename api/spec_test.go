package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/api"
)

func TestLoad(t *testing.T) {
	doc, err := api.Load(context.Background())
	require.NoError(t, err)

	ops := 0
	for _, item := range doc.Paths.Map() {
		ops += len(item.Operations())
	}
	require.Equal(t, 17, doc.Paths.Len(), "paths in the contract")
	require.Equal(t, 18, ops, "operations in the contract")

	// Each call returns an independent document.
	doc.Servers = nil
	again, err := api.Load(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, again.Servers)
}

package api

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPI is the Dsco API v3 OpenAPI 3 document, as YAML.
//
//go:embed dsco-openapi.yaml
var OpenAPI []byte

// GetItemInventory documents the params object of the GetItemInventory call,
// which the OpenAPI document does not describe.
//
//go:embed dsco-get-item-inventory.md
var GetItemInventory []byte

// Load parses and validates OpenAPI. Each call returns a fresh document, so a
// caller may change it (for example replace its servers with a sandbox's
// base URL before building a router) without affecting other callers.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("loading the Dsco OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating the Dsco OpenAPI document: %w", err)
	}
	return doc, nil
}

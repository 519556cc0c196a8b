package dscotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGeneratedOrderEncoding: the direct encoder of generated orders writes
// exactly the bytes of the ordinary encoder for the same order, for every
// shape, so a page of a generated backlog is what the same orders created
// one by one would give.
func TestGeneratedOrderEncoding(t *testing.T) {
	shapes := []OrderShape{{}, {Items: 1}, {Items: 5}, {Items: 12, ExtraAttributes: 3}, {ExtraAttributes: 20}, {Items: 5, ExtraAttributes: 17}}
	for _, seed := range []int64{1, -3} {
		for _, share := range []float64{0.7, 0, 1} {
			for _, shape := range shapes {
				t.Run(fmt.Sprintf("seed=%d/share=%v/%+v", seed, share, shape), func(t *testing.T) {
					g := newGenerator(seed)
					g.mu.Lock()
					g.ensureCatalog(50)
					g.mu.Unlock()
					ts := time.Date(2026, 11, 24, 10, 0, 0, 123_000_000, time.UTC)
					for range 60 {
						num, state, catLen := g.next(shape)
						want := g.build(num, state, catLen, share, shape, ts).appendJSON()
						got := g.appendGenerated(nil, genOrder{state: state, num: num, catLen: uint32(catLen)}, genShape{share: share, shape: shape}, ts)
						require.Equal(t, string(want), string(got))
						require.True(t, json.Valid(got))
						if shape.Items > 0 {
							var o struct{ Items []json.RawMessage }
							require.NoError(t, json.Unmarshal(got, &o))
							require.Len(t, o.Items, shape.Items)
						}
					}
				})
			}
		}
	}
}

// TestExtraAttributesAreValidAndDistinct: every attribute the generator
// adds is valid JSON, named extNN, and none repeats a name in its object.
func TestExtraAttributesAreValidAndDistinct(t *testing.T) {
	b := appendExtraAttributes([]byte(`{"a":1`), 40, 12345, 2)
	b = append(b, '}')
	require.True(t, json.Valid(b), string(b))
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	require.Len(t, m, 41)
	require.Equal(t, `"caf\u00e9 \"381\" \\ é"`, string(m["ext16"]))
	require.Equal(t, `368.30`, string(m["ext03"]), "a decimal with its trailing zero")
	require.True(t, bytes.Contains(b, []byte(`"ext40":`)))
}

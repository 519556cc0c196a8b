package schemas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// Malformed bodies under foreign writer schemas. hamba/avro's array decoder
// crashes the whole process (SIGSEGV, not recoverable) on an array block
// count of math.MinInt64 when it resolves a foreign writer schema; every
// such input must instead give the *MalformedError our own-schema decoder
// gives.

// varintMinInt64 is the zig-zag zigzagVarint of math.MinInt64.
var varintMinInt64 = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}

// zigzagVarint returns the zig-zag zigzagVarint of v.
func zigzagVarint(v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	var out []byte
	for u >= 0x80 {
		out = append(out, byte(u)|0x80)
		u >>= 7
	}
	return append(out, byte(u))
}

func joinBytes(parts ...[]byte) []byte { return slices.Concat(parts...) }

// schemaAsJSON returns d's schema as JSON to edit.
func schemaAsJSON(t *testing.T, d *schemas.Descriptor) map[string]any {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(d.Text), &root))
	return root
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// withFirstField returns d's schema with a field of type typ put first: a
// foreign writer schema whose first bytes are that field's.
func withFirstField(t *testing.T, d *schemas.Descriptor, typ any) string {
	t.Helper()
	root := schemaAsJSON(t, d)
	root["fields"] = append([]any{map[string]any{"name": "addedByProducer", "type": typ}}, root["fields"].([]any)...)
	return jsonText(t, root)
}

// arrayFirst returns d's schema with its first array field (through nested
// and nullable records) moved to the front of every record on the way, so
// that the array's block count is at the start of the body after prefix
// (the union indexes on the way), and the array's path. ok is false for a
// record without arrays.
func arrayFirst(t *testing.T, d *schemas.Descriptor) (text string, prefix []byte, path string, ok bool) {
	t.Helper()
	root := schemaAsJSON(t, d)
	var find func(rec map[string]any, path string) (string, []byte, bool)
	find = func(rec map[string]any, path string) (string, []byte, bool) {
		fields := rec["fields"].([]any)
		for i, f := range fields {
			field := f.(map[string]any)
			typ, unions := field["type"], []byte(nil)
			if u, ok := typ.([]any); ok && len(u) == 2 && u[0] == "null" {
				typ, unions = u[1], []byte{0x02}
			}
			m, ok := typ.(map[string]any)
			if !ok {
				continue
			}
			p := joinPath(path, field["name"].(string))
			var (
				inner []byte
				found bool
			)
			switch m["type"] {
			case "array":
				found = true
			case "record":
				p, inner, found = find(m, p)
			}
			if found {
				rec["fields"] = append([]any{field}, slices.Delete(fields, i, i+1)...)
				return p, joinBytes(unions, inner), true
			}
		}
		return "", nil, false
	}
	path, prefix, ok = find(root, "")
	return jsonText(t, root), prefix, path, ok
}

func TestMalformedUnderForeignWriter(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{MaxBytes: 1 << 16, MaxItems: 1 << 12})

	type input struct {
		name      string
		text      string // writer schema
		body      []byte
		truncated bool
	}
	var inputs []input
	for _, d := range schemas.All() {
		own, err := serde.Encode(fixtures()[d.RecordName])
		require.NoError(t, err)
		rest := own[5:] // a valid body of ours, after the crafted bytes

		// A field the reader does not have, skipped.
		arrayOfLong := map[string]any{"type": "array", "items": "long"}
		mapOfString := map[string]any{"type": "map", "values": "string"}
		for _, c := range []struct {
			name      string
			typ       any
			bytes     []byte
			truncated bool
		}{
			{"skipped array: block count math.MinInt64", arrayOfLong, varintMinInt64, false},
			{"skipped map: block count math.MinInt64", mapOfString, varintMinInt64, false},
			{"skipped array: block count past the end", arrayOfLong, zigzagVarint(1 << 40), false},
			{"skipped array: block count over MaxItems", map[string]any{"type": "array", "items": "null"}, zigzagVarint(1 << 13), false},
			{"skipped array: negative block byte size", arrayOfLong, joinBytes(zigzagVarint(-2), zigzagVarint(-1)), false},
			{"skipped array: block byte size past the end", arrayOfLong, joinBytes(zigzagVarint(-2), zigzagVarint(1<<40)), true},
			{"skipped bytes: negative size", "bytes", zigzagVarint(-1), false},
			{"skipped string: size past the end", "string", zigzagVarint(1 << 40), false},
			{"skipped union: index past the branches", []any{"null", "long"}, zigzagVarint(2), false},
			{"skipped union: negative index", []any{"null", "long"}, zigzagVarint(-1), false},
			{"skipped enum: index past the symbols", map[string]any{"type": "enum", "name": "Color", "symbols": []any{"red"}}, zigzagVarint(3), false},
			{"skipped long: zigzagVarint over 10 bytes", "long", joinBytes(varintMinInt64[:9], []byte{0x81, 0x01}), false},
			{"skipped fixed: past the end", map[string]any{"type": "fixed", "name": "Blob", "size": 1 << 20}, nil, true},
		} {
			inputs = append(inputs, input{d.Kind.String() + "/" + d.Name + "/" + c.name, withFirstField(t, d, c.typ), joinBytes(c.bytes, rest), c.truncated})
		}
		// A writer that differs only by a field with nothing in it: our
		// own fields' bytes come first.
		nothing := withFirstField(t, d, "null")
		inputs = append(inputs,
			input{d.Kind.String() + "/" + d.Name + "/string field: not UTF-8", nothing, joinBytes(zigzagVarint(2), []byte{0xff, 0xfe}, rest[1+int(rest[0]>>1):]), false},
			input{d.Kind.String() + "/" + d.Name + "/string field: negative size", nothing, joinBytes(zigzagVarint(-3), rest), false},
			input{d.Kind.String() + "/" + d.Name + "/trailing bytes", nothing, joinBytes(rest, []byte{0}), false},
			input{d.Kind.String() + "/" + d.Name + "/truncated", nothing, rest[:len(rest)-1], true},
		)

		if d == schemas.Result {
			// The outcome enum, after commandId "c-1", correlationId
			// "corr-1" and commandType "ship": index 5 of 3 symbols.
			const at = (1 + 3) + (1 + 1 + 6) + (1 + 4)
			require.Equal(t, byte(2), rest[at], "the fixture's outcome is rejected (index 1)")
			badEnum := slices.Clone(rest)
			badEnum[at] = 10
			inputs = append(inputs, input{"result/results/outcome: enum index past the symbols", nothing, badEnum, false})
		}

		// The reader's own array, first in the writer's field order.
		text, prefix, path, ok := arrayFirst(t, d)
		if !ok {
			continue
		}
		for _, c := range []struct {
			name      string
			bytes     []byte
			truncated bool
		}{
			{"block count math.MinInt64", varintMinInt64, false},
			{"block count math.MinInt64 + 1", joinBytes(zigzagVarint(-(1<<63 - 1)), zigzagVarint(4)), false},
			{"block count past the end", zigzagVarint(1 << 40), false},
			{"block count over MaxItems", zigzagVarint(1<<12 + 1), false},
			{"negative block byte size", joinBytes(zigzagVarint(-1), zigzagVarint(-5)), false},
			{"block byte size past the end", joinBytes(zigzagVarint(-1), zigzagVarint(1<<40)), true},
		} {
			inputs = append(inputs, input{d.Kind.String() + "/" + d.Name + "/" + path + ": " + c.name, text, joinBytes(prefix, c.bytes, rest), c.truncated})
		}
		if strings.HasSuffix(path, "allowedModels") {
			// One string item in a block whose byte size says 8, not 9.
			item := joinBytes(zigzagVarint(8), []byte("dropship"))
			inputs = append(inputs, input{d.Kind.String() + "/" + d.Name + "/" + path + ": block byte size not its items", text, joinBytes(prefix, zigzagVarint(-1), zigzagVarint(8), item, rest), false})
		}
	}

	ids := map[string]int{}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			id, ok := ids[in.text]
			if !ok {
				id = registerText(t, reg.URL(), fmt.Sprintf("foreign-%d-value", len(ids)), in.text)
				ids[in.text] = id
			}
			framed := joinBytes([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, in.body)
			for _, decode := range []struct {
				name string
				run  func() error
			}{
				{"Decode", func() error {
					_, err := serde.DecodeAny(t.Context(), framed)
					return err
				}},
				{"DecodeReflect", func() error {
					var name string
					require.NoError(t, json.Unmarshal([]byte(in.text), &struct {
						Name *string `json:"name"`
					}{&name}))
					d, _ := schemas.ByRecordName("io.dscokafka.v1." + name)
					return serde.DecodeReflect(t.Context(), framed, d.New())
				}},
			} {
				err := decode.run()
				require.Error(t, err, decode.name)
				var me *schemas.MalformedError
				require.ErrorAs(t, err, &me, "%s: %v", decode.name, err)
				assert.ErrorIs(t, err, schemas.ErrMalformed)
				assert.True(t, schemas.IsPermanent(err))
				assert.Equal(t, in.truncated, me.Truncated, "%s: %v", decode.name, err)
				assert.Contains(t, me.Record, "io.dscokafka.v1.")
			}
		})
	}
}

// TestForeignWriterValidBodiesDecode is the control of
// TestMalformedUnderForeignWriter: the same writer schemas with well-formed
// bytes in the crafted places decode to the fixtures.
func TestForeignWriterValidBodiesDecode(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{})
	for _, d := range schemas.All() {
		t.Run(d.Kind.String()+"/"+d.Name, func(t *testing.T) {
			want := fixtures()[d.RecordName]
			own, err := serde.Encode(want)
			require.NoError(t, err)
			rest := own[5:]

			// An added array of two longs in two blocks, one with its byte
			// size, before our fields.
			text := withFirstField(t, d, map[string]any{"type": "array", "items": "long"})
			body := joinBytes(zigzagVarint(-1), zigzagVarint(1), zigzagVarint(-3), zigzagVarint(1), zigzagVarint(5), zigzagVarint(0), rest)
			id := registerText(t, reg.URL(), "foreign-value", text)
			got := d.New()
			require.NoError(t, serde.Decode(t.Context(), joinBytes([]byte{0, 0, 0, 0, byte(id)}, body), got))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, got))

			// Our own array first: the body is the fixture's, reordered
			// by hamba/avro's encoder under the writer schema.
			text, _, _, ok := arrayFirst(t, d)
			if !ok {
				return
			}
			sch, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
			require.NoError(t, err)
			body, err = oracle().Marshal(sch, want)
			require.NoError(t, err)
			id = registerText(t, reg.URL(), "foreign-value", text)
			got = d.New()
			require.NoError(t, serde.Decode(t.Context(), joinBytes([]byte{0, 0, 0, 0, byte(id)}, body), got))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, got), fmt.Sprintf("writer schema %s", text))
		})
	}
}

// TestOwnSchemaBodiesChecked: values written with our own schema are held to
// the Avro specification where hamba/avro's reflective decoder is lenient:
// strings are UTF-8, an int has no bits beyond 32, an array block's byte
// size matches its items, and a block count larger than the bytes left is
// refused before anything is allocated for it.
func TestOwnSchemaBodiesChecked(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{})
	tests := []struct {
		name     string
		rec      schemas.Record
		old, new string // replaced in the encoded frame
		wantErr  string // "" when it decodes
	}{
		{"string not UTF-8", &schemas.CancelCommand{CommandID: "c-1", OrderID: "PO-UTF8"}, "PO-UTF8", "PO-\xff\xfeF8", "not valid UTF-8"},
		{"int beyond 32 bits", &schemas.InventoryCommand{CommandID: "c-2", SKU: "SKU-A", Quantity: i32(5)},
			"SKU-A\x02\x0a", "SKU-A\x02\x8a\x80\x80\x80\x40", "int overflow"},
		{"block size past the body", &schemas.CatalogCommand{CommandID: "c-3", SKU: "S", RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship"}}},
			"\x02\x10dropship\x00", "\x01\xce\x0f\x10dropship\x00", "block's size"},
		{"block size short of its items", &schemas.CatalogCommand{CommandID: "c-4", SKU: "S", RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship"}}},
			"\x02\x10dropship\x00", "\x01\x02\x10dropship\x00", "block's size"},
		{"block size right", &schemas.CatalogCommand{CommandID: "c-5", SKU: "S", RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship"}}},
			"\x02\x10dropship\x00", "\x01\x12\x10dropship\x00", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := serde.Encode(tc.rec)
			require.NoError(t, err)
			require.Equal(t, 1, bytes.Count(b, []byte(tc.old)), "the pattern is in the frame once")
			b = bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)
			got := schemas.DescriptorOf(tc.rec).New()
			err = serde.Decode(t.Context(), b, got)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.rec, got)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			assert.True(t, schemas.IsPermanent(err))
		})
	}

	t.Run("count past the body allocates nothing for it", func(t *testing.T) {
		frame, err := serde.Encode(&schemas.RetailerOrderCommand{CommandID: "c", OrderID: "o"})
		require.NoError(t, err)
		// commandId "c", correlationId null, orderId "o", four null fields, then
		// the items array claiming 100,000 items, and the end of the body.
		b := joinBytes(frame[:5], []byte{0x02, 'c', 0x00, 0x02, 'o', 0x00, 0x00, 0x00, 0x00, 0xc0, 0x9a, 0x0c})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err = serde.Decode(t.Context(), b, &schemas.RetailerOrderCommand{})
		runtime.ReadMemStats(&after)
		require.Error(t, err)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated for a 100,000-item claim in a short body")
	})
}

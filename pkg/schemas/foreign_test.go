package schemas_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// A foreign writer schema is one of our records as another producer's
// tooling might register it: derived here from ours, programmatically, so
// that every record of the contract gets one. Every record type in it has
// two fields added (an array of maps of a union, and a nullable record of
// its own, both skipped by our reader), loses its last optional field (the
// reader fills in the default), and has its fields in reverse order; enums
// list their symbols in reverse; and every decimal has the writer's scale
// and precision, as bytes or as a fixed.
type foreignSpec struct {
	scale, precision int
	fixed            bool // decimals as fixed(9) instead of bytes
	decimalsOnly     bool // change the decimals only
}

// foreignSchema is a derived writer schema and what was changed.
type foreignSchema struct {
	text    string
	schema  avro.Schema
	removed map[string]string // record name → the field removed from it
	spec    foreignSpec
}

func deriveForeign(t testing.TB, d *schemas.Descriptor, spec foreignSpec) *foreignSchema {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(d.Text), &root))
	fs := &foreignSchema{removed: map[string]string{}, spec: spec}
	n := 0
	var walk func(node any) any
	walk = func(node any) any {
		switch v := node.(type) {
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			if v["logicalType"] == "decimal" {
				n++
				dec := map[string]any{"type": "bytes", "logicalType": "decimal", "precision": spec.precision, "scale": spec.scale}
				if spec.fixed {
					dec["type"], dec["name"], dec["size"] = "fixed", fmt.Sprintf("Money%d", n), 9
				}
				return dec
			}
			switch v["type"] {
			case "array":
				v["items"] = walk(v["items"])
			case "enum":
				if !spec.decimalsOnly {
					slices.Reverse(v["symbols"].([]any))
				}
			case "record":
				fields := v["fields"].([]any)
				for _, f := range fields {
					f.(map[string]any)["type"] = walk(f.(map[string]any)["type"])
				}
				if spec.decimalsOnly {
					break
				}
				// Remove the last optional field.
				for i := len(fields) - 1; i >= 0; i-- {
					f := fields[i].(map[string]any)
					if def, ok := f["default"]; ok && def == nil {
						fs.removed[v["name"].(string)] = f["name"].(string)
						fields = slices.Delete(fields, i, i+1)
						break
					}
				}
				n++
				fields = append(fields,
					map[string]any{"name": "addedByProducer", "default": []any{}, "type": map[string]any{
						"type": "array", "items": map[string]any{"type": "map", "values": []any{"null", "long", "string"}}}},
					map[string]any{"name": "producerInfo", "default": nil, "type": []any{"null", map[string]any{
						"type": "record", "name": fmt.Sprintf("ProducerInfo%d", n), "fields": []any{
							map[string]any{"name": "host", "type": "string"},
							map[string]any{"name": "pid", "type": "int"},
							map[string]any{"name": "weight", "type": "double"},
							map[string]any{"name": "tags", "type": map[string]any{"type": "array", "items": "string"}},
						}}}},
				)
				slices.Reverse(fields)
				v["fields"] = fields
			}
			return v
		}
		return node
	}
	walk(root)
	b, err := json.Marshal(root)
	require.NoError(t, err)
	fs.text = string(b)
	fs.schema, err = avro.ParseWithCache(fs.text, "", &avro.SchemaCache{})
	require.NoError(t, err)
	return fs
}

// decimalHook picks the value written for the decimal at path (nil: null),
// given the value our fixture has there.
type decimalHook func(path string, v *big.Rat) *big.Rat

// writerValue turns v, a record as hamba/avro's generic decoder reads it
// with our schema, into the generic value hamba/avro's encoder writes with
// the foreign schema fs.
func (fs *foreignSchema) writerValue(schema avro.Schema, v any, path string, hook decimalHook) any {
	if ref, ok := schema.(*avro.RefSchema); ok {
		schema = ref.Schema()
	}
	if isDecimal(schema) {
		r, _ := v.(*big.Rat)
		return hook(path, r)
	}
	switch s := schema.(type) {
	case *avro.UnionSchema:
		branch := s.Types()[1] // our unions are ["null", T]
		if isDecimal(branch) {
			r, _ := v.(*big.Rat)
			if r = hook(path, r); r == nil {
				return nil
			}
			return map[string]any{branchName(branch): r}
		}
		if v == nil {
			return nil
		}
		return map[string]any{branchName(branch): fs.writerValue(branch, unwrap(v, branch), path, hook)}
	case *avro.ArraySchema:
		items := v.([]any)
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = fs.writerValue(s.Items(), it, path+"[]", hook)
		}
		return out
	case *avro.RecordSchema:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range s.Fields() {
			switch f.Name() {
			case "addedByProducer":
				out[f.Name()] = []any{map[string]any{"a": map[string]any{"long": int64(-7)}, "b": nil, "c": map[string]any{"string": "x"}}, map[string]any{}}
			case "producerInfo":
				info := f.Type().(*avro.UnionSchema).Types()[1].(*avro.RecordSchema)
				out[f.Name()] = map[string]any{info.FullName(): map[string]any{"host": "h", "pid": 42, "weight": 0.5, "tags": []any{"t1", "t2"}}}
			default:
				out[f.Name()] = fs.writerValue(f.Type(), m[f.Name()], joinPath(path, f.Name()), hook)
			}
		}
		return out
	}
	return v
}

// readerValue is what our reader must make of writerValue's value: the
// removed fields null (their default), the decimals the hook wrote.
func (fs *foreignSchema) readerValue(schema avro.Schema, v any, path string, hook decimalHook) any {
	if ref, ok := schema.(*avro.RefSchema); ok {
		schema = ref.Schema()
	}
	if isDecimal(schema) {
		r, _ := v.(*big.Rat)
		return hook(path, r)
	}
	switch s := schema.(type) {
	case *avro.UnionSchema:
		branch := s.Types()[1]
		if isDecimal(branch) {
			r, _ := v.(*big.Rat)
			if r = hook(path, r); r == nil {
				return nil
			}
			return map[string]any{branchName(branch): r}
		}
		if v == nil {
			return nil
		}
		return map[string]any{branchName(branch): fs.readerValue(branch, unwrap(v, branch), path, hook)}
	case *avro.ArraySchema:
		items := v.([]any)
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = fs.readerValue(s.Items(), it, path+"[]", hook)
		}
		return out
	case *avro.RecordSchema:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range s.Fields() {
			if fs.removed[s.Name()] == f.Name() {
				out[f.Name()] = nil
				continue
			}
			out[f.Name()] = fs.readerValue(f.Type(), m[f.Name()], joinPath(path, f.Name()), hook)
		}
		return out
	}
	return v
}

// unwrap returns the value of a union branch as hamba/avro's generic
// decoder gives it: named types wrapped in a map keyed by their name.
func unwrap(v any, branch avro.Schema) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if inner, ok := m[branchName(branch)]; ok {
			return inner
		}
	}
	return v
}

func isDecimal(s avro.Schema) bool {
	l, ok := s.(avro.LogicalTypeSchema)
	return ok && l.Logical() != nil && l.Logical().Type() == avro.Decimal
}

// branchName is how hamba/avro's generic encoder names a union branch.
func branchName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		return string(s.Type()) + "." + string(l.Logical().Type())
	}
	return string(s.Type())
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decimalPaths lists the paths of the decimal fields of a record schema.
func decimalPaths(schema avro.Schema, path string) []string {
	switch s := schema.(type) {
	case *avro.RefSchema:
		return decimalPaths(s.Schema(), path)
	case *avro.UnionSchema:
		var out []string
		for _, b := range s.Types() {
			out = append(out, decimalPaths(b, path)...)
		}
		return out
	case *avro.ArraySchema:
		return decimalPaths(s.Items(), path+"[]")
	case *avro.RecordSchema:
		var out []string
		for _, f := range s.Fields() {
			out = append(out, decimalPaths(f.Type(), joinPath(path, f.Name()))...)
		}
		return out
	}
	if isDecimal(schema) {
		return []string{path}
	}
	return nil
}

// foreignValue writes fixture r with the foreign schema fs (hamba/avro's
// encoder, framed under id) and returns the frame.
func foreignValue(t testing.TB, serde *schemas.Serde, fs *foreignSchema, id int, r schemas.Record, hook decimalHook) []byte {
	t.Helper()
	body, err := oracle().Marshal(fs.schema, fs.writerValue(fs.schema, genericOf(t, serde, r), "", hook))
	require.NoError(t, err)
	return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, body...)
}

// expected returns the record our reader must decode from foreignValue's
// frame: the reader's view of the same value, written with our own schema
// by hamba/avro and read back by it.
func expected(t testing.TB, serde *schemas.Serde, fs *foreignSchema, r schemas.Record, hook decimalHook) schemas.Record {
	t.Helper()
	d := schemas.DescriptorOf(r)
	body, err := oracle().Marshal(d.Schema, fs.readerValue(d.Schema, genericOf(t, serde, r), "", hook))
	require.NoError(t, err)
	want := d.New()
	require.NoError(t, oracle().Unmarshal(d.Schema, body, want))
	return want
}

// genericOf returns r as hamba/avro's generic decoder reads it.
func genericOf(t testing.TB, serde *schemas.Serde, r schemas.Record) any {
	t.Helper()
	own, err := serde.Encode(r)
	require.NoError(t, err)
	var generic any
	require.NoError(t, oracle().Unmarshal(schemas.DescriptorOf(r).Schema, own[5:], &generic))
	return generic
}

// registerForeign registers fs under the record's own subject, as a
// producer with its own tooling would, and returns its id.
func registerForeign(t testing.TB, url string, d *schemas.Descriptor, fs *foreignSchema) int {
	t.Helper()
	return registerSubject(t, url, d.Topic+"-value", fs.text)
}

// TestForeignWriters writes every record of the contract with a foreign
// writer schema (decimals at scale 6 as bytes, at scale 2 as fixed; fields
// added, removed and reordered; enum symbols reordered) and reads it: the
// values come back exactly where the reader's decimal(18,4) can hold them,
// and where it cannot the read fails with a *DecimalError naming the field,
// never with a rounded number.
func TestForeignWriters(t *testing.T) {
	specs := []struct {
		name string
		spec foreignSpec
		// an amount the writer can write that decimal(18,4) cannot hold,
		// and why
		unfit       *big.Rat
		unfitReason string
	}{
		{"decimal(20,6) bytes", foreignSpec{scale: 6, precision: 20}, big.NewRat(12_345_678, 1_000_000), "more than 4 fraction digits"},
		{"decimal(22,6) bytes, too many digits", foreignSpec{scale: 6, precision: 22}, mustRat("123456789012345"), "more than 14 integer digits"},
		{"decimal(20,2) fixed", foreignSpec{scale: 2, precision: 20, fixed: true}, mustRat("123456789012345.67"), "more than 14 integer digits"},
	}
	fx := fixtures()
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			reg := newRegistry(t)
			foreign := map[*schemas.Descriptor]*foreignSchema{}
			ids := map[*schemas.Descriptor]int{}
			for _, d := range schemas.All() {
				foreign[d] = deriveForeign(t, d, sp.spec)
				ids[d] = registerForeign(t, reg.URL(), d, foreign[d])
			}
			// Registering our schemas checks them against the foreign
			// versions: the check and the decoding below are one plan.
			serde := newSerde(t, reg, schemas.Config{})
			consumer, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
			require.NoError(t, err)

			for _, d := range schemas.All() {
				fs := foreign[d]
				t.Run(d.Kind.String()+"/"+d.Name, func(t *testing.T) {
					// Exact: 12.990000 at scale 6 reads as 12.99. At scale
					// 2 the writer holds two fraction digits, so amounts
					// with more are written cut to two (and read as
					// written).
					exact := func(_ string, v *big.Rat) *big.Rat {
						if v == nil || sp.spec.scale >= 4 {
							return v
						}
						n := new(big.Int).Quo(new(big.Int).Mul(v.Num(), big.NewInt(100)), v.Denom())
						return new(big.Rat).SetFrac(n, big.NewInt(100))
					}
					b := foreignValue(t, serde, fs, ids[d], fx[d.RecordName], exact)
					want := expected(t, serde, fs, fx[d.RecordName], exact)
					got := d.New()
					require.NoError(t, consumer.Decode(t.Context(), b, got))
					assert.JSONEq(t, asJSON(t, want), asJSON(t, got))
					viaReflect := d.New()
					require.NoError(t, consumer.DecodeReflect(t.Context(), b, viaReflect))
					assert.Equal(t, got, viaReflect)
					anyRec, err := consumer.DecodeAny(t.Context(), b)
					require.NoError(t, err)
					assert.JSONEq(t, asJSON(t, want), asJSON(t, anyRec))

					// A record the writer changed little is still decoded
					// field by field as the fixture: spot-check the key.
					assert.Equal(t, fx[d.RecordName].Key(), got.Key())

					// Unfit: each decimal field in turn holds an amount
					// the reader cannot hold exactly.
					for _, path := range decimalPaths(d.Schema, "") {
						t.Run(path, func(t *testing.T) {
							hook := func(p string, v *big.Rat) *big.Rat {
								if p == path {
									return sp.unfit
								}
								return exact(p, v)
							}
							b := foreignValue(t, serde, fs, ids[d], fx[d.RecordName], hook)
							if strings.Contains(path, "[]") && !hasItems(fx[d.RecordName]) {
								t.Skip("the fixture has no items")
							}
							err := consumer.Decode(t.Context(), b, d.New())
							require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
							assert.True(t, schemas.IsPermanent(err))
							var de *schemas.DecimalError
							require.ErrorAs(t, err, &de)
							assert.Equal(t, path, de.Field)
							assert.Equal(t, d.RecordName, de.Record)
							assert.Equal(t, sp.unfitReason, de.Reason)
							assert.Contains(t, err.Error(), "field "+path)
							assert.Contains(t, err.Error(), sp.unfit.FloatString(sp.spec.scale))
							require.ErrorIs(t, consumer.DecodeReflect(t.Context(), b, d.New()), schemas.ErrInvalidDecimal)
						})
					}
				})
			}
		})
	}
}

func hasItems(r schemas.Record) bool {
	switch v := r.(type) {
	case *schemas.OrderEvent:
		return len(v.Order.Items) > 0
	case *schemas.RetailerOrderCommand:
		return len(v.Items) > 0
	}
	return true
}

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// oracle returns a hamba/avro API with its own codec cache, for writing test
// values: its default cache keys the codecs of named types referenced by
// name, so a foreign version of a type could be written with our version's
// codec, or the other way round.
func oracle() avro.API { return avro.Config{TagKey: "avro"}.Freeze() }

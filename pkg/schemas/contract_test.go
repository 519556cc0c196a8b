package schemas_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

func TestDescriptorTable(t *testing.T) {
	events := map[string]string{
		"order": "order.orderId", "return": "return.orderId", "inventory": "inventory.sku",
		"catalog": "catalog.sku", "invoice": "invoice.orderId", "orderitemchange": "orderItemChange.orderId",
		"iteminventory": "itemInventory.sku",
	}
	commands := map[string]string{
		"ship": "orderId", "cancel": "orderId", "invoice": "orderId", "acknowledge": "orderId",
		"inventory": "sku", "catalog": "sku", "return": "orderId", "retailer-order": "orderId",
		"retailer-return": "orderId", "retailer-cancel": "orderId", "retailer-catalog-attribution": "sku",
	}
	require.Len(t, schemas.Events, len(events))
	require.Len(t, schemas.Commands, len(commands))
	for name, key := range events {
		t.Run("event/"+name, func(t *testing.T) {
			d, ok := schemas.Event(name)
			require.True(t, ok)
			assert.Equal(t, schemas.KindEvent, d.Kind)
			assert.Equal(t, "dsco."+name+".v1", d.Topic)
			assert.Equal(t, key, d.KeyField)
		})
	}
	for name, key := range commands {
		t.Run("command/"+name, func(t *testing.T) {
			d, ok := schemas.Command(name)
			require.True(t, ok)
			assert.Equal(t, schemas.KindCommand, d.Kind)
			assert.Equal(t, "dsco.cmd."+name+".v1", d.Topic)
			assert.Equal(t, key, d.KeyField)
		})
	}
	assert.Equal(t, "dsco.cmd.results.v1", schemas.Result.Topic)
	assert.Equal(t, "commandId", schemas.Result.KeyField)

	seen := map[string]bool{}
	for _, d := range schemas.All() {
		assert.False(t, seen[d.RecordName], "record %s listed twice", d.RecordName)
		seen[d.RecordName] = true
		assert.True(t, strings.HasPrefix(d.RecordName, schemas.Namespace+"."), d.RecordName)
		byName, ok := schemas.ByRecordName(d.RecordName)
		require.True(t, ok)
		assert.Same(t, d, byName)
		assert.Same(t, d, schemas.DescriptorOf(d.New()))
		assert.Equal(t, reflect.PointerTo(d.GoType), reflect.TypeOf(d.New()))
	}
}

// TestKeyMatchesKeyField checks that every record's Key is the value of
// the field its descriptor names, read generically from the encoded record.
func TestKeyMatchesKeyField(t *testing.T) {
	for name, r := range fixtures() {
		t.Run(name, func(t *testing.T) {
			d := schemas.DescriptorOf(r)
			b, err := avro.Marshal(d.Schema, r)
			require.NoError(t, err)
			var generic any = map[string]any{}
			require.NoError(t, avro.Unmarshal(d.Schema, b, &generic))
			v := generic
			for _, part := range strings.Split(d.KeyField, ".") {
				v = v.(map[string]any)[part]
			}
			assert.Equal(t, r.Key(), v)
			assert.NotEmpty(t, r.Key())
		})
	}
}

// TestSchemaRules enforces the rules that keep the contract evolvable and
// documented: a doc on every record and field, nullable fields as
// ["null", T] with a null default, arrays with an empty default, and
// nested types defined identically in every file that defines them.
func TestSchemaRules(t *testing.T) {
	definitions := map[string]string{} // full name -> JSON with docs
	definedIn := map[string]string{}
	for _, d := range schemas.All() {
		t.Run(d.RecordName, func(t *testing.T) {
			walkRecords(d.Schema, func(r *avro.RecordSchema) {
				assert.NotEmpty(t, r.Doc(), "record %s has no doc", r.FullName())
				j, err := json.Marshal(r)
				require.NoError(t, err)
				if prev, ok := definitions[r.FullName()]; ok {
					assert.JSONEq(t, prev, string(j), "%s differs between %s and %s", r.FullName(), definedIn[r.FullName()], d.File)
				} else {
					definitions[r.FullName()] = string(j)
					definedIn[r.FullName()] = d.File
				}
				for _, f := range r.Fields() {
					where := r.FullName() + "." + f.Name()
					assert.NotEmpty(t, f.Doc(), "%s has no doc", where)
					switch ft := f.Type().(type) {
					case *avro.UnionSchema:
						require.Len(t, ft.Types(), 2, where)
						assert.Equal(t, avro.Null, ft.Types()[0].Type(), "%s: null first", where)
						assert.True(t, f.HasDefault(), "%s: default null", where)
						assert.Nil(t, f.Default(), where)
					case *avro.ArraySchema:
						assert.True(t, f.HasDefault(), "%s: default []", where)
					}
				}
			})
		})
	}
}

func walkRecords(s avro.Schema, fn func(*avro.RecordSchema)) {
	switch t := s.(type) {
	case *avro.RecordSchema:
		fn(t)
		for _, f := range t.Fields() {
			walkRecords(f.Type(), fn)
		}
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			walkRecords(b, fn)
		}
	case *avro.ArraySchema:
		walkRecords(t.Items(), fn)
	case *avro.MapSchema:
		walkRecords(t.Values(), fn)
	}
}

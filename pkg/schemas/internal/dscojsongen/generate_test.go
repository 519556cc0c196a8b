package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestOutputIsCurrent fails when pkg/schemas/dscojson_records.go does not
// match the .avsc files.
func TestOutputIsCurrent(t *testing.T) {
	want, err := generate(os.DirFS(filepath.Join("..", "..", "avro")))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("..", "..", "dscojson_records.go"))
	require.NoError(t, err, "dscojson_records.go is missing: run `go generate ./pkg/schemas`")
	require.True(t, string(want) == string(got),
		"pkg/schemas/dscojson_records.go is stale: run `go generate ./pkg/schemas` and commit the result")
}

// TestGoNames checks the generator's Go field names against the Go types
// of the records: every field of every event record and of what it nests
// has a Go field named goName(field) tagged with the field's name.
func TestGoNames(t *testing.T) {
	for _, d := range schemas.Events {
		t.Run(d.Name, func(t *testing.T) {
			checkNames(t, d.Schema.(*avro.RecordSchema), d.GoType)
		})
	}
}

func checkNames(t *testing.T, rec *avro.RecordSchema, typ reflect.Type) {
	t.Helper()
	assert.Equal(t, goType(rec), typ.Name(), "Go type of record %s", rec.FullName())
	for _, f := range rec.Fields() {
		sf, ok := typ.FieldByName(fieldGoName(f))
		if !assert.True(t, ok, "%s has no Go field %s for %s", typ, fieldGoName(f), f.Name()) {
			continue
		}
		assert.Equal(t, f.Name(), sf.Tag.Get("avro"), "avro tag of %s.%s", typ, sf.Name)
		ft := f.Type()
		if inner, ok := nullable(ft); ok {
			ft = inner
		}
		gt := sf.Type
		for gt.Kind() == reflect.Pointer || (gt.Kind() == reflect.Slice && gt.Elem().Kind() == reflect.Struct) {
			gt = gt.Elem()
		}
		if arr, ok := ft.(*avro.ArraySchema); ok {
			ft = arr.Items()
		}
		if r, ok := ft.(*avro.RecordSchema); ok {
			checkNames(t, r, gt)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"lineItemId": "LineItemID", "sku": "SKU", "dscoItemId": "DscoItemID", "street1": "Street1",
		"postalCode": "PostalCode", "extra": "Extra", "orderId": "OrderID", "retailModelRules": "RetailModelRules",
	} {
		assert.Equal(t, want, goName(in), in)
	}
}

const testEvent = `{"type":"record","name":"ThingEvent","namespace":"t","fields":[
 {"name":"eventId","type":"string"},{"name":"eventType","type":"string"},{"name":"objectType","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"streamId","type":"string"},{"name":"position","type":"string"},
 {"name":"thing","type":{"type":"record","name":"Thing","fields":[
   {"name":"thingId","type":"string","dsco.name":"thingNumber"},
   {"name":"url","type":["null","string"],"default":null,"go.name":"URL"},
   {"name":"spec","type":["null","string"],"default":null,"dsco.json":"object"},
   %s
   {"name":"extra","type":["null","string"],"default":null}]}},
 {"name":"extra","type":["null","string"],"default":null}]}`

func TestGenerateAttributes(t *testing.T) {
	fsys := fstest.MapFS{"ThingEvent.avsc": {Data: []byte(strings.Replace(testEvent, "%s", "", 1))}}
	src, err := generate(fsys)
	require.NoError(t, err)
	out := string(src)
	assert.Contains(t, out, `case "thingNumber":`, "dsco.name gives the JSON name")
	assert.NotContains(t, out, `case "thingId":`)
	assert.Contains(t, out, "r.Spec = d.optRawObject()", "dsco.json: object keeps the object's text")
	assert.Contains(t, out, `"thing": func(`, "the object type is the object field's name in lower case")
	assert.Contains(t, out, `case "data":`, "the object comes from the event's data member")
	assert.Contains(t, out, "r.StreamID = d.streamID")
	assert.Contains(t, out, "r.URL = d.optString()", "go.name gives the Go name")
}

func TestGenerateRefusesUnsupportedTypes(t *testing.T) {
	for name, f := range map[string]string{
		"enum":    `{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A"]}},`,
		"map":     `{"name":"tags","type":{"type":"map","values":"string"}},`,
		"boolean": `{"name":"flag","type":["null","boolean"],"default":null},`,
		"decimal": `{"name":"big","type":["null",{"type":"bytes","logicalType":"decimal","precision":30,"scale":2}],"default":null},`,
	} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"ThingEvent.avsc": {Data: []byte(strings.Replace(testEvent, "%s", f, 1))}}
			_, err := generate(fsys)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Thing.")
		})
	}
}

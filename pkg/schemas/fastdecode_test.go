package schemas_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// fill sets every field of v, recursively: every pointer non-nil, every
// slice two elements long, every number and string distinct. A decoder that
// reads fields in another order than the schema's, or skips one, decodes
// such a value differently from hamba/avro.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.UnixMilli(1_790_000_000_000 + int64(*n)*86_400_123).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[schemas.Decimal]() {
			v.Set(reflect.ValueOf(schemas.DecimalFromUnscaled(int64(*n) * -1_234_567)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.String:
		if v.Type() == reflect.TypeFor[schemas.CommandOutcome]() {
			v.SetString(string(schemas.OutcomeFailed))
			return
		}
		if v.Type() == reflect.TypeFor[schemas.CommandStatus]() {
			v.SetString(string(schemas.StatusOutcomeUnknown))
			return
		}
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int32, reflect.Int64:
		x := int64(*n) * 1_000_003
		if *n%2 == 0 {
			x = -x
		}
		v.SetInt(x)
	default:
		panic("fill: unexpected kind " + v.Kind().String())
	}
}

func filled(d *schemas.Descriptor) schemas.Record {
	r := d.New()
	n := 0
	fill(reflect.ValueOf(r).Elem(), &n)
	return r
}

// nulls returns a record with every nullable field null and every array
// empty.
func nulls(d *schemas.Descriptor) schemas.Record {
	r := d.New()
	if cr, ok := r.(*schemas.CommandResult); ok {
		// An enum has no zero value. (The encoder writes an empty Status as
		// its field default, unspecified; hamba/avro, compared with here,
		// refuses it.)
		cr.Outcome = schemas.OutcomeAccepted
		cr.Status = schemas.StatusUnspecified
	}
	return r
}

// TestDecodeMatchesReflect shows that the generated decoders of values
// written with our own schemas give the very records hamba/avro's
// reflective decoder gives, for every record of the contract, whether its
// fields are all set, all null, or as in the fixtures; and that decoding
// into a record that already holds another value gives the same record as
// decoding into a new one.
func TestDecodeMatchesReflect(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{})
	fx := fixtures()
	for _, d := range schemas.All() {
		t.Run(d.Kind.String()+"/"+d.Name, func(t *testing.T) {
			values := []struct {
				name string
				rec  schemas.Record
			}{
				{"all fields set", filled(d)},
				{"all fields null", nulls(d)},
				{"fixture", fx[d.RecordName]},
				{"all fields set again", filled(d)},
			}
			reused := d.New()
			for _, v := range values {
				data, err := serde.Encode(v.rec)
				require.NoError(t, err, v.name)

				want := d.New()
				require.NoError(t, serde.DecodeReflect(t.Context(), data, want), v.name)
				got := d.New()
				require.NoError(t, serde.Decode(t.Context(), data, got), v.name)
				require.Equal(t, want, got, v.name)

				require.NoError(t, serde.Decode(t.Context(), data, reused), v.name)
				require.Equal(t, want, reused, "%s, decoded into a record holding the previous value", v.name)
			}
		})
	}
}

// TestDecodeIntoReusedRecordReusesMemory shows the point of decoding into a
// record again: its nested records, slices and nullable fields are written
// through, not allocated anew.
func TestDecodeIntoReusedRecordReusesMemory(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(t, err)
	var ev schemas.OrderEvent
	require.NoError(t, serde.Decode(t.Context(), data, &ev))
	status, items := ev.Order.Status, &ev.Order.Items[0]
	require.NoError(t, serde.Decode(t.Context(), data, &ev))
	require.Same(t, status, ev.Order.Status)
	require.Same(t, items, &ev.Order.Items[0])
	require.Equal(t, asJSON(t, orderEvent(5)), asJSON(t, &ev))
}

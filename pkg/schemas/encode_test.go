package schemas_test

import (
	"errors"
	"math/big"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// hambaOneBlock is hamba/avro's reflective encoder told to write arrays as
// the generated encoders do: one block with a positive count and no byte
// size. With it the two must write the very same bytes.
var hambaOneBlock = avro.Config{TagKey: "avro", DisableBlockSizeHeader: true, BlockLength: 1 << 20}.Freeze()

// emptied returns a fully populated record whose arrays are all empty (and
// not nil), so that the empty block of every array is written between
// other values.
func emptied(d *schemas.Descriptor) schemas.Record {
	r := filled(d)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice:
			if v.Type() != reflect.TypeFor[schemas.Decimal]() {
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			}
		}
	}
	walk(reflect.ValueOf(r).Elem())
	return r
}

// TestEncodeMatchesHamba shows that the generated encoders write, for every
// record of the contract, the bytes hamba/avro's reflective encoder writes
// for the same value (arrays in one block), and that hamba/avro with its
// default settings reads them back as the value it would read from its
// own bytes: with every field set, every nullable field null, every array
// empty, and as in the fixtures.
func TestEncodeMatchesHamba(t *testing.T) {
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
				{"arrays empty", emptied(d)},
				{"fixture", fx[d.RecordName]},
			}
			for _, v := range values {
				framed, err := serde.Encode(v.rec)
				require.NoError(t, err, v.name)
				got := framed[5:]

				want, err := hambaOneBlock.Marshal(d.Schema, v.rec)
				require.NoError(t, err, v.name)
				assert.Equal(t, want, got, "%s: the bytes hamba/avro writes", v.name)

				blocked, err := avro.Marshal(d.Schema, v.rec)
				require.NoError(t, err, v.name)
				fromHamba, fromOurs := d.New(), d.New()
				require.NoError(t, avro.Unmarshal(d.Schema, blocked, fromHamba), v.name)
				require.NoError(t, avro.Unmarshal(d.Schema, got, fromOurs), v.name)
				assert.Equal(t, fromHamba, fromOurs, "%s: hamba/avro reads the same value", v.name)
			}
		})
	}
}

// TestEncodeRefusesInvalidValues shows that values other readers could not
// read back as written are refused at encode time, with an error that
// names the record and the path of the field.
func TestEncodeRefusesInvalidValues(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{})
	bad := string([]byte{'a', 0xff, 'b'})
	tooBig := schemas.DecimalFromUnscaled(1_000_000_000_000_000_000) // 10^18: 19 digits
	nineBytes := schemas.Decimal{0x01, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name   string
		record func() schemas.Record
		field  string
		cause  error
	}{
		{
			name: "top-level string", field: "commandId", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record { return &schemas.ShipCommand{CommandID: bad, OrderID: "PO-1"} },
		},
		{
			name: "envelope string", field: "eventId", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record { ev := orderEvent(1); ev.EventID = bad; return ev },
		},
		{
			name: "nullable string in a nested record", field: "order.shippingAddress.city", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record { ev := orderEvent(3); ev.Order.ShippingAddress.City = &bad; return ev },
		},
		{
			name: "string in an array element", field: "order.items[2].sku", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record { ev := orderEvent(3); ev.Order.Items[2].SKU = &bad; return ev },
		},
		{
			name: "element of an array of strings", field: "catalog.retailModelRules.allowedModels[1]", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record {
				ev := fixtures()["io.dscokafka.v1.CatalogEvent"].(*schemas.CatalogEvent)
				ev.Catalog.RetailModelRules.AllowedModels[1] = bad
				return ev
			},
		},
		{
			name: "decimal beyond precision 18", field: "order.items[2].cost", cause: schemas.ErrInvalidDecimal,
			record: func() schemas.Record { ev := orderEvent(3); ev.Order.Items[2].Cost = tooBig; return ev },
		},
		{
			name: "negative decimal beyond precision 18", field: "amount", cause: schemas.ErrInvalidDecimal,
			record: func() schemas.Record {
				return &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", Amount: schemas.DecimalFromUnscaled(-1_000_000_000_000_000_000)}
			},
		},
		{
			name: "decimal beyond 64 bits", field: "items[0].price", cause: schemas.ErrInvalidDecimal,
			record: func() schemas.Record {
				return &schemas.RetailerOrderCommand{CommandID: "c", OrderID: "o", Items: []schemas.OrderItem{{Price: nineBytes}}}
			},
		},
		{
			name: "decimal in a command's array", field: "items[0].price", cause: schemas.ErrInvalidDecimal,
			record: func() schemas.Record {
				return &schemas.RetailerOrderCommand{CommandID: "c", OrderID: "o", Items: []schemas.OrderItem{{Price: tooBig}}}
			},
		},
		{
			name: "enum value that is no symbol", field: "outcome", cause: schemas.ErrInvalidSymbol,
			record: func() schemas.Record {
				r := fixtures()["io.dscokafka.v1.CommandResult"].(*schemas.CommandResult)
				r.Outcome = "maybe"
				return r
			},
		},
		{
			name: "enum without a value or a default", field: "outcome", cause: schemas.ErrInvalidSymbol,
			record: func() schemas.Record {
				r := fixtures()["io.dscokafka.v1.CommandResult"].(*schemas.CommandResult)
				r.Outcome = ""
				return r
			},
		},
		{
			name: "string in an array of records of the result", field: "errors[0].message", cause: schemas.ErrInvalidUTF8,
			record: func() schemas.Record {
				r := fixtures()["io.dscokafka.v1.CommandResult"].(*schemas.CommandResult)
				r.Errors[0].Message = &bad
				return r
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.record()
			dst := []byte("kept")
			out, err := serde.AppendEncode(dst, r)
			require.Error(t, err)
			assert.Equal(t, "kept", string(out), "dst is returned as it was")

			var ee *schemas.EncodeError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, tt.field, ee.Field)
			assert.Equal(t, schemas.DescriptorOf(r).RecordName, ee.Record)
			assert.ErrorIs(t, err, schemas.ErrInvalidValue)
			assert.ErrorIs(t, err, tt.cause)
			assert.Contains(t, err.Error(), "field "+tt.field+":")
			assert.Contains(t, err.Error(), schemas.DescriptorOf(r).RecordName)
			assert.True(t, schemas.IsPermanent(err), "encoding the same record again fails again")
		})
	}

	t.Run("only the first invalid value is named", func(t *testing.T) {
		ev := orderEvent(3)
		ev.Order.Items[1].SKU = &bad
		ev.Order.ShippingAddress.City = &bad
		_, err := serde.Encode(ev)
		var ee *schemas.EncodeError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, "order.items[1].sku", ee.Field)
	})
}

// TestEncodeDecimalLimits shows where the precision check draws the line:
// every value of at most 18 digits encodes, whatever the length of its
// two's complement bytes (sign-extension bytes carry no digits), and the
// next one does not.
func TestEncodeDecimalLimits(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{Records: schemas.Commands})
	tests := []struct {
		name string
		d    schemas.Decimal
		ok   bool
	}{
		{"largest", schemas.DecimalFromUnscaled(999_999_999_999_999_999), true},
		{"smallest", schemas.DecimalFromUnscaled(-999_999_999_999_999_999), true},
		{"zero, empty bytes", schemas.Decimal{}, true},
		{"zero", schemas.DecimalFromUnscaled(0), true},
		{"sign-extended positive", schemas.Decimal{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f}, true},
		{"sign-extended negative", schemas.Decimal{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}, true},
		{"10^18", schemas.DecimalFromUnscaled(1_000_000_000_000_000_000), false},
		{"-10^18", schemas.DecimalFromUnscaled(-1_000_000_000_000_000_000), false},
		{"max int64", schemas.DecimalFromUnscaled(1<<63 - 1), false},
		{"beyond 64 bits", schemas.Decimal{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", Amount: tt.d}
			b, err := serde.Encode(cmd)
			if !tt.ok {
				require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
				return
			}
			require.NoError(t, err)
			var got schemas.InvoiceCommand
			require.NoError(t, serde.Decode(t.Context(), b, &got))
			assert.Equal(t, tt.d.Rat().String(), got.Amount.Rat().String())
		})
	}
}

// TestEncodeErrorForDecimals: a decimal out of range is the same
// ErrInvalidDecimal that ParseDecimal gives, with the value as text.
func TestEncodeErrorForDecimals(t *testing.T) {
	serde := newSerde(t, newRegistry(t), schemas.Config{Records: schemas.Commands})
	_, err := serde.Encode(&schemas.InvoiceCommand{CommandID: "c", OrderID: "o", Amount: schemas.DecimalFromUnscaled(-1 << 63)})
	require.Error(t, err)
	assert.True(t, schemas.IsPermanent(err))
	var de *schemas.DecimalError
	require.True(t, errors.As(err, &de))
	assert.Equal(t, "-922337203685477.5808", de.Text)
}

// FuzzEncode is a differential test of the generated encoders against
// hamba/avro: an order event carrying the fuzzer's string (in the envelope,
// a nested record and an array element) and decimal bytes either encodes
// to the bytes hamba/avro writes, and decodes back to itself, or is
// refused because the string is not valid UTF-8 or the decimal has more
// than 18 digits (decided here with math/big).
func FuzzEncode(f *testing.F) {
	serde := newSerde(f, newRegistry(f), schemas.Config{Records: schemas.Events})
	f.Add("SKU-1", []byte{0x05, 0x12}, uint8(0))
	f.Add("日本", []byte{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x63, 0xff, 0xff}, uint8(1))
	f.Add("a\xffb", []byte{0xf2, 0x1f, 0x49, 0x4c, 0x58, 0x9c, 0x00, 0x01}, uint8(2))
	f.Add("", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f}, uint8(3))
	limit := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil), big.NewInt(1))
	f.Fuzz(func(t *testing.T, s string, decimal []byte, where uint8) {
		ev := orderEvent(3)
		switch where % 3 {
		case 0:
			ev.StreamID = s
		case 1:
			ev.Order.ShippingAddress.Street2 = &s
		case 2:
			ev.Order.Items[2].Status = &s
		}
		ev.Order.Items[1].Price = schemas.Decimal(decimal)
		if decimal == nil {
			ev.Order.Items[1].Price = schemas.Decimal{}
		}

		unscaled := new(big.Int).SetBytes(decimal)
		if len(decimal) > 0 && decimal[0]&0x80 != 0 {
			unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(len(decimal))*8))
		}
		fits := new(big.Int).Abs(unscaled).Cmp(limit) <= 0

		b, err := serde.Encode(ev)
		switch {
		case !utf8.ValidString(s) && !fits:
			// The first in field order is named: either.
			require.ErrorIs(t, err, schemas.ErrInvalidValue)
			return
		case !utf8.ValidString(s):
			require.ErrorIs(t, err, schemas.ErrInvalidUTF8)
			return
		case !fits:
			require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
			var ee *schemas.EncodeError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, "order.items[1].price", ee.Field)
			return
		}
		require.NoError(t, err)
		want, err := hambaOneBlock.Marshal(schemas.Events[0].Schema, ev)
		require.NoError(t, err)
		require.Equal(t, want, b[5:])
		var got schemas.OrderEvent
		require.NoError(t, serde.Decode(t.Context(), b, &got))
		require.Equal(t, ev, &got)
	})
}

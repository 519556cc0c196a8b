package dsco

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTime(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2014-01-01T10:30:00Z", time.Date(2014, 1, 1, 10, 30, 0, 0, time.UTC)},
		{"2014-01-01T10:30:00.000Z", time.Date(2014, 1, 1, 10, 30, 0, 0, time.UTC)},
		{"2014-01-01T10:30:00.5Z", time.Date(2014, 1, 1, 10, 30, 0, 500_000_000, time.UTC)},
		{"2014-01-01T10:30:00.123456789Z", time.Date(2014, 1, 1, 10, 30, 0, 123456789, time.UTC)},
		{"2014-01-01T10:30:00.1234567891234Z", time.Date(2014, 1, 1, 10, 30, 0, 123456789, time.UTC)},
		{"2014-01-01t10:30:00z", time.Date(2014, 1, 1, 10, 30, 0, 0, time.UTC)},
		{"2014-01-01T10:30:00.000+01:00", time.Date(2014, 1, 1, 10, 30, 0, 0, plus1)},
		{"2014-01-01T10:30:00.000+0100", time.Date(2014, 1, 1, 10, 30, 0, 0, plus1)},
		{"2014-01-01T10:30:00.000+01", time.Date(2014, 1, 1, 10, 30, 0, 0, plus1)},
		{"2014-01-01T10:30:00+01:00", time.Date(2014, 1, 1, 10, 30, 0, 0, plus1)},
		{"2014-01-01T10:30:00-0530", time.Date(2014, 1, 1, 10, 30, 0, 0, time.FixedZone("", -(5*3600+30*60)))},
		{"2014-01-01T00:30:00+23:59", time.Date(2014, 1, 1, 0, 30, 0, 0, time.FixedZone("", 23*3600+59*60))},
		{"2014-01-01T10:30:00+00:00", time.Date(2014, 1, 1, 10, 30, 0, 0, time.UTC)},
		{"2014-01-01T10:30:00-00", time.Date(2014, 1, 1, 10, 30, 0, 0, time.UTC)},
		{"2024-02-29T23:59:59.999Z", time.Date(2024, 2, 29, 23, 59, 59, 999_000_000, time.UTC)},
		{"0001-01-01T00:00:00Z", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime([]byte(tc.in))
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
			_, wantOff := tc.want.Zone()
			_, gotOff := got.Zone()
			assert.Equal(t, wantOff, gotOff, "the offset is kept")
			if wantOff == 0 {
				assert.Equal(t, time.UTC, got.Location())
			}
		})
	}
}

func TestParseTimeRefuses(t *testing.T) {
	cases := []struct {
		in, reason string
	}{
		{"", "too short"},
		{"2014-01-01", "too short"},
		{"2014-01-01T10:30:00", "no time zone"},
		{"2014-01-01T10:30:0", "too short"},
		{"2014-01-01T10:30:00.000", "no time zone"},
		{"2014-01-01 10:30:00Z", "not of the form"},
		{"2014/01/01T10:30:00Z", "not of the form"},
		{"2014-1-01T10:30:00.0Z", "not of the form"},
		{"2014-13-01T10:30:00Z", "month out of range"},
		{"2014-00-01T10:30:00Z", "month out of range"},
		{"2014-02-29T10:30:00Z", "day out of range"},
		{"2014-04-31T10:30:00Z", "day out of range"},
		{"2014-01-00T10:30:00Z", "day out of range"},
		{"2014-01-01T24:00:00Z", "hour out of range"},
		{"2014-01-01T10:60:00Z", "minute out of range"},
		{"2014-01-01T10:30:60Z", "second out of range"},
		{"2014-01-01T10:30:00.Z", "no digits after the decimal point"},
		{"2014-01-01T10:30:00+1", "offset is not of the form"},
		{"2014-01-01T10:30:00+010", "offset is not of the form"},
		{"2014-01-01T10:30:00+01:0", "offset is not of the form"},
		{"2014-01-01T10:30:00+01-00", "offset is not of the form"},
		{"2014-01-01T10:30:00+24:00", "offset out of range"},
		{"2014-01-01T10:30:00+01:60", "offset out of range"},
		{"2014-01-01T10:30:00ZZ", "extra text"},
		{"2014-01-01T10:30:00UTC", "no time zone"},
		{"2014-01-01T10:30:00.000 +01:00", "no time zone"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseTime([]byte(tc.in))
			var te *TimeError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.in, te.Text)
			assert.Contains(t, te.Reason, tc.reason)
			assert.Contains(t, err.Error(), tc.in)
		})
	}
}

func TestParseTimeDoesNotAllocate(t *testing.T) {
	for _, in := range []string{"2014-01-01T10:30:00.000Z", "2014-01-01T10:30:00.000+0100", "2014-01-01T10:30:00-05:30"} {
		b := []byte(in)
		_, _ = ParseTime(b) // the first use of an offset caches its zone
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseTime(b); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, in)
	}
}

// TestModelTimestamps: every model's time.Time field takes every form
// ParseTime accepts, and a refused one names the model and the field.
func TestModelTimestamps(t *testing.T) {
	const ts = "2014-01-01T10:30:00.000+0100"
	want := time.Date(2014, 1, 1, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		name  string
		field string
		into  func(data []byte) (time.Time, error)
	}{
		{"Order.createdAt", "createdAt", decodeTime(func(v *Order) time.Time { return v.CreatedAt })},
		{"Order.updatedAt", "updatedAt", decodeTime(func(v *Order) time.Time { return v.UpdatedAt })},
		{"ShipmentItem.shippedAt", "shippedAt", decodeTime(func(v *ShipmentItem) time.Time { return v.ShippedAt })},
		{"Stream.createdAt", "createdAt", decodeTime(func(v *Stream) time.Time { return v.CreatedAt })},
		{"Event.timestamp", "timestamp", decodeTime(func(v *Event) time.Time { return v.Timestamp })},
		{"ItemInventory.lastUpdate", "lastUpdate", decodeTime(func(v *ItemInventory) time.Time { return v.LastUpdate })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.into([]byte(`{"` + tc.field + `":"` + ts + `","other":1}`))
			require.NoError(t, err)
			assert.True(t, want.Equal(got), got)

			got, err = tc.into([]byte(`{"` + tc.field + `":null}`))
			require.NoError(t, err)
			assert.True(t, got.IsZero())

			got, err = tc.into([]byte(`{"` + tc.field + `":"2014-01-01T10:30:00.000\u002B0100"}`))
			require.NoError(t, err, "escapes are unquoted first")
			assert.True(t, want.Equal(got), got)

			_, err = tc.into([]byte(`{"` + tc.field + `":"2014-01-01T10:30:00"}`))
			var te *json.UnmarshalTypeError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.name, te.Struct+"."+te.Field)
			assert.Contains(t, err.Error(), "no time zone")
		})
	}
}

func decodeTime[T any](get func(*T) time.Time) func([]byte) (time.Time, error) {
	return func(data []byte) (time.Time, error) {
		var v T
		err := json.Unmarshal(data, &v)
		return get(&v), err
	}
}

// TestTimestampsInAPage: one event with a colon-less offset no longer fails
// the whole page, and the nested order's timestamps decode too.
func TestTimestampsInAPage(t *testing.T) {
	page := `{"events":[
	  {"eventId":"e1","eventType":"order.created","objectType":"order","timestamp":"2014-01-01T10:30:00.000+0100",
	   "data":{"orderId":"o1","createdAt":"2014-01-01T10:30:00+01","updatedAt":"2014-01-01T09:30:00Z","items":[]}},
	  {"eventId":"e2","eventType":"order.created","objectType":"order","timestamp":"2014-01-01T09:30:00.000Z","data":{}}],
	  "position":"0:2","hasMore":false}`
	var evs StreamEvents
	require.NoError(t, json.Unmarshal([]byte(page), &evs))
	require.Len(t, evs.Events, 2)
	assert.True(t, evs.Events[0].Timestamp.Equal(evs.Events[1].Timestamp))
	o, err := evs.Events[0].Order()
	require.NoError(t, err)
	assert.True(t, o.CreatedAt.Equal(o.UpdatedAt))
}

func TestFieldErrors(t *testing.T) {
	cases := []struct {
		name, data string
		model      string
		field      string
		reason     string
	}{
		{"beyond int64", `{"orderId":"o","items":[{"sku":"x","quantity":99999999999999999999}]}`,
			"Order", "items.quantity", "the number 99999999999999999999 is out of the range of int64"},
		{"int64 min - 1", `{"items":[{"quantity":-9223372036854775809}]}`,
			"Order", "items.quantity", "out of the range of int64"},
		{"a fraction", `{"items":[{"quantity":1.5}]}`, "Order", "items.quantity", "the number 1.5 is not an integer"},
		{"an exponent", `{"items":[{"quantity":1e3}]}`, "Order", "items.quantity", "is not an integer"},
		{"a string", `{"items":[{"quantity":"3"}]}`, "Order", "items.quantity", "a JSON string cannot be decoded into int"},
		{"a timestamp", `{"createdAt":"yesterday"}`, "Order", "createdAt", `the timestamp "yesterday" (too short`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := fieldError(json.Unmarshal([]byte(tc.data), &o), &o)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.model, fe.Model)
			assert.Equal(t, tc.field, fe.Field)
			assert.Contains(t, fe.Reason, tc.reason)
			assert.True(t, strings.HasPrefix(err.Error(), "dsco: "+tc.model+"."+tc.field+": "), err.Error())
			var te *json.UnmarshalTypeError
			assert.True(t, errors.As(err, &te), "the encoding/json error is kept")
		})
	}
	assert.NoError(t, fieldError(nil, &Order{}))
	other := errors.New("x")
	assert.Same(t, other, fieldError(other, &Order{}))
}

// TestLenientTypesKeepLayout: the lenient view of every model with a
// timestamp exists (else its timestamps would be read strictly).
func TestLenientTypesKeepLayout(t *testing.T) {
	for _, typ := range []struct {
		name string
		ok   bool
	}{
		{"Order", typeInfoOf(reflectTypeOfPlain[Order]()).lenient != nil},
		{"ShipmentItem", typeInfoOf(reflectTypeOfPlain[ShipmentItem]()).lenient != nil},
		{"Stream", typeInfoOf(reflectTypeOfPlain[Stream]()).lenient != nil},
		{"Event", typeInfoOf(reflectTypeOfPlain[Event]()).lenient != nil},
		{"ItemInventory", typeInfoOf(reflectTypeOfPlain[ItemInventory]()).lenient != nil},
		{"OrderItem has no timestamp", typeInfoOf(reflectTypeOfPlain[OrderItem]()).lenient == nil},
	} {
		assert.True(t, typ.ok, typ.name)
	}
}

var rfc3339Shape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2014-01-01T10:30:00.000+01:00", "2014-01-01T10:30:00.000+0100", "2014-01-01T10:30:00.000Z",
		"2014-01-01T10:30:00+01", "2024-02-29T23:59:59.123456789-23:59", "2014-01-01T10:30:00", "x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseTime(b)
		s := string(b)
		// Where the text has the shape of RFC 3339 and Go's parser accepts
		// it, ParseTime agrees (Go's parser alone is laxer: it takes
		// one-digit hours, for example).
		if ref, rerr := time.Parse(time.RFC3339Nano, s); rerr == nil && rfc3339Shape.MatchString(s) {
			var te *TimeError
			if errors.As(err, &te) && te.Reason == "offset out of range" {
				return // Go takes +24:00; RFC 3339 does not
			}
			if err != nil {
				t.Fatalf("ParseTime(%q): %v; time.Parse takes it as %s", s, err, ref)
			}
			if !ref.Equal(got) {
				t.Fatalf("ParseTime(%q) = %s, time.Parse = %s", s, got, ref)
			}
		}
		if err != nil {
			return
		}
		// What ParseTime accepts is one instant that survives a round trip
		// through RFC 3339, and the colon-less and hour-only offsets mean
		// what the colon form means.
		back, rerr := time.Parse(time.RFC3339Nano, got.Format(time.RFC3339Nano))
		if rerr != nil || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %s does not round-trip: %v", s, got, rerr)
		}
		if n := len(s); n >= 5 && (s[n-5] == '+' || s[n-5] == '-') {
			colon := s[:n-2] + ":" + s[n-2:]
			c, cerr := ParseTime([]byte(colon))
			if cerr != nil || !c.Equal(got) {
				t.Fatalf("ParseTime(%q) = %s but ParseTime(%q) = %s, %v", s, got, colon, c, cerr)
			}
		}
	})
}

// reflectTypeOfPlain returns the method-less type unmarshalObject sees for
// model T (its plain copy has the same fields).
func reflectTypeOfPlain[T any]() reflect.Type { return reflect.TypeFor[T]() }

package schemas_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestStreamEventEnvelope proves that the Envelope embedded in the stream
// event records travels under its avro field names, as the fields of the
// flat records did: hamba/avro's encoder writes them where the schema puts
// them, and its resolving decoder reads them back from a writer schema that
// orders them differently.
func TestStreamEventEnvelope(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{})
	fx := fixtures()

	for _, d := range schemas.Events {
		t.Run(d.Name, func(t *testing.T) {
			want, ok := fx[d.RecordName].(schemas.StreamEvent)
			if d.Name == "iteminventory" {
				require.False(t, ok, "ItemInventoryEvent has no stream envelope")
				return
			}
			require.True(t, ok, "%s is a StreamEvent", d.RecordName)
			env := *want.Env()
			require.NotEmpty(t, env.Position)

			b, err := serde.Encode(want)
			require.NoError(t, err)
			var generic map[string]any
			require.NoError(t, avro.Unmarshal(d.Schema, b[5:], &generic))
			assert.Equal(t, env.EventID, generic["eventId"])
			assert.Equal(t, env.EventType, generic["eventType"])
			assert.Equal(t, env.ObjectType, generic["objectType"])
			assert.Equal(t, env.Timestamp, generic["timestamp"])
			assert.Equal(t, env.StreamID, generic["streamId"])
			assert.Equal(t, env.Position, generic["position"])

			text := reverseEnvelope(t, d)
			id := registerText(t, reg.URL(), "reordered-"+d.Name+"-value", text)
			got := d.New()
			require.NoError(t, serde.Decode(t.Context(), frame(t, id, text, want), got))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, got))
			gotEnv := got.(schemas.StreamEvent).Env()
			assert.Equal(t, env, *gotEnv)

			gotEnv.Position = "moved"
			assert.Equal(t, "moved", reflectPosition(got), "Env points into the record")
		})
	}
}

// TestEnvelopeWireBytes proves that embedding Envelope did not change the
// bytes: an OrderEvent encodes exactly as a flat struct with the same
// fields in schema order.
func TestEnvelopeWireBytes(t *testing.T) {
	ev := orderEvent(3)
	flat := struct {
		EventID    string        `avro:"eventId"`
		EventType  string        `avro:"eventType"`
		ObjectType string        `avro:"objectType"`
		Timestamp  time.Time     `avro:"timestamp"`
		StreamID   string        `avro:"streamId"`
		Position   string        `avro:"position"`
		Order      schemas.Order `avro:"order"`
		Extra      *string       `avro:"extra"`
	}{ev.EventID, ev.EventType, ev.ObjectType, ev.Timestamp, ev.StreamID, ev.Position, ev.Order, ev.Extra}

	want, err := avro.Marshal(schemas.Events[0].Schema, &flat)
	require.NoError(t, err)
	got, err := avro.Marshal(schemas.Events[0].Schema, ev)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// reverseEnvelope returns the schema text of d with its first six fields,
// the envelope, in reverse order.
func reverseEnvelope(t *testing.T, d *schemas.Descriptor) string {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(d.Text), &root))
	fields := root["fields"].([]any)
	slices.Reverse(fields[:6])
	assert.Equal(t, "eventId", fields[5].(map[string]any)["name"])
	b, err := json.Marshal(root)
	require.NoError(t, err)
	return string(b)
}

// reflectPosition reads the promoted Position field of a stream event
// record through its Go type, not through Env.
func reflectPosition(r schemas.Record) string {
	switch r := r.(type) {
	case *schemas.OrderEvent:
		return r.Position
	case *schemas.OrderItemChangeEvent:
		return r.Position
	case *schemas.InventoryEvent:
		return r.Position
	case *schemas.CatalogEvent:
		return r.Position
	case *schemas.InvoiceEvent:
		return r.Position
	case *schemas.ReturnEvent:
		return r.Position
	}
	return ""
}

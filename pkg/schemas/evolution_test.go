package schemas_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/dscokafka/connector/pkg/schemas"
)

// editSchema returns the schema text of d with the field at path (dotted
// field names; arrays, unions and nested records are stepped through)
// passed to edit; edit returns false to remove the field.
func editSchema(t *testing.T, d *schemas.Descriptor, path string, edit func(field map[string]any) bool) string {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(d.Text), &root))
	rec := root
	names := strings.Split(path, ".")
	for i, name := range names {
		fields := rec["fields"].([]any)
		idx := -1
		for j, f := range fields {
			if f.(map[string]any)["name"] == name {
				idx = j
			}
		}
		require.NotEqual(t, -1, idx, "field %s of %s", name, path)
		field := fields[idx].(map[string]any)
		if i == len(names)-1 {
			if !edit(field) {
				rec["fields"] = append(fields[:idx:idx], fields[idx+1:]...)
			}
			break
		}
		rec = recordIn(t, field["type"])
	}
	b, err := json.Marshal(root)
	require.NoError(t, err)
	return string(b)
}

func recordIn(t *testing.T, typ any) map[string]any {
	t.Helper()
	switch v := typ.(type) {
	case map[string]any:
		switch v["type"] {
		case "record":
			return v
		case "array":
			return recordIn(t, v["items"])
		}
	case []any:
		for _, b := range v {
			if m, ok := b.(map[string]any); ok {
				return recordIn(t, m)
			}
		}
	}
	t.Fatalf("no record in %v", typ)
	return nil
}

func registerText(t *testing.T, url, subject, text string) int {
	t.Helper()
	cl, err := newRegistryClient(url)
	require.NoError(t, err)
	ss, err := cl.CreateSchema(t.Context(), subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	require.NoError(t, err)
	return ss.ID
}

// frame writes v with schema text under id, framed by franz-go's
// ConfluentHeader (not by the code under test).
func frame(t *testing.T, id int, text string, v any) []byte {
	t.Helper()
	sch, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	require.NoError(t, err)
	body, err := avro.Marshal(sch, v)
	require.NoError(t, err)
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, id, nil)
	require.NoError(t, err)
	return append(b, body...)
}

func TestEvolution(t *testing.T) {
	order := schemas.Events[0]
	subject := order.Topic + "-value"
	removeQuantityCancelled := func(f map[string]any) bool { return false }

	t.Run("old writer, current reader", func(t *testing.T) {
		reg := newRegistry(t)
		older := editSchema(t, order, "order.items.quantityCancelled", removeQuantityCancelled)
		oldID := registerText(t, reg.URL(), subject, older)

		// The current schema is compatible with version 1 and becomes version 2.
		serde := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{order}})
		newID, _ := serde.SchemaID(order)
		require.NotEqual(t, oldID, newID)
		versions, _ := reg.GetSchema(subject, 2)
		assert.Equal(t, newID, versions.ID)

		sent := orderEvent(3)
		for i := range sent.Order.Items {
			sent.Order.Items[i].QuantityCancelled = i32(9) // not in the old schema: never written
		}
		b := frame(t, oldID, older, sent)

		var got schemas.OrderEvent
		require.NoError(t, serde.Decode(t.Context(), b, &got))
		want := orderEvent(3)
		for i := range want.Order.Items {
			want.Order.Items[i].QuantityCancelled = nil // the field's default
		}
		assert.JSONEq(t, asJSON(t, want), asJSON(t, &got))

		// Decoding into a record that holds another value leaves nothing of
		// it behind, not even the items of a longer order.
		reused := orderEvent(5)
		require.NoError(t, serde.Decode(t.Context(), b, reused))
		assert.JSONEq(t, asJSON(t, want), asJSON(t, reused))
		noItems := frame(t, oldID, older, orderEvent(0))
		require.NoError(t, serde.Decode(t.Context(), noItems, reused))
		assert.JSONEq(t, asJSON(t, orderEvent(0)), asJSON(t, reused))
	})

	t.Run("current writer, old reader", func(t *testing.T) {
		reg := newRegistry(t)
		serde := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{order}})
		b, err := serde.Encode(orderEvent(3))
		require.NoError(t, err)

		older, err := avro.ParseWithCache(editSchema(t, order, "order.items.quantityCancelled", removeQuantityCancelled), "", &avro.SchemaCache{})
		require.NoError(t, err)
		resolved, err := avro.NewSchemaCompatibility().Resolve(older, order.Schema)
		require.NoError(t, err)
		var got schemas.OrderEvent
		require.NoError(t, avro.Unmarshal(resolved, b[5:], &got))
		want := orderEvent(3)
		for i := range want.Order.Items {
			want.Order.Items[i].QuantityCancelled = nil
		}
		assert.JSONEq(t, asJSON(t, want), asJSON(t, &got))
	})
}

func TestIncompatibleSchemaIsRefused(t *testing.T) {
	order := schemas.Events[0]
	subject := order.Topic + "-value"
	tests := []struct {
		name       string
		path       string
		edit       func(f map[string]any) bool
		wantField  string
		wantReason string
	}{
		{
			name: "registered version has a different type", path: "order.orderType",
			edit:      func(f map[string]any) bool { f["type"] = []any{"null", "int"}; return true },
			wantField: "order.orderType", wantReason: "int",
		},
		{
			name: "our version adds a required field", path: "eventId",
			edit:      func(map[string]any) bool { return false },
			wantField: "eventId", wantReason: "without a default",
		},
		{
			name: "nested required field added", path: "order.orderId",
			edit:      func(map[string]any) bool { return false },
			wantField: "order.orderId", wantReason: "without a default",
		},
		{
			// A decimal of another scale is compatible (each value is
			// rescaled exactly or refused: TestForeignWriters), but plain
			// bytes say nothing about the scale.
			name: "registered version has plain bytes where we read a decimal", path: "order.items.cost",
			edit: func(f map[string]any) bool {
				f["type"].([]any)[1] = "bytes"
				return true
			},
			wantField: "order.items[].cost", wantReason: "decimal(18,4) cannot be read from bytes",
		},
		{
			name: "timestamp unit changed", path: "order.createdAt",
			edit: func(f map[string]any) bool {
				f["type"].([]any)[1].(map[string]any)["logicalType"] = "timestamp-micros"
				return true
			},
			wantField: "order.createdAt", wantReason: "timestamp-millis cannot be read from a timestamp-micros",
		},
		{
			name: "array of records became strings", path: "order.items",
			edit: func(f map[string]any) bool {
				f["type"] = map[string]any{"type": "array", "items": "string"}
				return true
			},
			wantField: "order.items[]", wantReason: "string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t)
			registerText(t, reg.URL(), subject, editSchema(t, order, tt.path, tt.edit))

			s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: []*schemas.Descriptor{order}})
			require.NoError(t, err)
			for _, step := range []struct {
				name string
				run  func() error
			}{{"Check", func() error { return s.Check(t.Context()) }}, {"Register", func() error { return s.Register(t.Context()) }}} {
				err := step.run()
				t.Log(err)
				require.ErrorIs(t, err, schemas.ErrIncompatible, step.name)
				var ie *schemas.IncompatibleError
				require.ErrorAs(t, err, &ie, step.name)
				assert.Equal(t, subject, ie.Subject)
				assert.Equal(t, tt.wantField, ie.Field)
				assert.Equal(t, 1, ie.Version)
				assert.Contains(t, err.Error(), subject)
				assert.Contains(t, err.Error(), "field "+tt.wantField)
				assert.Contains(t, err.Error(), tt.wantReason)
			}
			_, ok := reg.GetSchema(subject, 2)
			assert.False(t, ok, "an incompatible schema is not registered")
			_, err = s.Encode(orderEvent(1))
			require.ErrorIs(t, err, schemas.ErrNotPrepared)
		})
	}
}

func TestRegistryConflictIsIncompatible(t *testing.T) {
	reg := newRegistry(t)
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/versions") {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}`))
		return true
	})
	ship, _ := schemas.Command("ship")
	s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: []*schemas.Descriptor{ship}})
	require.NoError(t, err)

	err = s.Register(t.Context())
	require.ErrorIs(t, err, schemas.ErrIncompatible)
	assert.Contains(t, err.Error(), `"dsco.cmd.ship.v1-value"`)
	assert.Contains(t, err.Error(), "incompatible with an earlier schema")
}

func TestDecodeFromIncompatibleWriter(t *testing.T) {
	// A producer outside the connector registered an incompatible version
	// under another subject and wrote with it: decoding refuses the record
	// with a permanent error naming the field, instead of misreading it.
	reg := newRegistry(t)
	order := schemas.Events[0]
	text := editSchema(t, order, "order.orderType", func(f map[string]any) bool {
		f["type"] = "int"
		delete(f, "default")
		return true
	})
	id := registerText(t, reg.URL(), "other-value", text)
	serde := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{order}})

	b := frame(t, id, text, &struct {
		EventID    string `avro:"eventId"`
		EventType  string `avro:"eventType"`
		ObjectType string `avro:"objectType"`
		Timestamp  int64  `avro:"timestamp"`
		StreamID   string `avro:"streamId"`
		Position   string `avro:"position"`
		Order      struct {
			OrderID   string `avro:"orderId"`
			OrderType int    `avro:"orderType"`
		} `avro:"order"`
	}{EventID: "e", Order: struct {
		OrderID   string `avro:"orderId"`
		OrderType int    `avro:"orderType"`
	}{OrderID: "o", OrderType: 3}})

	err := serde.Decode(t.Context(), b, &schemas.OrderEvent{})
	require.ErrorIs(t, err, schemas.ErrIncompatible)
	assert.True(t, schemas.IsPermanent(err))
	assert.Contains(t, err.Error(), "order.orderType")
	var ie *schemas.IncompatibleError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, id, ie.SchemaID)
	assert.Equal(t, order.RecordName, ie.Record)
}

// TestCommandResultEvolution shows that the second version of
// CommandResult (a status field, and enum defaults) is compatible both
// ways with the first: consumers on the first version read new results,
// and new consumers read old ones.
func TestCommandResultEvolution(t *testing.T) {
	result := schemas.Result
	subject := result.Topic + "-value"
	// The first version: no status field, no default on the outcome enum.
	first := editSchema(t, result, "status", func(map[string]any) bool { return false })
	first = editSchemaText(t, first, func(root map[string]any) {
		for _, f := range root["fields"].([]any) {
			if f := f.(map[string]any); f["name"] == "outcome" {
				delete(f["type"].(map[string]any), "default")
			}
		}
	})
	firstSchema, err := avro.ParseWithCache(first, "", &avro.SchemaCache{})
	require.NoError(t, err)
	compat := avro.NewSchemaCompatibility()
	require.NoError(t, compat.Compatible(result.Schema, firstSchema), "the new version reads the first (BACKWARD)")
	require.NoError(t, compat.Compatible(firstSchema, result.Schema), "the first version reads the new (FORWARD)")

	sent := func() *schemas.CommandResult {
		r := fixtures()[result.RecordName].(*schemas.CommandResult)
		r.Outcome, r.Status = schemas.OutcomeAccepted, schemas.StatusQueued
		return r
	}

	t.Run("first-version writer, current reader", func(t *testing.T) {
		reg := newRegistry(t)
		oldID := registerText(t, reg.URL(), subject, first)
		serde := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{result}})
		newID, _ := serde.SchemaID(result)
		require.NotEqual(t, oldID, newID, "the new version registers as version 2")

		var got schemas.CommandResult
		require.NoError(t, serde.Decode(t.Context(), frame(t, oldID, first, sent()), &got))
		want := sent()
		want.Status = schemas.StatusUnspecified // the field's default: not written by the first version
		assert.Equal(t, want, &got)
	})

	t.Run("current writer, first-version reader", func(t *testing.T) {
		serde := newSerde(t, newRegistry(t), schemas.Config{Records: []*schemas.Descriptor{result}})
		b, err := serde.Encode(sent())
		require.NoError(t, err)
		resolved, err := compat.Resolve(firstSchema, result.Schema)
		require.NoError(t, err)
		var got schemas.CommandResult
		require.NoError(t, avro.Unmarshal(resolved, b[5:], &got))
		want := sent()
		want.Status = "" // not in the first version's schema
		assert.Equal(t, want, &got)
	})

	t.Run("a later writer's new symbols read as the defaults", func(t *testing.T) {
		later := editSchemaText(t, result.Text, func(root map[string]any) {
			for _, f := range root["fields"].([]any) {
				f := f.(map[string]any)
				switch f["name"] {
				case "outcome":
					e := f["type"].(map[string]any)
					e["symbols"] = append(e["symbols"].([]any), "deferred")
				case "status":
					e := f["type"].(map[string]any)
					e["symbols"] = append(e["symbols"].([]any), "escalated")
				}
			}
		})
		reg := newRegistry(t)
		serde := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{result}})
		laterID := registerText(t, reg.URL(), subject, later)
		v := sent()
		v.Outcome, v.Status = "deferred", "escalated"

		var got schemas.CommandResult
		require.NoError(t, serde.Decode(t.Context(), frame(t, laterID, later, v), &got))
		assert.Equal(t, schemas.OutcomeFailed, got.Outcome, "the outcome enum's default")
		assert.Equal(t, schemas.StatusUnspecified, got.Status, "the status enum's default")
		assert.Equal(t, v.CommandID, got.CommandID)
	})

	t.Run("an empty status encodes as the field default", func(t *testing.T) {
		serde := newSerde(t, newRegistry(t), schemas.Config{Records: []*schemas.Descriptor{result}})
		v := sent()
		v.Status = ""
		b, err := serde.Encode(v)
		require.NoError(t, err)
		var got schemas.CommandResult
		require.NoError(t, serde.Decode(t.Context(), b, &got))
		assert.Equal(t, schemas.StatusUnspecified, got.Status)
	})
}

func TestCommandStatusOutcome(t *testing.T) {
	for status, want := range map[schemas.CommandStatus]schemas.CommandOutcome{
		schemas.StatusUnspecified: "", schemas.StatusApplied: schemas.OutcomeAccepted,
		schemas.StatusQueued: schemas.OutcomeAccepted, schemas.StatusRejected: schemas.OutcomeRejected,
		schemas.StatusFailed: schemas.OutcomeFailed, schemas.StatusOutcomeUnknown: schemas.OutcomeFailed,
		"escalated": "",
	} {
		assert.Equal(t, want, status.Outcome(), status)
	}
}

// editSchemaText returns text with edit applied to its parsed JSON.
func editSchemaText(t *testing.T, text string, edit func(root map[string]any)) string {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &root))
	edit(root)
	b, err := json.Marshal(root)
	require.NoError(t, err)
	return string(b)
}

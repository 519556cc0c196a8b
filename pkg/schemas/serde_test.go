package schemas_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

func TestRoundTrip(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{})
	fx := fixtures()
	require.Len(t, fx, len(schemas.All()), "a fixture for every record")

	for _, d := range schemas.All() {
		t.Run(d.Kind.String()+"/"+d.Name, func(t *testing.T) {
			want := fx[d.RecordName]
			require.NotNil(t, want, "fixture for %s", d.RecordName)

			b, err := serde.Encode(want)
			require.NoError(t, err)

			id, ok := serde.SchemaID(d)
			require.True(t, ok)
			subject := serde.Subject(d)
			assert.Equal(t, d.Topic+"-value", subject)
			registered, ok := reg.GetSchema(subject, 1)
			require.True(t, ok, "subject %s registered", subject)
			assert.Equal(t, id, registered.ID)
			assert.JSONEq(t, d.Text, registered.Schema.Schema)

			got := d.New()
			require.NoError(t, serde.Decode(t.Context(), b, got))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, got))
			assert.Equal(t, want.Key(), got.Key())

			anyRec, err := serde.DecodeAny(t.Context(), b)
			require.NoError(t, err)
			assert.Equal(t, reflect.TypeOf(want), reflect.TypeOf(anyRec))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, anyRec))
		})
	}
}

func TestRoundTripDecodesWithAFreshSerde(t *testing.T) {
	// A consumer that never registered anything must fetch the writer
	// schema by id from the registry.
	reg := newRegistry(t)
	producer := newSerde(t, reg, schemas.Config{})
	consumer, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
	require.NoError(t, err)

	want := orderEvent(5)
	b, err := producer.Encode(want)
	require.NoError(t, err)
	var got schemas.OrderEvent
	require.NoError(t, consumer.Decode(t.Context(), b, &got))
	assert.JSONEq(t, asJSON(t, want), asJSON(t, &got))
}

func TestConcurrentUse(t *testing.T) {
	reg := newRegistry(t)
	producer := newSerde(t, reg, schemas.Config{})
	consumer, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
	require.NoError(t, err)
	fx := fixtures()

	var wg sync.WaitGroup
	errs := make(chan error, 8*len(fx))
	for range 8 {
		wg.Go(func() {
			for _, want := range fx {
				b, err := producer.Encode(want)
				if err != nil {
					errs <- err
					continue
				}
				got, err := consumer.DecodeAny(t.Context(), b)
				if err != nil {
					errs <- err
					continue
				}
				if got.Key() != want.Key() {
					errs <- fmt.Errorf("key %q, want %q", got.Key(), want.Key())
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestRegisterIsIdempotent(t *testing.T) {
	// A restart (or a second replica) registers the same schemas: same ids,
	// no new versions, and Check passes against what is registered.
	reg := newRegistry(t)
	first := newSerde(t, reg, schemas.Config{})
	second := newSerde(t, reg, schemas.Config{})
	require.NoError(t, second.Check(t.Context()))
	for _, d := range schemas.All() {
		t.Run(d.Kind.String()+"/"+d.Name, func(t *testing.T) {
			a, ok := first.SchemaID(d)
			require.True(t, ok)
			b, ok := second.SchemaID(d)
			require.True(t, ok)
			assert.Equal(t, a, b)
			_, ok = reg.GetSchema(first.Subject(d), 2)
			assert.False(t, ok, "no second version")
		})
	}
}

func TestCheckWithEmptyRegistry(t *testing.T) {
	reg := newRegistry(t)
	s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
	require.NoError(t, err)
	require.NoError(t, s.Check(t.Context()), "a subject with no version passes")
	assert.Empty(t, mustSubjects(t, reg.URL()), "Check registers nothing")
}

func mustSubjects(t *testing.T, url string) []string {
	t.Helper()
	cl, err := newRegistryClient(url)
	require.NoError(t, err)
	subjects, err := cl.Subjects(t.Context())
	require.NoError(t, err)
	return subjects
}

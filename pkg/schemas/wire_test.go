package schemas_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/soe"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestWireFormatIsConfluent checks our bytes with franz-go's sr package, which
// shares no code with ours: its ConfluentHeader parses the framing, its
// client fetches the schema by the id in the frame, its Serde re-encodes the
// same value to the same bytes, and a generic (map) decode with the schema
// text from the registry reads the values back.
func TestWireFormatIsConfluent(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{})
	want := orderEvent(5)
	b, err := serde.Encode(want)
	require.NoError(t, err)

	var hdr sr.ConfluentHeader
	id, body, err := hdr.DecodeID(b)
	require.NoError(t, err)
	ourID, _ := serde.SchemaID(schemas.Result)
	orderID, _ := serde.SchemaID(schemas.Events[0])
	assert.NotEqual(t, ourID, orderID)
	assert.Equal(t, orderID, id)
	assert.Equal(t, byte(0), b[0])
	assert.Equal(t, uint32(id), binary.BigEndian.Uint32(b[1:5]))

	cl, err := newRegistryClient(reg.URL())
	require.NoError(t, err)
	fetched, err := cl.SchemaByID(t.Context(), id)
	require.NoError(t, err)
	writer, err := avro.ParseWithCache(fetched.Schema, "", &avro.SchemaCache{})
	require.NoError(t, err)

	// Our encoder writes each array as one block with a positive count, as
	// Java's and Python's Avro writers do; hamba/avro writes the same
	// bytes when told not to prefix blocks with their size.
	hamba := avro.Config{TagKey: "avro", DisableBlockSizeHeader: true}.Freeze()
	var fserde sr.Serde
	fserde.Register(id, &schemas.OrderEvent{},
		sr.EncodeFn(func(v any) ([]byte, error) { return hamba.Marshal(writer, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(writer, b, v) }),
	)
	again, err := fserde.Encode(want)
	require.NoError(t, err)
	assert.Equal(t, b, again, "franz-go's Serde frames the same value identically")

	var generic map[string]any
	require.NoError(t, avro.Unmarshal(writer, body, &generic))
	assert.Equal(t, "ev-1", generic["eventId"])
	order := generic["order"].(map[string]any)
	assert.Equal(t, "PO-1001", order["orderId"])
	items := order["items"].([]any)
	require.Len(t, items, 5)
	cost, ok := items[0].(map[string]any)["cost"].(*big.Rat)
	require.True(t, ok, "cost decodes as a decimal: %#v", items[0])
	assert.Equal(t, "12.9900", cost.FloatString(4))
	assert.Nil(t, items[1].(map[string]any)["cost"])
}

func TestDecodeErrors(t *testing.T) {
	reg := newRegistry(t)
	serde := newSerde(t, reg, schemas.Config{})
	ship, err := serde.Encode(fixtures()["io.dscokafka.v1.ShipCommand"])
	require.NoError(t, err)
	order, err := serde.Encode(orderEvent(2))
	require.NoError(t, err)

	tests := []struct {
		name   string
		data   []byte
		into   schemas.Record
		target error
		check  func(t *testing.T, err error)
	}{
		{name: "empty", data: nil, into: &schemas.ShipCommand{}, target: schemas.ErrTruncated},
		{name: "wrong magic byte", data: append([]byte{1}, ship[1:]...), into: &schemas.ShipCommand{}, target: schemas.ErrBadMagic},
		{name: "JSON instead of Avro", data: []byte(`{"commandId":"c-1"}`), into: &schemas.ShipCommand{}, target: schemas.ErrBadMagic},
		{name: "short header", data: ship[:3], into: &schemas.ShipCommand{}, target: schemas.ErrTruncated},
		{
			name: "unknown schema id", data: append([]byte{0, 0, 0, 0x27, 0x0f}, ship[5:]...), into: &schemas.ShipCommand{},
			target: schemas.ErrUnknownSchema,
			check: func(t *testing.T, err error) {
				var ue *schemas.UnknownSchemaError
				require.ErrorAs(t, err, &ue)
				assert.Equal(t, 9999, ue.ID)
			},
		},
		{
			name: "truncated body", data: order[:len(order)-7], into: &schemas.OrderEvent{}, target: schemas.ErrTruncated,
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, schemas.ErrMalformed)
				assert.Contains(t, err.Error(), "io.dscokafka.v1.OrderEvent")
			},
		},
		{name: "trailing bytes", data: append(append([]byte{}, ship...), 0, 0), into: &schemas.ShipCommand{}, target: schemas.ErrMalformed},
		{
			name: "ship command decoded as cancel command", data: ship, into: &schemas.CancelCommand{}, target: schemas.ErrWrongRecord,
			check: func(t *testing.T, err error) {
				var we *schemas.WrongRecordError
				require.ErrorAs(t, err, &we)
				assert.Equal(t, "io.dscokafka.v1.CancelCommand", we.Want)
				assert.Equal(t, "io.dscokafka.v1.ShipCommand", we.Got)
				assert.Contains(t, err.Error(), "io.dscokafka.v1.CancelCommand")
				assert.Contains(t, err.Error(), "io.dscokafka.v1.ShipCommand")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serde.Decode(t.Context(), tt.data, tt.into)
			require.ErrorIs(t, err, tt.target)
			assert.True(t, schemas.IsPermanent(err), "decoding errors are permanent: %v", err)
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestDecodeRegistryDownIsNotPermanent(t *testing.T) {
	reg := newRegistry(t)
	producer := newSerde(t, reg, schemas.Config{})
	b, err := producer.Encode(orderEvent(1))
	require.NoError(t, err)
	consumer, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
	require.NoError(t, err)
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})

	err = consumer.Decode(t.Context(), b, &schemas.OrderEvent{})
	require.Error(t, err)
	assert.False(t, schemas.IsPermanent(err), "a registry outage is worth retrying: %v", err)

	reg.ClearInterceptors()
	require.NoError(t, consumer.Decode(t.Context(), b, &schemas.OrderEvent{}), "a failed fetch is not cached")
}

func TestEncodeErrors(t *testing.T) {
	reg := newRegistry(t)
	tests := []struct {
		name   string
		cfg    schemas.Config
		record schemas.Record
		target error
	}{
		{name: "before Register", record: orderEvent(1), target: schemas.ErrNotPrepared},
		{name: "record not configured", cfg: schemas.Config{Records: schemas.Commands}, record: orderEvent(1), target: schemas.ErrUnknownRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.RegistryURL = reg.URL()
			s, err := schemas.NewSerde(tt.cfg)
			require.NoError(t, err)
			_, err = s.Encode(tt.record)
			require.ErrorIs(t, err, tt.target)
		})
	}
}

func TestSingleObjectEncoding(t *testing.T) {
	s, err := schemas.NewSerde(schemas.Config{SingleObject: true})
	require.NoError(t, err)
	require.NoError(t, s.Register(t.Context()), "nothing to register without a registry")

	for _, d := range schemas.All() {
		t.Run(d.Name+"/"+d.Kind.String(), func(t *testing.T) {
			want := fixtures()[d.RecordName]
			b, err := s.Encode(want)
			require.NoError(t, err)

			hdr, err := soe.BuildHeader(d.Schema) // hamba's own SOE header
			require.NoError(t, err)
			assert.Equal(t, hdr, b[:10])

			got := d.New()
			require.NoError(t, s.Decode(t.Context(), b, got))
			assert.JSONEq(t, asJSON(t, want), asJSON(t, got))
		})
	}
	t.Run("unknown fingerprint", func(t *testing.T) {
		b := []byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0}
		err := s.Decode(t.Context(), b, &schemas.OrderEvent{})
		require.ErrorIs(t, err, schemas.ErrUnknownSchema)
	})
	t.Run("Confluent frame in single-object mode", func(t *testing.T) {
		err := s.Decode(t.Context(), []byte{0, 0, 0, 0, 1, 2}, &schemas.OrderEvent{})
		require.ErrorIs(t, err, schemas.ErrBadMagic)
	})
}

func TestSubjectStrategies(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		topics   map[string]string
		want     string
	}{
		{name: "topic (default)", strategy: "", want: "dsco.cmd.ship.v1-value"},
		{name: "record", strategy: "record", want: "io.dscokafka.v1.ShipCommand"},
		{name: "topic-record", strategy: "topic-record", want: "dsco.cmd.ship.v1-io.dscokafka.v1.ShipCommand"},
		{name: "topic override", strategy: "topic", topics: map[string]string{"command:ship": "acme.ship"}, want: "acme.ship-value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t)
			strategy, err := schemas.ParseSubjectStrategy(tt.strategy)
			require.NoError(t, err)
			ship, _ := schemas.Command("ship")
			s := newSerde(t, reg, schemas.Config{SubjectStrategy: strategy, Topics: tt.topics, Records: []*schemas.Descriptor{ship}})
			assert.Equal(t, tt.want, s.Subject(ship))
			assert.True(t, reg.SubjectExists(tt.want))
		})
	}
	_, err := schemas.ParseSubjectStrategy("by-color")
	require.Error(t, err)
}

func TestLookupOnly(t *testing.T) {
	reg := newRegistry(t)
	ship, _ := schemas.Command("ship")
	cfg := schemas.Config{RegistryURL: reg.URL(), LookupOnly: true, Records: []*schemas.Descriptor{ship}}
	lookup, err := schemas.NewSerde(cfg)
	require.NoError(t, err)

	err = lookup.Register(t.Context())
	require.ErrorIs(t, err, schemas.ErrNotRegistered)
	assert.Contains(t, err.Error(), "dsco.cmd.ship.v1-value")
	assert.False(t, reg.SubjectExists("dsco.cmd.ship.v1-value"), "LookupOnly never registers")
	// Check says what Register would: the schema is missing, whatever its
	// compatibility (an empty subject is compatible).
	err = lookup.Check(t.Context())
	nr, ok := errors.AsType[*schemas.NotRegisteredError](err)
	require.True(t, ok, "Check with LookupOnly: %v", err)
	assert.Equal(t, "dsco.cmd.ship.v1-value", nr.Subject)

	registrar := newSerde(t, reg, schemas.Config{Records: []*schemas.Descriptor{ship}})
	require.NoError(t, lookup.Check(t.Context()))
	require.NoError(t, lookup.Register(t.Context()))
	want, _ := registrar.SchemaID(ship)
	got, _ := lookup.SchemaID(ship)
	assert.Equal(t, want, got)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  schemas.Config
		want string
	}{
		{name: "no registry", cfg: schemas.Config{}, want: "RegistryURL"},
		{name: "unknown topic key", cfg: schemas.Config{RegistryURL: "http://127.0.0.1:1", Topics: map[string]string{"order": "x"}}, want: "unknown record"},
		{name: "empty topic", cfg: schemas.Config{RegistryURL: "http://127.0.0.1:1", Topics: map[string]string{"event:order": ""}}, want: "empty topic"},
		{name: "bad strategy", cfg: schemas.Config{RegistryURL: "http://127.0.0.1:1", SubjectStrategy: 7}, want: "SubjectStrategy"},
		{name: "negative limits", cfg: schemas.Config{RegistryURL: "http://127.0.0.1:1", MaxBytes: -1}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schemas.NewSerde(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConfigErrorsHideRegistryPassword(t *testing.T) {
	_, err := schemas.NewSerde(schemas.Config{RegistryURL: "http://user:s3cret@127.0.0.1:1/%zz"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// TestRegistryStopsAnswering: a registry that stops answering after a few
// subjects (the proxy cuts every connection from then on) fails Register at
// the first subject it does not answer, counting the subjects not tried; an
// answer the serde cannot use (a JSON schema under a subject) is that
// subject's failure only, and the others are registered.
func TestRegistryStopsAnswering(t *testing.T) {
	t.Run("stops answering", func(t *testing.T) {
		reg := newRegistry(t)
		target, err := url.Parse(reg.URL())
		require.NoError(t, err)
		proxy := httputil.NewSingleHostReverseProxy(target)
		var requests atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if requests.Add(1) > 6 { // 3 subjects: each a look-up of its latest version and a registration
				panic(http.ErrAbortHandler)
			}
			proxy.ServeHTTP(w, r)
		}))
		defer srv.Close()
		s, err := schemas.NewSerde(schemas.Config{RegistryURL: srv.URL})
		require.NoError(t, err)
		err = s.Register(t.Context())
		require.Error(t, err)
		assert.ErrorContains(t, err, fmt.Sprintf("the registry did not answer; %d other subjects not tried", len(schemas.All())-4))
	})
	t.Run("an answer it cannot use", func(t *testing.T) {
		reg := newRegistry(t)
		reg.SeedSchema("dsco.order.v1-value", 1, 900, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
		s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL()})
		require.NoError(t, err)
		err = s.Register(t.Context())
		require.Error(t, err)
		assert.ErrorContains(t, err, `subject "dsco.order.v1-value"`)
		assert.NotContains(t, err.Error(), "did not answer")
		assert.True(t, reg.SubjectExists("dsco.cmd.ship.v1-value"), "the other subjects are registered")
	})
}

// TestNotARegistry: a URL that answers 404 without the registry's error code
// (a server that is no Schema Registry, or a path that is not its base) fails
// Check and Register, instead of passing for a registry whose subjects have
// no version, and asks no other subject after the first; the registry's own
// 404 (40401) is a subject with no version.
func TestNotARegistry(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want string // in the error of Check and Register; "" for none
	}{
		{name: "plain 404", body: "404 page not found", want: "registry error: 404"},
		{name: "JSON 404 of another API", body: `{"message":"no route"}`, want: "no route"},
		{name: "registry's subject not found", body: `{"error_code":40401,"message":"Subject not found."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") && tc.want == "" {
					fmt.Fprint(w, `{"id":1}`) // a registry registers the schema
					return
				}
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			for _, op := range []struct {
				name string
				run  func(*schemas.Serde) error
			}{
				{"check", func(s *schemas.Serde) error { return s.Check(t.Context()) }},
				{"register", func(s *schemas.Serde) error { return s.Register(t.Context()) }},
			} {
				s, err := schemas.NewSerde(schemas.Config{RegistryURL: srv.URL})
				require.NoError(t, err)
				err = op.run(s)
				if tc.want == "" {
					assert.NoError(t, err, op.name)
					continue
				}
				require.Error(t, err, op.name)
				assert.ErrorContains(t, err, `subject "dsco.order.v1-value"`, op.name)
				assert.ErrorContains(t, err, tc.want, op.name)
				assert.ErrorContains(t, err, fmt.Sprintf("the server is no Schema Registry; %d other subjects not tried", len(schemas.All())-1), op.name)
			}
		})
	}
}

// TestRegistryNotAnswering: a registry that does not answer (here every
// connection is cut) fails Register and Check at the first subject, saying
// the others were not tried, instead of waiting for each in turn.
func TestRegistryNotAnswering(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		calls.Add(1)
		panic(http.ErrAbortHandler) // the connection is cut, no answer
	}))
	defer srv.Close()
	n := len(schemas.All())
	for _, tc := range []struct {
		name string
		run  func(*schemas.Serde) error
	}{
		{"register", func(s *schemas.Serde) error { return s.Register(t.Context()) }},
		{"check", func(s *schemas.Serde) error { return s.Check(t.Context()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			s, err := schemas.NewSerde(schemas.Config{RegistryURL: srv.URL})
			require.NoError(t, err)
			err = tc.run(s)
			require.Error(t, err)
			assert.ErrorContains(t, err, fmt.Sprintf("the registry did not answer; %d other subjects not tried", n-1))
			assert.LessOrEqual(t, calls.Load(), int32(2), "one subject asked (net/http may resend an idempotent request once)")
		})
	}
}

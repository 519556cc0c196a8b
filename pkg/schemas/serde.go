package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"
)

// SubjectStrategy maps a topic and a record to a Schema Registry subject,
// as Confluent's serializers do.
type SubjectStrategy int

// The subject strategies.
const (
	// TopicNameStrategy (the default): "<topic>-value".
	TopicNameStrategy SubjectStrategy = iota
	// RecordNameStrategy: "<record full name>".
	RecordNameStrategy
	// TopicRecordNameStrategy: "<topic>-<record full name>".
	TopicRecordNameStrategy
)

// Subject returns the subject of a record's values on a topic.
func (s SubjectStrategy) Subject(topic, recordName string) string {
	switch s {
	case RecordNameStrategy:
		return recordName
	case TopicRecordNameStrategy:
		return topic + "-" + recordName
	default:
		return topic + "-value"
	}
}

// String returns "topic", "record" or "topic-record".
func (s SubjectStrategy) String() string {
	switch s {
	case TopicNameStrategy:
		return "topic"
	case RecordNameStrategy:
		return "record"
	case TopicRecordNameStrategy:
		return "topic-record"
	}
	return fmt.Sprintf("SubjectStrategy(%d)", int(s))
}

// ParseSubjectStrategy parses "topic", "record" or "topic-record" (the
// values of the connector's configuration).
func ParseSubjectStrategy(s string) (SubjectStrategy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "topic", "topicname", "topic-name":
		return TopicNameStrategy, nil
	case "record", "recordname", "record-name":
		return RecordNameStrategy, nil
	case "topic-record", "topicrecord", "topicrecordname", "topic-record-name":
		return TopicRecordNameStrategy, nil
	}
	return 0, fmt.Errorf("schemas: unknown subject strategy %q (want topic, record or topic-record)", s)
}

// Config configures a Serde.
type Config struct {
	// RegistryURL is the Schema Registry's base URL. Required unless
	// SingleObject is set.
	RegistryURL string
	// RegistryUsername and RegistryPassword enable HTTP basic auth. The
	// password never appears in errors.
	RegistryUsername string
	RegistryPassword string
	// HTTPClient is used for registry calls; nil means a client of the
	// Serde's own, with hamba/avro's default settings (10 s timeout), whose
	// connections Close closes. A client given here is its owner's to close.
	HTTPClient *http.Client

	// SubjectStrategy maps topics and records to subjects; TopicName by
	// default.
	SubjectStrategy SubjectStrategy
	// Topics overrides default topics, keyed by "<kind>:<name>", for example
	// "event:order" or "command:ship" or "result:results".
	Topics map[string]string
	// Records limits registration and encoding to these descriptors (nil:
	// every record). Register and Check only touch their subjects; encoding
	// another record fails with ErrUnknownRecord. Every record of the
	// contract decodes.
	Records []*Descriptor

	// LookupOnly makes Register look schemas up instead of registering them,
	// for registries where the connector may not write; a schema that is not
	// registered fails with ErrNotRegistered.
	LookupOnly bool

	// SingleObject selects Avro single-object encoding without a registry:
	// C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint, the Avro body.
	// Only values written with this build's exact schemas decode.
	SingleObject bool

	// MaxBytes bounds every decoded string or bytes value (default 1 MiB),
	// and MaxItems every decoded array (default 100,000 elements), so that a
	// corrupted length cannot make the decoder allocate without limit.
	// Under a foreign writer schema, MaxItems also bounds, per value, the
	// array and map items whose type may take no bytes (nulls, empty
	// records), which the body's size does not.
	MaxBytes int
	MaxItems int
}

// TopicKey returns the key of a descriptor in Config.Topics.
func TopicKey(d *Descriptor) string { return d.Kind.String() + ":" + d.Name }

func (c *Config) setDefaults() {
	if c.Records == nil {
		c.Records = All()
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 20
	}
	if c.MaxItems == 0 {
		c.MaxItems = 100_000
	}
}

// Validate reports whether the configuration is usable.
func (c *Config) Validate() error {
	var errs []error
	if !c.SingleObject && c.RegistryURL == "" {
		errs = append(errs, errors.New("RegistryURL is required unless SingleObject is set"))
	}
	if c.SubjectStrategy < TopicNameStrategy || c.SubjectStrategy > TopicRecordNameStrategy {
		errs = append(errs, fmt.Errorf("unknown SubjectStrategy %d", c.SubjectStrategy))
	}
	if c.MaxBytes < 0 || c.MaxItems < 0 {
		errs = append(errs, errors.New("MaxBytes and MaxItems must not be negative"))
	}
	for k, topic := range c.Topics {
		if topic == "" {
			errs = append(errs, fmt.Errorf("empty topic for %s", k))
		}
		found := false
		for _, d := range All() {
			found = found || TopicKey(d) == k
		}
		if !found {
			errs = append(errs, fmt.Errorf("unknown record %q in Topics (want kind:name, e.g. event:order)", k))
		}
	}
	for _, d := range c.Records {
		if d == nil {
			errs = append(errs, errors.New("a nil descriptor in Records"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("schemas: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// entry is a record this Serde handles.
type entry struct {
	desc       *Descriptor
	topic      string
	subject    string
	configured bool // in Config.Records: registered, encodes
	// header is the framing header of values this Serde writes: set by
	// Register for the Confluent format, at construction for single-object
	// encoding.
	header atomic.Pointer[[]byte]
}

// writer is a writer schema seen while decoding, cached by schema id (or
// fingerprint): the record it writes and, when its schema is not the
// record's own, the plan that resolves its values into our reader schema.
type writer struct {
	entry *entry // nil when the writer's record is not in the contract
	plan  *plan  // nil for our own schema
	name  string // full name of the writer's record
	err   error  // a permanent error for this writer (incompatible)
}

// Serde encodes and decodes the contract's records. It is safe for
// concurrent use by multiple goroutines. Writer schemas are fetched from the
// registry once per schema id and cached, with the schema resolved into the
// reader schema, for the life of the Serde.
type Serde struct {
	cfg    Config
	api    avro.API
	client *registry.Client
	own    *http.Transport // the registry client's, made by NewSerde (nil: Config.HTTPClient's)

	entries []*entry
	byDesc  map[*Descriptor]*entry
	byName  map[string]*entry

	writers   sync.Map // uint32 schema id or uint64 fingerprint -> *writer
	fetchMu   sync.Mutex
	decoders  sync.Pool // *decoder
	resolvers sync.Pool // *resolver
	registers sync.Mutex
}

// Close closes the idle connections to the registry of the HTTP client the
// Serde made (Config.HTTPClient nil), which net/http otherwise keeps open,
// with their goroutines, for 90 seconds; a registry call in flight keeps its
// connection until the call ends (over HTTP/2, until it was idle for 90
// seconds). A Config.HTTPClient is left alone. The Serde
// still works after Close: a registry call opens a connection again, which
// the next Close closes. Close is idempotent and safe for concurrent use.
func (s *Serde) Close() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
}

// NewSerde returns a Serde for cfg. It does not talk to the registry: call
// Register (or Check) before encoding. Close it when done.
func NewSerde(cfg Config) (*Serde, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Serde{
		cfg: cfg,
		api: avro.Config{
			TagKey:               "avro",
			MaxByteSliceSize:     cfg.MaxBytes,
			MaxSliceAllocSize:    cfg.MaxItems,
			UnionResolutionError: true,
		}.Freeze(),
		byDesc: make(map[*Descriptor]*entry, len(cfg.Records)),
		byName: make(map[string]*entry, len(cfg.Records)),
	}
	if !cfg.SingleObject {
		hc := cfg.HTTPClient
		if hc == nil {
			// hamba/avro's default client, but a transport of the Serde's own:
			// the default one is shared by every registry client of the process.
			s.own = &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 90 * time.Second}).DialContext,
				TLSHandshakeTimeout: 3 * time.Second,
				IdleConnTimeout:     90 * time.Second,
			}
			hc = &http.Client{Transport: s.own, Timeout: 10 * time.Second}
		}
		opts := []registry.ClientFunc{registry.WithHTTPClient(hc)}
		if cfg.RegistryUsername != "" || cfg.RegistryPassword != "" {
			opts = append(opts, registry.WithBasicAuth(cfg.RegistryUsername, cfg.RegistryPassword))
		}
		client, err := registry.NewClient(cfg.RegistryURL, opts...)
		if err != nil {
			// Not wrapped: url.Parse's error repeats the URL, which may hold
			// a password.
			return nil, errors.New("schemas: invalid config: RegistryURL does not parse as a URL")
		}
		s.client = client
	}
	configured := make(map[*Descriptor]bool, len(cfg.Records))
	for _, d := range cfg.Records {
		configured[d] = true
	}
	// Every record gets an entry, so that any record of the contract
	// decodes; only the configured ones are registered and encode.
	for _, d := range All() {
		topic := d.Topic
		if t, ok := cfg.Topics[TopicKey(d)]; ok {
			topic = t
		}
		e := &entry{desc: d, topic: topic, subject: cfg.SubjectStrategy.Subject(topic, d.RecordName), configured: configured[d]}
		if cfg.SingleObject {
			fp, err := d.Schema.FingerprintUsing(avro.CRC64Avro)
			if err != nil {
				return nil, fmt.Errorf("schemas: fingerprint of %s: %w", d.RecordName, err)
			}
			fingerprint := binary.BigEndian.Uint64(fp)
			if e.configured {
				hdr := appendSingleObjectHeader(nil, fingerprint)
				e.header.Store(&hdr)
			}
			s.writers.Store(fingerprint, &writer{entry: e, name: d.RecordName})
		}
		if e.configured {
			s.entries = append(s.entries, e)
		}
		s.byDesc[d] = e
		s.byName[d.RecordName] = e
	}
	s.decoders.New = func() any {
		return &decoder{
			r:        avro.NewReader(nil, 0, avro.WithReaderConfig(s.api)),
			maxBytes: cfg.MaxBytes,
			maxItems: cfg.MaxItems,
		}
	}
	s.resolvers.New = func() any { return &resolver{maxBytes: cfg.MaxBytes, maxItems: cfg.MaxItems} }
	return s, nil
}

// Subject returns the registry subject of a descriptor's values under this
// Serde's topics and subject strategy.
func (s *Serde) Subject(d *Descriptor) string { return s.byDesc[d].subject }

// Topic returns the topic of a descriptor's values under this Serde's
// configuration (Config.Topics, else the default).
func (s *Serde) Topic(d *Descriptor) string { return s.byDesc[d].topic }

// SchemaID returns the registry id of a descriptor's schema, once Register
// has run.
func (s *Serde) SchemaID(d *Descriptor) (int, bool) {
	e := s.byDesc[d]
	if s.cfg.SingleObject {
		return 0, false
	}
	hdr := e.header.Load()
	if hdr == nil {
		return 0, false
	}
	id, _, _ := parseConfluentHeader(*hdr)
	return int(id), true
}

// Register prepares the Serde for encoding: for every configured record it
// checks the schema against the latest version registered under its subject
// (locally; see Check) and then registers it, or with Config.LookupOnly
// looks up its id. It returns every subject's failure, joined; the Serde
// encodes the records that succeeded. With Config.SingleObject it does
// nothing. Register is safe to call again, for example after a failure.
func (s *Serde) Register(ctx context.Context) error {
	if s.cfg.SingleObject {
		return nil
	}
	s.registers.Lock()
	defer s.registers.Unlock()
	return s.eachSubject(func(e *entry) error { return s.register(ctx, e) })
}

// eachSubject calls fn for every configured record's entry and returns the
// failures, joined. A registry that does not answer (the request failed: a
// timeout, a refused or cut connection) ends the round at the first such
// failure: every other subject would wait as long for the same. So does an
// answer that is no registry's (NotARegistry): every other subject would
// get the same. Any other answer, however unusable, moves on to the next
// subject.
func (s *Serde) eachSubject(fn func(*entry) error) error {
	var errs []error
	for i, e := range s.entries {
		err := fn(e)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		_, silent := errors.AsType[*url.Error](err)
		if silent || NotARegistry(err) {
			if left := len(s.entries) - i - 1; left > 0 {
				what := "registry did not answer"
				if !silent {
					what = "server is no Schema Registry"
				}
				errs = append(errs, fmt.Errorf("schemas: the %s; %d other subjects not tried", what, left))
			}
			break
		}
	}
	return errors.Join(errs...)
}

func (s *Serde) register(ctx context.Context, e *entry) error {
	if err := s.check(ctx, e); err != nil {
		return err
	}
	var (
		id  int
		err error
	)
	if s.cfg.LookupOnly {
		if id, err = s.lookup(ctx, e); err != nil {
			return err
		}
	} else {
		id, _, err = s.client.CreateSchema(ctx, e.subject, e.desc.Text)
		if isStatus(err, http.StatusConflict) {
			return &IncompatibleError{Subject: e.subject, Reason: "the registry refused the schema as incompatible: " + err.Error(), Err: err}
		}
	}
	if err != nil {
		return fmt.Errorf("schemas: registering subject %q: %w", e.subject, err)
	}
	if id < 0 || int64(id) > int64(^uint32(0)) {
		return fmt.Errorf("schemas: registry returned schema id %d for subject %q", id, e.subject)
	}
	hdr := appendConfluentHeader(nil, uint32(id))
	e.header.Store(&hdr)
	// The registered schema is our own: decoding values with this id needs
	// no registry call and no resolution.
	s.writers.Store(uint32(id), &writer{entry: e, name: e.desc.RecordName})
	return nil
}

// Check compares every configured record's schema with the latest version
// registered under its subject, without registering anything: the schema
// must be able to read data written with the registered one (BACKWARD), and
// with Config.LookupOnly it must be registered (*NotRegisteredError), as
// Register requires then. The
// check runs locally, because a registry's own answer cannot be relied on
// (test registries answer "compatible" to everything), and it is the very
// schema resolution Decode applies to values of the registered version: a
// version the check accepts decodes, one it refuses is refused by Decode
// with the same field and reason. A decimal of another scale or precision is
// compatible (each value is rescaled exactly, or refused with a
// *DecimalError); a decimal read from anything but a decimal is not. A
// subject with no version passes. Failures are *IncompatibleError values,
// one per subject, joined.
func (s *Serde) Check(ctx context.Context) error {
	if s.cfg.SingleObject {
		return nil
	}
	return s.eachSubject(func(e *entry) error {
		if err := s.check(ctx, e); err != nil || !s.cfg.LookupOnly {
			return err
		}
		_, err := s.lookup(ctx, e)
		return err
	})
}

// lookup returns the id of e's schema under its subject: a
// *NotRegisteredError when the subject holds no version equal to it.
func (s *Serde) lookup(ctx context.Context, e *entry) (int, error) {
	id, _, err := s.client.IsRegistered(ctx, e.subject, e.desc.Text)
	if notFound(err) {
		return 0, &NotRegisteredError{Subject: e.subject, File: e.desc.File}
	}
	if err != nil {
		return 0, fmt.Errorf("schemas: looking up the schema of subject %q: %w", e.subject, err)
	}
	return id, nil
}

func (s *Serde) check(ctx context.Context, e *entry) error {
	latest, err := s.client.GetLatestSchemaInfo(ctx, e.subject)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("schemas: reading latest version of subject %q: %w", e.subject, err)
	}
	field, reason, err := checkCompatible(e.desc.Schema, latest.Schema)
	if err != nil {
		return &IncompatibleError{Subject: e.subject, Version: latest.Version, Field: field, Reason: reason, Err: err}
	}
	return nil
}

func isStatus(err error, status int) bool {
	re, ok := registryError(err)
	return ok && re.StatusCode == status
}

// notFound reports whether err is the registry's answer that what was asked
// is not there: a 404 with the registry's error code (40401 subject, 40402
// version, 40403 schema not found; 404 alone is taken too). A 404 without one is no Schema
// Registry's answer (a URL that points at another server, or a path that is
// not the registry's base): it is an error, not a subject with no version,
// so that Check does not pass, nor Register go on, against a server that
// is no registry.
func notFound(err error) bool {
	re, ok := registryError(err)
	return ok && re.StatusCode == http.StatusNotFound &&
		(re.Code == http.StatusNotFound || re.Code/100 == http.StatusNotFound)
}

// NotARegistry reports whether err holds a 404 answer without the Schema
// Registry's error code: the server at the registry URL is no registry, or
// the URL is not the registry's base (it has a path too many). Asking again
// does not mend it; the URL must change.
func NotARegistry(err error) bool {
	return isStatus(err, http.StatusNotFound) && !notFound(err)
}

// registryError returns the registry answer that err holds: the client
// returns registry.Error values, and a *registry.Error is accepted too.
func registryError(err error) (registry.Error, bool) {
	if re, ok := errors.AsType[registry.Error](err); ok {
		return re, true
	}
	if rp, ok := errors.AsType[*registry.Error](err); ok && rp != nil {
		return *rp, true
	}
	return registry.Error{}, false
}

// Encode returns the framed encoding of r in a new slice of its exact
// size. See AppendEncode.
func (s *Serde) Encode(r Record) ([]byte, error) {
	hdr, err := s.header(r)
	if err != nil {
		return nil, err
	}
	return encodeNew(hdr, r)
}

// AppendEncode appends the framed encoding of r to dst: the Confluent header
// with the schema id Register obtained (or the single-object header) and
// the Avro body, written by the encoders generated from the schemas. It
// fails with ErrNotPrepared before Register has succeeded for r's record,
// with ErrUnknownRecord for a record the Serde was not configured with, and
// with an *EncodeError (ErrInvalidValue) naming the field when r holds a
// value its schema cannot carry: a string that is not valid UTF-8, a
// decimal beyond the schema's precision, an enum value that is no symbol.
// On error dst is returned with its length unchanged. It does no I/O and,
// when dst has room, no allocation.
func (s *Serde) AppendEncode(dst []byte, r Record) ([]byte, error) {
	hdr, err := s.header(r)
	if err != nil {
		return dst, err
	}
	out, err := encode(append(dst, hdr...), r)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// header returns the framing header of r's values.
func (s *Serde) header(r Record) ([]byte, error) {
	e := s.byDesc[r.descriptor()]
	if !e.configured {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRecord, r.descriptor().RecordName)
	}
	hdr := e.header.Load()
	if hdr == nil {
		return nil, fmt.Errorf("%w: %s (subject %q)", ErrNotPrepared, e.desc.RecordName, e.subject)
	}
	return *hdr, nil
}

// Decode decodes a framed value into r, whatever registered version of r's
// schema wrote it: the writer schema is fetched from the registry once per
// schema id (hence the context) and resolved into r's schema by the Avro
// rules (fields added with defaults, removed, reordered; numeric and
// string/bytes promotions; unions; enums). A decimal written with another
// scale or precision is rescaled when that is exact (12.990000 at scale 6
// reads as 12.99) and otherwise refused with a *DecimalError naming the
// field (12.345678 cannot be held at scale 4): Decode never rounds and
// never misreads an amount. Errors: ErrBadMagic, ErrTruncated,
// *UnknownSchemaError, *WrongRecordError (the value is another record),
// *IncompatibleError (the writer schema cannot be read as r's: the same
// verdict Check gives), *DecimalError, *MalformedError; a registry that
// cannot be reached gives an error for which IsPermanent is false. Decode
// never panics or crashes on arbitrary bytes under any writer schema (every
// length and block count is checked before it is used), and bounds what it
// allocates by Config.MaxBytes and Config.MaxItems.
//
// r may be a record an earlier Decode filled: a hot consumer that reuses
// one record per goroutine saves the allocations of its nested records,
// slices and nullable fields, which Decode writes through rather than
// replaces. Whatever r held before is then overwritten, including through
// pointers copied out of it, so do not keep parts of a record you decode
// into again.
func (s *Serde) Decode(ctx context.Context, data []byte, r Record) error {
	return s.decode(ctx, data, r, true)
}

// decode is Decode; fast false forces hamba/avro's reflective decoder (for
// tests that compare the two).
func (s *Serde) decode(ctx context.Context, data []byte, r Record, fast bool) error {
	want := s.byDesc[r.descriptor()]
	w, body, err := s.writerOf(ctx, data)
	if err != nil {
		return err
	}
	if w.entry != want {
		return &WrongRecordError{Want: want.desc.RecordName, Got: w.name}
	}
	if w.err != nil {
		return w.err
	}
	return s.read(w, body, r, fast)
}

// DecodeAny decodes a framed value into a new record of whatever type wrote
// it, for consumers of topics that may carry several records. It fails
// with *WrongRecordError when the writer's record is not one of the
// contract.
func (s *Serde) DecodeAny(ctx context.Context, data []byte) (Record, error) {
	w, body, err := s.writerOf(ctx, data)
	if err != nil {
		return nil, err
	}
	if w.entry == nil {
		return nil, &WrongRecordError{Want: "a record of the contract", Got: w.name}
	}
	if w.err != nil {
		return nil, w.err
	}
	r := w.entry.desc.New()
	if err := s.read(w, body, r, true); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Serde) read(w *writer, body []byte, r Record, fast bool) error {
	if w.plan != nil {
		// A foreign writer schema: its bytes become our reader schema's
		// first, validated on the way, so that one decoder fills records
		// whatever wrote them.
		t := s.resolvers.Get().(*resolver)
		defer s.resolvers.Put(t)
		resolved, err := t.resolve(w.plan, body, w.entry.desc.RecordName)
		if err != nil {
			var de *DecimalError
			if errors.As(err, &de) {
				return de
			}
			return &MalformedError{Record: w.name, Truncated: errors.Is(err, io.ErrUnexpectedEOF), Err: err}
		}
		body = resolved
	}
	d := s.decoders.Get().(*decoder)
	defer s.decoders.Put(d)
	var err error
	// The body is in our own schema's encoding (written with it, or
	// resolved into it above): the generated decoder reads it without
	// reflection.
	if fd, ok := r.(fastDecoder); ok && fast {
		d.reset(body)
		fd.decodeAvro(d)
		err = d.finish()
		d.buf = nil // a large body has its own copy: do not keep it in the pool
	} else {
		// hamba/avro leaves the old elements of a slice in place when the
		// array it decodes is empty: start from a zero record instead.
		reflect.ValueOf(r).Elem().SetZero()
		rd := d.r
		rd.Reset(body)
		rd.Error = nil
		rd.ReadVal(w.entry.desc.Schema, r)
		err = rd.Error
		if err == nil {
			// Every byte must belong to the record: leftovers mean the value
			// was not written with the schema its header names.
			if rd.Peek(); rd.Error == nil {
				err = errors.New("trailing bytes after the record")
			}
		}
		rd.Reset(nil)
		rd.Error = nil
	}
	if err != nil {
		truncated := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		return &MalformedError{Record: w.name, Truncated: truncated, Err: err}
	}
	return nil
}

// writerOf parses the framing and returns the writer of the value, fetching
// and resolving its schema on first sight.
func (s *Serde) writerOf(ctx context.Context, data []byte) (*writer, []byte, error) {
	if s.cfg.SingleObject {
		fp, body, err := parseSingleObjectHeader(data)
		if err != nil {
			return nil, nil, err
		}
		w, ok := s.writers.Load(fp)
		if !ok {
			return nil, nil, &UnknownSchemaError{Fingerprint: fp}
		}
		return w.(*writer), body, nil
	}
	id, body, err := parseConfluentHeader(data)
	if err != nil {
		return nil, nil, err
	}
	if w, ok := s.writers.Load(id); ok {
		return w.(*writer), body, nil
	}
	w, err := s.fetchWriter(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return w, body, nil
}

func (s *Serde) fetchWriter(ctx context.Context, id uint32) (*writer, error) {
	// One fetch per id at a time: a burst of records with a new id makes
	// one registry call, not one per record.
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if w, ok := s.writers.Load(id); ok {
		return w.(*writer), nil
	}
	if id > 1<<31-1 {
		return nil, &UnknownSchemaError{ID: int(id)}
	}
	sch, err := s.client.GetSchema(ctx, int(id))
	if notFound(err) {
		return nil, &UnknownSchemaError{ID: int(id), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("schemas: fetching schema id %d: %w", id, err)
	}
	w := &writer{}
	named, ok := deref(sch).(avro.NamedSchema)
	if !ok || deref(sch).Type() != avro.Record {
		w.name = string(sch.Type())
	} else {
		w.name = named.FullName()
	}
	if e, ok := s.byName[w.name]; ok {
		w.entry = e
		// Equal fingerprints (of the canonical forms, which keep logical
		// types, precision and scale) mean our own schema: no resolution.
		// Any other schema is read through a plan compiled once here; its
		// compile error is the incompatibility Check would report.
		if sch.Fingerprint() != e.desc.Schema.Fingerprint() {
			p, err := compilePlan(e.desc.Schema, sch)
			if err != nil {
				field, reason := incompatibility(err)
				w.err = &IncompatibleError{SchemaID: int(id), Record: e.desc.RecordName, Field: field, Reason: reason, Err: err}
			} else {
				w.plan = p
			}
		}
	}
	s.writers.Store(id, w)
	return w, nil
}

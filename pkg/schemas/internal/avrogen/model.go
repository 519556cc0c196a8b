package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/hamba/avro/v2"
)

// kind is the shape of a field's type, as the emitters see it.
type kind int

const (
	kindString    kind = iota + 1
	kindInt            // Avro int: int32
	kindLong           // Avro long: int64
	kindTimestamp      // long with logical type timestamp-millis: time.Time
	kindDate           // int with logical type date: time.Time at midnight UTC
	kindDecimal        // bytes with logical type decimal: Decimal
	kindRecord
	kindEnum
	kindArray
)

// typ is a field's type: a kind, whether it is a ["null", T] union, and
// what it refers to.
type typ struct {
	Kind     kind
	Nullable bool
	Record   *record // kindRecord
	Enum     *enum   // kindEnum
	Items    *typ    // kindArray

	Precision, Scale int // kindDecimal
}

// field is one field of a record.
type field struct {
	Name   string // Avro name
	GoName string
	Doc    string
	Type   *typ
	// HasDefault and Default are the field's Avro default.
	HasDefault bool
	Default    any
	// DscoName is the field's name in Dsco's JSON: the "dsco.name"
	// attribute, else "data" for the object of a stream event, else the
	// Avro name.
	DscoName string
	// DscoObject is true for a nullable string that holds the text of a
	// JSON object exactly as Dsco sent it: the "dsco.json": "object"
	// attribute, or an entry of rawObjectFields.
	DscoObject bool
}

// record is one named record type. Nested records that several files
// define are one record in the model.
type record struct {
	Name     string // Avro short name
	FullName string
	GoName   string
	Doc      string
	Fields   []*field
	// File is the .avsc file (base name) of a top-level record; empty for
	// nested ones.
	File string
	// Envelope is the number of leading fields that form the embedded
	// Envelope (the "go.envelope" attribute); 0 for none.
	Envelope int
	// Extra is the field named extra, which holds the members of the Dsco
	// JSON object that the schema does not declare; nil for none.
	Extra *field
	// Event is set on the top-level records named ...Event: what the
	// connector reads from Dsco JSON.
	Event *event
}

// event says how the connector reads a top-level ...Event record from
// Dsco JSON. A record with an envelope ("go.envelope") is a Dsco stream
// event, decoded whole from the event; any other (ItemInventoryEvent) has
// only its Object read from Dsco JSON, the connector writing the rest.
type event struct {
	// Object is the event's first field of a (not nullable) record type:
	// the Dsco object the event carries.
	Object *field
	// Stream is true for a stream event; then StreamID and Position are
	// the envelope's streamId and position fields (the stream id comes
	// from the call, the position from the event's own position member
	// when it has one), and ObjectType is the Dsco object type of its
	// stream: the "dsco.objectType" attribute, else Object's Avro name in
	// lower case.
	Stream             bool
	StreamID, Position *field
	ObjectType         string
}

// rawObjectFields are the fields (record short name.field) that hold a
// JSON object's text in schemas without the "dsco.json" attribute, which
// the schemas registered before it existed do not carry.
var rawObjectFields = map[string]bool{"CatalogItem.attributes": true}

// The names of the fields with a special source in Dsco JSON.
const (
	fieldExtra    = "extra"
	fieldStreamID = "streamId"
	fieldPosition = "position"
	dataMember    = "data" // the member of a stream event holding its object
)

// Own returns the fields declared in the record itself: all of them but
// the embedded envelope's.
func (r *record) Own() []*field { return r.Fields[r.Envelope:] }

// enum is one named enum type.
type enum struct {
	Name     string
	FullName string
	GoName   string
	Doc      string
	Symbols  []string
	Consts   []string // Go constant of each symbol
	Default  string   // the enum's default symbol; empty for none
}

// model is every type the schema files define.
type model struct {
	// Tops are the top-level records, one per file, in file name order.
	Tops []*record
	// Records are every record, each once: a file's nested records before
	// it, in the order they first appear.
	Records []*record
	// Enums are every enum, each once, in the order they first appear.
	Enums []*enum
	// Envelope holds the fields the top-level records with a "go.envelope"
	// attribute share (Fields[:Envelope]); nil when no record has one.
	Envelope *record
}

// load reads every .avsc file of dir in fsys into a model.
func load(fsys fs.FS, dir string) (*model, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.avsc"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .avsc files in %s", dir)
	}
	slices.Sort(names)
	b := &builder{
		m:       &model{},
		records: map[string]*record{},
		enums:   map[string]*enum{},
		texts:   map[string]string{},
		where:   map[string]string{},
	}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", name, err)
		}
		// Each file is self-contained: parse it with its own cache, as
		// package schemas does.
		sch, err := avro.ParseBytesWithCache(compact.Bytes(), "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rs, ok := sch.(*avro.RecordSchema)
		if !ok {
			return nil, fmt.Errorf("%s: the top-level schema is not a record", name)
		}
		b.file = path.Base(name)
		top, err := b.record(rs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if top.File != "" {
			return nil, fmt.Errorf("%s: record %s is also the top-level record of %s", name, top.FullName, top.File)
		}
		top.File = b.file
		if err := b.envelope(top, rs); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if strings.HasSuffix(top.Name, "Event") {
			if err := b.event(top, rs); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		b.m.Tops = append(b.m.Tops, top)
	}
	return b.m, b.checkNames()
}

type builder struct {
	m       *model
	file    string
	records map[string]*record
	enums   map[string]*enum
	texts   map[string]string // full name -> JSON of the first definition
	where   map[string]string // full name -> file of the first definition
}

// same checks that a named type defined again is defined identically
// (docs and attributes included), so that one Go type mirrors both.
func (b *builder) same(s avro.NamedSchema) (seen bool, err error) {
	j, err := json.Marshal(s)
	if err != nil {
		return false, err
	}
	prev, ok := b.texts[s.FullName()]
	if !ok {
		b.texts[s.FullName()] = string(j)
		b.where[s.FullName()] = b.file
		return false, nil
	}
	if prev != string(j) {
		return true, fmt.Errorf("%s is defined differently here and in %s", s.FullName(), b.where[s.FullName()])
	}
	return true, nil
}

func (b *builder) record(rs *avro.RecordSchema) (*record, error) {
	seen, err := b.same(rs)
	if err != nil {
		return nil, err
	}
	if seen {
		return b.records[rs.FullName()], nil
	}
	goName, err := goNameOf(rs.Prop("go.name"), rs.Name(), rs.FullName())
	if err != nil {
		return nil, err
	}
	r := &record{Name: rs.Name(), FullName: rs.FullName(), GoName: goName, Doc: rs.Doc()}
	b.records[rs.FullName()] = r
	for _, f := range rs.Fields() {
		where := rs.FullName() + "." + f.Name()
		t, err := b.typ(f.Type(), where)
		if err != nil {
			return nil, err
		}
		if t.Kind == kindDecimal && !t.Nullable {
			// Decimal is nil for null: a required decimal would have no Go
			// value that tells "absent" apart, and none is needed yet.
			return nil, fmt.Errorf("%s: a decimal must be nullable ([\"null\", decimal])", where)
		}
		goName, err := goNameOf(f.Prop("go.name"), f.Name(), where)
		if err != nil {
			return nil, err
		}
		dsco := f.Name()
		if v := f.Prop("dsco.name"); v != nil {
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("%s: attribute dsco.name is %v, want a non-empty string", where, v)
			}
			dsco = s
		}
		object := rawObjectFields[rs.Name()+"."+f.Name()]
		if v := f.Prop("dsco.json"); v != nil {
			if v != "object" {
				return nil, fmt.Errorf("%s: attribute dsco.json is %v, want \"object\"", where, v)
			}
			object = true
		}
		isOptString := t.Kind == kindString && t.Nullable
		if object && !isOptString {
			return nil, fmt.Errorf("%s: a JSON object's text (dsco.json) must be a nullable string", where)
		}
		fd := &field{
			Name: f.Name(), GoName: goName, Doc: f.Doc(), Type: t,
			HasDefault: f.HasDefault(), Default: f.Default(), DscoName: dsco, DscoObject: object,
		}
		if f.Name() == fieldExtra {
			if !isOptString {
				return nil, fmt.Errorf("%s: the extra field must be a nullable string", where)
			}
			r.Extra = fd
		}
		r.Fields = append(r.Fields, fd)
	}
	b.m.Records = append(b.m.Records, r)
	return r, nil
}

func (b *builder) typ(s avro.Schema, where string) (*typ, error) {
	if u, ok := s.(*avro.UnionSchema); ok {
		ts := u.Types()
		if len(ts) != 2 || ts[0].Type() != avro.Null {
			return nil, fmt.Errorf("%s: only [\"null\", T] unions are supported", where)
		}
		t, err := b.typ(ts[1], where)
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case kindArray, kindEnum:
			return nil, fmt.Errorf("%s: a nullable %s is not supported", where, ts[1].Type())
		}
		t.Nullable = true
		return t, nil
	}
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch t := s.(type) {
	case *avro.RecordSchema:
		r, err := b.record(t)
		if err != nil {
			return nil, err
		}
		return &typ{Kind: kindRecord, Record: r}, nil
	case *avro.EnumSchema:
		e, err := b.enum(t)
		if err != nil {
			return nil, err
		}
		return &typ{Kind: kindEnum, Enum: e}, nil
	case *avro.ArraySchema:
		items, err := b.typ(t.Items(), where+"[]")
		if err != nil {
			return nil, err
		}
		if items.Nullable || (items.Kind != kindRecord && items.Kind != kindString) {
			return nil, fmt.Errorf("%s: only arrays of records or strings are supported", where)
		}
		return &typ{Kind: kindArray, Items: items}, nil
	case *avro.PrimitiveSchema:
		logical := ""
		if l := t.Logical(); l != nil {
			logical = string(l.Type())
		}
		switch {
		case t.Type() == avro.String && logical == "":
			return &typ{Kind: kindString}, nil
		case t.Type() == avro.Int && logical == "":
			return &typ{Kind: kindInt}, nil
		case t.Type() == avro.Long && logical == "":
			return &typ{Kind: kindLong}, nil
		case t.Type() == avro.Long && logical == string(avro.TimestampMillis):
			return &typ{Kind: kindTimestamp}, nil
		case t.Type() == avro.Int && logical == string(avro.Date):
			return &typ{Kind: kindDate}, nil
		case t.Type() == avro.Bytes && logical == string(avro.Decimal):
			d := t.Logical().(*avro.DecimalLogicalSchema)
			return &typ{Kind: kindDecimal, Precision: d.Precision(), Scale: d.Scale()}, nil
		}
		if logical != "" {
			return nil, fmt.Errorf("%s: %s with logical type %s is not supported", where, t.Type(), logical)
		}
	}
	return nil, fmt.Errorf("%s: type %s is not supported", where, s.Type())
}

func (b *builder) enum(es *avro.EnumSchema) (*enum, error) {
	seen, err := b.same(es)
	if err != nil {
		return nil, err
	}
	if seen {
		return b.enums[es.FullName()], nil
	}
	goName, err := goNameOf(es.Prop("go.name"), es.Name(), es.FullName())
	if err != nil {
		return nil, err
	}
	prefix := goName
	if v := es.Prop("go.prefix"); v != nil {
		s, ok := v.(string)
		if !ok || !isExported(s) {
			return nil, fmt.Errorf("%s: attribute go.prefix is %v, want an exported Go identifier", es.FullName(), v)
		}
		prefix = s
	}
	e := &enum{Name: es.Name(), FullName: es.FullName(), GoName: goName, Doc: es.Doc(), Symbols: es.Symbols()}
	if es.HasDefault() {
		e.Default = es.Default()
	}
	for _, sym := range es.Symbols() {
		var c strings.Builder
		c.WriteString(prefix)
		for _, w := range strings.Split(sym, "_") {
			c.WriteString(goWord(w))
		}
		e.Consts = append(e.Consts, c.String())
	}
	b.enums[es.FullName()] = e
	b.m.Enums = append(b.m.Enums, e)
	return e, nil
}

// envelope checks the "go.envelope" attribute of a top-level record.
func (b *builder) envelope(top *record, rs *avro.RecordSchema) error {
	v := rs.Prop("go.envelope")
	if v == nil {
		return nil
	}
	n, ok := v.(float64)
	if !ok || n < 1 || n != float64(int(n)) || int(n) > len(top.Fields) {
		return fmt.Errorf("%s: attribute go.envelope is %v, want the number of leading fields that form the envelope", top.FullName, v)
	}
	top.Envelope = int(n)
	if b.m.Envelope == nil {
		b.m.Envelope = top
		return nil
	}
	first := b.m.Envelope
	if first.Envelope != top.Envelope {
		return fmt.Errorf("%s: go.envelope is %d, %s says %d", top.FullName, top.Envelope, first.FullName, first.Envelope)
	}
	for i := range top.Envelope {
		a, c := first.Fields[i], top.Fields[i]
		if a.Name != c.Name || a.GoName != c.GoName || a.Doc != c.Doc || a.DscoName != c.DscoName || !sameType(a.Type, c.Type) {
			return fmt.Errorf("%s: envelope field %d (%s) differs from %s's (%s): name, type and doc must be equal", top.FullName, i, c.Name, first.FullName, a.Name)
		}
	}
	return nil
}

// event fills in top.Event for a top-level ...Event record.
func (b *builder) event(top *record, rs *avro.RecordSchema) error {
	ev := &event{Stream: top.Envelope > 0}
	for i, f := range top.Fields {
		if f.Type.Kind == kindRecord && !f.Type.Nullable {
			ev.Object = f
			if ev.Stream && rs.Fields()[i].Prop("dsco.name") == nil {
				f.DscoName = dataMember
			}
			break
		}
	}
	if ev.Object == nil {
		return fmt.Errorf("%s: an event record needs a field of a record type: the Dsco object it carries", top.FullName)
	}
	if ev.Stream {
		for _, f := range top.Fields[:top.Envelope] {
			switch f.Name {
			case fieldStreamID:
				ev.StreamID = f
			case fieldPosition:
				ev.Position = f
			}
		}
		if ev.StreamID == nil || ev.Position == nil {
			return fmt.Errorf("%s: the envelope of a stream event needs the fields %s and %s", top.FullName, fieldStreamID, fieldPosition)
		}
		ev.ObjectType = strings.ToLower(ev.Object.Name)
		if v := rs.Prop("dsco.objectType"); v != nil {
			s, ok := v.(string)
			if !ok || s == "" {
				return fmt.Errorf("%s: attribute dsco.objectType is %v, want a non-empty string", top.FullName, v)
			}
			ev.ObjectType = s
		}
	}
	top.Event = ev
	return nil
}

func sameType(a, b *typ) bool {
	if a.Kind != b.Kind || a.Nullable != b.Nullable || a.Record != b.Record || a.Enum != b.Enum ||
		a.Precision != b.Precision || a.Scale != b.Scale {
		return false
	}
	if a.Items != nil || b.Items != nil {
		return a.Items != nil && b.Items != nil && sameType(a.Items, b.Items)
	}
	return true
}

// checkNames refuses two types with one Go name, and two fields of a
// record with one Go name.
func (b *builder) checkNames() error {
	types := map[string]string{"Envelope": "the envelope"}
	for _, r := range b.m.Records {
		if prev, ok := types[r.GoName]; ok {
			return fmt.Errorf("two types would have the Go name %s, %s and %s: set go.name", r.GoName, prev, r.FullName)
		}
		types[r.GoName] = r.FullName
		names := map[string]bool{}
		for _, f := range r.Fields {
			if names[f.GoName] {
				return fmt.Errorf("%s: two fields named %s in Go: set go.name", r.FullName, f.GoName)
			}
			names[f.GoName] = true
		}
	}
	for _, e := range b.m.Enums {
		if prev, ok := types[e.GoName]; ok {
			return fmt.Errorf("two types would have the Go name %s, %s and %s: set go.name", e.GoName, prev, e.FullName)
		}
		types[e.GoName] = e.FullName
	}
	return nil
}

func goNameOf(attr any, avroName, where string) (string, error) {
	if attr != nil {
		s, ok := attr.(string)
		if !ok || !isExported(s) {
			return "", fmt.Errorf("%s: attribute go.name is %v, want an exported Go identifier", where, attr)
		}
		return s, nil
	}
	return goName(avroName), nil
}

// initialisms are the words written in capitals in Go names.
var initialisms = map[string]string{"id": "ID", "sku": "SKU", "url": "URL", "http": "HTTP"}

// goName is the rule for Go names: the words of a camelCase Avro name,
// each with its first letter upper-cased, initialisms in capitals
// (lineItemId gives LineItemID, sku SKU).
func goName(avroName string) string {
	var b strings.Builder
	start := 0
	for i, r := range avroName {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteString(goWord(avroName[start:i]))
			start = i
		}
	}
	b.WriteString(goWord(avroName[start:]))
	return b.String()
}

func goWord(w string) string {
	if w == "" {
		return ""
	}
	if s, ok := initialisms[strings.ToLower(w)]; ok {
		return s
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

func isExported(s string) bool {
	if s == "" || !unicode.IsUpper(rune(s[0])) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return false
		}
	}
	return true
}

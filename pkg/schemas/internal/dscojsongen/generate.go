package main

import (
	"bytes"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// rawObjectFields are the fields (Record.field) that hold a JSON object's
// text, for schemas without the "dsco.json" attribute.
var rawObjectFields = map[string]bool{"CatalogItem.attributes": true}

// initialisms are the words written in upper case in Go names.
var initialisms = map[string]string{"id": "ID", "sku": "SKU"}

// envelope field names of a stream event record with special sources.
const (
	fieldStreamID = "streamId"
	fieldPosition = "position"
	fieldExtra    = "extra"
)

type generator struct {
	done     map[string]bool // records whose decoder is written
	arenas   []string        // record types with an arena, in order
	inArena  map[string]bool
	arrays   []*avro.RecordSchema // records read as array items
	optional []*avro.RecordSchema // records read as nullable values
	bodies   bytes.Buffer
	events   []eventInfo
}

type eventInfo struct {
	objectType string
	goType     string
}

// generate returns the source of dscojson_records.go for the .avsc files
// of fsys.
func generate(fsys fs.FS) ([]byte, error) {
	files, err := fs.Glob(fsys, "*.avsc")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	g := &generator{done: map[string]bool{}, inArena: map[string]bool{}}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		// Each file defines its nested types inline: parse it on its own.
		sch, err := avro.ParseBytesWithCache(raw, "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rec, ok := sch.(*avro.RecordSchema)
		if !ok || !strings.HasSuffix(rec.Name(), "Event") {
			continue // commands and results are not read from Dsco JSON
		}
		if err := g.event(path.Base(f), rec); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return g.finish()
}

// event generates the decoders of an event record and of what it nests.
func (g *generator) event(file string, rec *avro.RecordSchema) error {
	data := dataField(rec)
	if data == nil {
		return fmt.Errorf("event record %s has no object field", rec.Name())
	}
	if field(rec, fieldStreamID) == nil {
		// Not a stream event (ItemInventoryEvent): only its object is read
		// from Dsco JSON, into an arena.
		obj := data.Type().(*avro.RecordSchema)
		g.arena(goType(obj))
		return g.record(obj)
	}
	objectType, _ := rec.Prop("dsco.objectType").(string)
	if objectType == "" {
		objectType = strings.ToLower(data.Name())
	}
	g.events = append(g.events, eventInfo{objectType: objectType, goType: goType(rec)})
	g.arena(goType(rec))
	return g.record(rec)
}

// dataField returns the record-typed (not nullable) field of an event
// record: the Dsco object the event carries.
func dataField(rec *avro.RecordSchema) *avro.Field {
	for _, f := range rec.Fields() {
		if _, ok := f.Type().(*avro.RecordSchema); ok {
			return f
		}
	}
	return nil
}

func field(rec *avro.RecordSchema, name string) *avro.Field {
	for _, f := range rec.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

func (g *generator) arena(goType string) {
	if !g.inArena[goType] {
		g.inArena[goType] = true
		g.arenas = append(g.arenas, goType)
	}
}

func (g *generator) p(format string, args ...any) {
	fmt.Fprintf(&g.bodies, format, args...)
	g.bodies.WriteByte('\n')
}

// jsonName is the Dsco JSON name of a field.
func jsonName(f *avro.Field) string {
	if n, ok := f.Prop("dsco.name").(string); ok && n != "" {
		return n
	}
	return f.Name()
}

// goType is the Go type name of a record: its "go.name" attribute, else
// its Avro name.
func goType(r *avro.RecordSchema) string {
	if n, ok := r.Prop("go.name").(string); ok && n != "" {
		return n
	}
	return r.Name()
}

// fieldGoName is the Go name of a field: its "go.name" attribute, else
// goName of its Avro name.
func fieldGoName(f *avro.Field) string {
	if n, ok := f.Prop("go.name").(string); ok && n != "" {
		return n
	}
	return goName(f.Name())
}

// goName is the Go field name of an Avro field name.
func goName(name string) string {
	var b strings.Builder
	start := 0
	flush := func(end int) {
		w := name[start:end]
		if up, ok := initialisms[strings.ToLower(w)]; ok {
			b.WriteString(up)
		} else if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
		start = end
	}
	for i := 1; i < len(name); i++ {
		if name[i] >= 'A' && name[i] <= 'Z' {
			flush(i)
		}
	}
	flush(len(name))
	return b.String()
}

// nullable returns T of a ["null", T] union.
func nullable(s avro.Schema) (avro.Schema, bool) {
	u, ok := s.(*avro.UnionSchema)
	if !ok {
		return nil, false
	}
	ts := u.Types()
	if len(ts) != 2 || ts[0].Type() != avro.Null {
		return nil, false
	}
	return ts[1], true
}

func logical(s avro.Schema) string {
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		return string(l.Logical().Type())
	}
	return ""
}

// record generates the decoder of rec (once per record name).
func (g *generator) record(rec *avro.RecordSchema) error {
	if g.done[rec.Name()] {
		return nil
	}
	g.done[rec.Name()] = true
	stream := field(rec, fieldStreamID) != nil
	data := dataField(rec)
	type member struct {
		json, code string
		required   bool
	}
	var members []member
	var nested []*avro.RecordSchema
	hasExtra := false
	for _, f := range rec.Fields() {
		name := f.Name()
		target := "r." + fieldGoName(f)
		where := rec.Name() + "." + name
		switch {
		case name == fieldExtra:
			if inner, ok := nullable(f.Type()); !ok || inner.Type() != avro.String {
				return fmt.Errorf("%s: the extra field must be a nullable string", where)
			}
			hasExtra = true
			continue
		case stream && name == fieldStreamID:
			continue // from the call
		case stream && name == fieldPosition:
			members = append(members, member{json: jsonName(f), code: target + " = s.Str()\n\t\t\td.ownPosition = true"})
			continue
		}
		jn := jsonName(f)
		if stream && data != nil && f == data {
			if n, ok := f.Prop("dsco.name").(string); !ok || n == "" {
				jn = "data"
			}
		}
		code, required, sub, err := g.value(rec.Name(), f, target)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		nested = append(nested, sub...)
		members = append(members, member{json: jn, code: code, required: required})
	}
	if stream {
		g.p("// decodeDscoJSON decodes a Dsco stream event into r: the envelope from")
		g.p("// the event, the object from its %s member.", "data")
	} else {
		g.p("// decodeDscoJSON decodes a Dsco JSON object into r.")
	}
	g.p("func (r *%s) decodeDscoJSON(d *dscoDecoder) {", goType(rec))
	g.p("\ts := &d.s")
	g.p("\tif !s.BeginObject() {\n\t\treturn\n\t}")
	if hasExtra {
		g.p("\tmark := s.ExtraMark()")
	}
	var required []string
	for _, m := range members {
		if m.required {
			required = append(required, m.json)
		}
	}
	if len(required) > 64 {
		return fmt.Errorf("%s: more than 64 required fields", rec.Name())
	}
	if len(required) > 0 {
		g.p("\tvar seen uint64")
	}
	g.p("\tfor i := 0; ; i++ {")
	g.p("\t\tkey, ok := s.NextKey(i)")
	g.p("\t\tif !ok {\n\t\t\tbreak\n\t\t}")
	g.p("\t\tswitch key {")
	bit := 0
	for _, m := range members {
		g.p("\t\tcase %q:", m.json)
		g.p("\t\t\t%s", m.code)
		if m.required {
			g.p("\t\t\tseen |= 1 << %d", bit)
			bit++
		}
	}
	g.p("\t\tdefault:")
	if hasExtra {
		g.p("\t\t\ts.SkipMember()")
	} else {
		g.p("\t\t\ts.Skip()")
	}
	g.p("\t\t}")
	g.p("\t\tif s.Failed() {\n\t\t\ts.Within(key)\n\t\t\treturn\n\t\t}")
	g.p("\t}")
	g.p("\tif s.Failed() {\n\t\treturn\n\t}")
	if stream {
		g.p("\tr.%s = d.streamID", fieldGoName(field(rec, fieldStreamID)))
	}
	if hasExtra {
		g.p("\tr.%s = d.extra(mark)", fieldGoName(field(rec, fieldExtra)))
	}
	if len(required) > 0 {
		g.p("\tswitch {")
		for i, name := range required {
			g.p("\tcase seen&(1<<%d) == 0:\n\t\td.missing(%q)", i, name)
		}
		g.p("\t}")
	}
	g.p("}\n")
	for _, n := range nested {
		if err := g.record(n); err != nil {
			return err
		}
	}
	return nil
}

// value returns the statement that reads field f into target, whether the
// member is required, and the records it nests.
func (g *generator) value(recName string, f *avro.Field, target string) (string, bool, []*avro.RecordSchema, error) {
	t := f.Type()
	if inner, ok := nullable(t); ok {
		switch {
		case inner.Type() == avro.String:
			raw := rawObjectFields[recName+"."+f.Name()]
			if v, ok := f.Prop("dsco.json").(string); ok {
				raw = v == "object"
			}
			if raw {
				return target + " = d.optRawObject()", false, nil, nil
			}
			return target + " = d.optString()", false, nil, nil
		case inner.Type() == avro.Int && logical(inner) == "date":
			return target + " = d.optDate()", false, nil, nil
		case inner.Type() == avro.Int && logical(inner) == "":
			return target + " = d.optInt32()", false, nil, nil
		case inner.Type() == avro.Long && (logical(inner) == "timestamp-millis" || logical(inner) == "timestamp-micros"):
			return target + " = d.optTime()", false, nil, nil
		case inner.Type() == avro.Long && logical(inner) == "":
			return target + " = d.optInt64()", false, nil, nil
		case inner.Type() == avro.Bytes && logical(inner) == "decimal":
			dec := inner.(*avro.PrimitiveSchema).Logical().(*avro.DecimalLogicalSchema)
			if dec.Precision() > 18 {
				return "", false, nil, fmt.Errorf("decimal precision %d does not fit int64", dec.Precision())
			}
			return fmt.Sprintf("%s = d.optDecimal(%d, %d)", target, dec.Scale(), dec.Precision()), false, nil, nil
		case inner.Type() == avro.Record:
			r := inner.(*avro.RecordSchema)
			g.need(r, &g.optional)
			return fmt.Sprintf("%s = d.opt%s()", target, goType(r)), false, []*avro.RecordSchema{r}, nil
		}
		return "", false, nil, fmt.Errorf("unsupported nullable type %s", inner.Type())
	}
	switch t.Type() {
	case avro.String:
		return target + " = s.Str()", true, nil, nil
	case avro.Int:
		switch logical(t) {
		case "":
			return target + " = int32(s.Int(32))", true, nil, nil
		case "date":
			return target + " = s.Date()", true, nil, nil
		}
	case avro.Long:
		switch logical(t) {
		case "":
			return target + " = s.Int(64)", true, nil, nil
		case "timestamp-millis", "timestamp-micros":
			return target + " = s.Time()", true, nil, nil
		}
	case avro.Record:
		r := t.(*avro.RecordSchema)
		return fmt.Sprintf("%s = %s{}\n\t\t\t%s.decodeDscoJSON(d)", target, goType(r), target), true, []*avro.RecordSchema{r}, nil
	case avro.Array:
		items := t.(*avro.ArraySchema).Items()
		switch items.Type() {
		case avro.String:
			return target + " = d.stringArray()", false, nil, nil
		case avro.Record:
			r := items.(*avro.RecordSchema)
			g.need(r, &g.arrays)
			return fmt.Sprintf("%s = d.array%s()", target, goType(r)), false, []*avro.RecordSchema{r}, nil
		}
		return "", false, nil, fmt.Errorf("unsupported array of %s", items.Type())
	}
	return "", false, nil, fmt.Errorf("unsupported type %s", t.Type())
}

// need adds r to list (the records read as arrays, or as nullable values)
// once, and gives it an arena.
func (g *generator) need(r *avro.RecordSchema, list *[]*avro.RecordSchema) {
	if slices.ContainsFunc(*list, func(x *avro.RecordSchema) bool { return x.Name() == r.Name() }) {
		return
	}
	*list = append(*list, r)
	g.arena(goType(r))
}

func (g *generator) finish() ([]byte, error) {
	var out bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	w("// Code generated by dscojsongen from the .avsc files; DO NOT EDIT.\n")
	w("package schemas\n")
	w("// dscoEventDecoders maps a Dsco object type to the decoder of its stream")
	w("// events.")
	w("var dscoEventDecoders = map[string]func(*dscoDecoder) StreamEvent{")
	for _, e := range g.events {
		w("\t%q: func(d *dscoDecoder) StreamEvent {\n\t\tr := dscoTake(&d.records.%s)\n\t\tr.decodeDscoJSON(d)\n\t\treturn r\n\t},", e.objectType, e.goType)
	}
	w("}\n")
	w("// dscoArenas holds one arena per record type the decoders take from.")
	w("type dscoArenas struct {")
	for _, a := range g.arenas {
		w("\t%s []%s", a, a)
	}
	w("}\n")
	w("func (a *dscoArenas) reset() {")
	for _, a := range g.arenas {
		w("\ta.%s = a.%s[:0]", a, a)
	}
	w("}\n")
	out.Write(g.bodies.Bytes())
	for _, r := range g.arrays {
		for _, f := range r.Fields() {
			if t, ok := f.Type().(*avro.ArraySchema); ok && t.Items().Type() == avro.Record && t.Items().(*avro.RecordSchema).Name() == r.Name() {
				return nil, fmt.Errorf("%s nests arrays of itself, which the arena cannot hold contiguously", r.Name())
			}
		}
		w("// array%s reads an array of %s records into the arena.", goType(r), goType(r))
		w("func (d *dscoDecoder) array%s() []%s {", goType(r), goType(r))
		w("\ts := &d.s\n\tif s.Null() || !s.BeginArray() {\n\t\treturn nil\n\t}")
		w("\tstart := len(d.records.%s)", goType(r))
		w("\tfor i := 0; s.NextElem(i); i++ {")
		w("\t\tdscoTake(&d.records.%s).decodeDscoJSON(d)", goType(r))
		w("\t\tif s.Failed() {\n\t\t\ts.WithinIndex(i)\n\t\t\treturn nil\n\t\t}")
		w("\t}")
		w("\ta := d.records.%s\n\treturn a[start:len(a):len(a)]\n}\n", goType(r))
	}
	for _, r := range g.optional {
		w("// opt%s reads a nullable %s record from the arena.", goType(r), goType(r))
		w("func (d *dscoDecoder) opt%s() *%s {", goType(r), goType(r))
		w("\tif d.s.Null() {\n\t\treturn nil\n\t}")
		w("\tr := dscoTake(&d.records.%s)\n\tr.decodeDscoJSON(d)\n\treturn r\n}\n", goType(r))
	}
	src, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the output: %w\n%s", err, out.Bytes())
	}
	return src, nil
}

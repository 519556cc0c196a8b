package main

import "fmt"

// emitDscoJSON writes the Dsco JSON decoders (dscojson_records.go): for
// every record a Dsco event carries, a decodeDscoJSON method that reads the
// Dsco JSON object straight into the record through the generic scanner of
// internal/dscojson, and for every stream event record the decoder of the
// whole event (envelope and object), listed in dscoEventDecoders by object
// type. Records read as array items or as nullable values are taken from
// per-type arenas (dscoArenas) that the decoder reuses page after page.
// The hand-written support they call is in dscojson.go.
//
// A member's name is the field's DscoName; a member the schema does not
// declare goes to the record's extra field (skipped where there is none);
// a member of a required (not nullable) type that is absent is an error.
func emitDscoJSON(m *model, s *source) error {
	j := &jsonEmitter{done: map[*record]bool{}, inArena: map[*record]bool{}}
	var events []*record
	for _, top := range m.Tops {
		ev := top.Event
		if ev == nil {
			continue
		}
		if ev.Stream {
			events = append(events, top)
			j.arena(top)
			if err := j.record(top); err != nil {
				return err
			}
			continue
		}
		// Only the object is read from Dsco JSON (ItemInventoryEvent).
		obj := ev.Object.Type.Record
		j.arena(obj)
		if err := j.record(obj); err != nil {
			return err
		}
	}

	s.doc("", "dscoEventDecoders maps a Dsco object type to the decoder of its stream events.")
	s.p("var dscoEventDecoders = map[string]func(*dscoDecoder) StreamEvent{\n")
	for _, e := range events {
		s.p("\t%q: func(d *dscoDecoder) StreamEvent {\n\t\tr := dscoTake(&d.records.%s)\n\t\tr.decodeDscoJSON(d)\n\t\treturn r\n\t},\n", e.Event.ObjectType, e.GoName)
	}
	s.p("}\n\n")
	s.doc("", "dscoArenas holds one arena per record type the decoders take from.")
	s.p("type dscoArenas struct {\n")
	for _, r := range j.arenas {
		s.p("\t%s []%s\n", r.GoName, r.GoName)
	}
	s.p("}\n\n")
	s.doc("", "reset empties every arena, keeping its memory for the next page.")
	s.p("func (a *dscoArenas) reset() {\n")
	for _, r := range j.arenas {
		s.p("\ta.%s = a.%s[:0]\n", r.GoName, r.GoName)
	}
	s.p("}\n\n")
	s.b.Write(j.body.b.Bytes())
	for _, r := range j.arrays {
		for _, f := range r.Fields {
			if f.Type.Kind == kindArray && f.Type.Items.Record == r {
				return fmt.Errorf("%s nests arrays of itself, which the arena cannot hold contiguously", r.FullName)
			}
		}
		t := r.GoName
		s.doc("", "array"+t+" reads an array of "+t+" records into the arena.")
		s.p("func (d *dscoDecoder) array%s() []%s {\n", t, t)
		s.p("\ts := &d.s\n\tif s.Null() || !s.BeginArray() {\n\t\treturn nil\n\t}\n")
		s.p("\tstart := len(d.records.%s)\n", t)
		s.p("\tfor i := 0; s.NextElem(i); i++ {\n")
		s.p("\t\tdscoTake(&d.records.%s).decodeDscoJSON(d)\n", t)
		s.p("\t\tif s.Failed() {\n\t\t\ts.WithinIndex(i)\n\t\t\treturn nil\n\t\t}\n")
		s.p("\t}\n")
		s.p("\ta := d.records.%s\n\treturn a[start:len(a):len(a)]\n}\n\n", t)
	}
	for _, r := range j.optional {
		t := r.GoName
		s.doc("", "opt"+t+" reads a nullable "+t+" record into the arena.")
		s.p("func (d *dscoDecoder) opt%s() *%s {\n", t, t)
		s.p("\tif d.s.Null() {\n\t\treturn nil\n\t}\n")
		s.p("\tr := dscoTake(&d.records.%s)\n\tr.decodeDscoJSON(d)\n\treturn r\n}\n\n", t)
	}
	return nil
}

// jsonEmitter collects, while it writes the decoders of the records in
// the order they are reached from the event records, the record types
// that need an arena, an array reader or a nullable reader.
type jsonEmitter struct {
	body     source           // the decodeDscoJSON methods
	done     map[*record]bool // records whose decoder is written
	arenas   []*record        // record types with an arena, in order
	inArena  map[*record]bool
	arrays   []*record // records read as array items
	optional []*record // records read as nullable values
}

func (j *jsonEmitter) arena(r *record) {
	if !j.inArena[r] {
		j.inArena[r] = true
		j.arenas = append(j.arenas, r)
	}
}

// need adds r to list (the records read as arrays, or as nullable values)
// once, and gives it an arena.
func (j *jsonEmitter) need(r *record, list *[]*record) {
	for _, x := range *list {
		if x == r {
			return
		}
	}
	*list = append(*list, r)
	j.arena(r)
}

// member is the case of one JSON member in a decoder's switch.
type member struct {
	json, code string
	required   bool
}

// record writes the decoder of r, then those of the records it nests that
// are not written yet.
func (j *jsonEmitter) record(r *record) error {
	if j.done[r] {
		return nil
	}
	j.done[r] = true
	var ev event
	if r.Event != nil && r.Event.Stream {
		ev = *r.Event
	}
	var members []member
	var nested []*record
	for _, f := range r.Fields {
		target := "r." + f.GoName
		switch f {
		case r.Extra:
			continue
		case ev.StreamID:
			continue // from the call
		case ev.Position:
			members = append(members, member{json: f.DscoName, code: target + " = s.Str()\n\t\t\td.ownPosition = true"})
			continue
		}
		code, required, sub, err := j.value(f, target)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", r.FullName, f.Name, err)
		}
		if sub != nil {
			nested = append(nested, sub)
		}
		members = append(members, member{json: f.DscoName, code: code, required: required})
	}
	var required []string
	for _, m := range members {
		if m.required {
			required = append(required, m.json)
		}
	}
	if len(required) > 64 {
		return fmt.Errorf("%s: more than 64 required fields", r.FullName)
	}

	p := j.body.p
	if ev.Stream {
		j.body.doc("", "decodeDscoJSON decodes a Dsco stream event into r: the envelope from the event, the object from its "+ev.Object.DscoName+" member.")
	} else {
		j.body.doc("", "decodeDscoJSON decodes a Dsco JSON object into r.")
	}
	p("func (r *%s) decodeDscoJSON(d *dscoDecoder) {\n", r.GoName)
	p("\ts := &d.s\n")
	p("\tif !s.BeginObject() {\n\t\treturn\n\t}\n")
	if r.Extra != nil {
		p("\tmark := s.ExtraMark()\n")
	}
	if len(required) > 0 {
		p("\tvar seen uint64\n")
	}
	p("\tfor i := 0; ; i++ {\n")
	p("\t\tkey, ok := s.NextKey(i)\n")
	p("\t\tif !ok {\n\t\t\tbreak\n\t\t}\n")
	p("\t\tswitch key {\n")
	bit := 0
	for _, m := range members {
		p("\t\tcase %q:\n", m.json)
		p("\t\t\t%s\n", m.code)
		if m.required {
			p("\t\t\tseen |= 1 << %d\n", bit)
			bit++
		}
	}
	p("\t\tdefault:\n")
	if r.Extra != nil {
		p("\t\t\ts.SkipMember()\n")
	} else {
		p("\t\t\ts.Skip()\n")
	}
	p("\t\t}\n")
	p("\t\tif s.Failed() {\n\t\t\ts.Within(key)\n\t\t\treturn\n\t\t}\n")
	p("\t}\n")
	p("\tif s.Failed() {\n\t\treturn\n\t}\n")
	if ev.StreamID != nil {
		p("\tr.%s = d.streamID\n", ev.StreamID.GoName)
	}
	if r.Extra != nil {
		p("\tr.%s = d.extra(mark)\n", r.Extra.GoName)
	}
	if len(required) > 0 {
		p("\tswitch {\n")
		for i, name := range required {
			p("\tcase seen&(1<<%d) == 0:\n\t\td.missing(%q)\n", i, name)
		}
		p("\t}\n")
	}
	p("}\n\n")
	for _, n := range nested {
		if err := j.record(n); err != nil {
			return err
		}
	}
	return nil
}

// The readers of the scalar kinds: the dscoDecoder method of a nullable
// value (nil for null), and the expression of a required one.
var (
	optReaders = map[kind]string{
		kindString: "optString", kindInt: "optInt32", kindLong: "optInt64",
		kindTimestamp: "optTime", kindDate: "optDate",
	}
	reqReaders = map[kind]string{
		kindString: "s.Str()", kindInt: "int32(s.Int(32))", kindLong: "s.Int(64)",
		kindTimestamp: "s.Time()", kindDate: "s.Date()",
	}
)

// value returns the statement that reads field f into target, whether the
// member is required, and the record it nests, if any.
func (j *jsonEmitter) value(f *field, target string) (code string, required bool, nested *record, err error) {
	t := f.Type
	switch {
	case t.Nullable && f.DscoObject:
		return target + " = d.optRawObject()", false, nil, nil
	case t.Nullable && optReaders[t.Kind] != "":
		return target + " = d." + optReaders[t.Kind] + "()", false, nil, nil
	case reqReaders[t.Kind] != "" && !t.Nullable:
		return target + " = " + reqReaders[t.Kind], true, nil, nil
	}
	switch t.Kind {
	case kindDecimal: // always nullable
		if t.Precision > 18 {
			return "", false, nil, fmt.Errorf("decimal precision %d does not fit int64", t.Precision)
		}
		return fmt.Sprintf("%s = d.optDecimal(%d, %d)", target, t.Scale, t.Precision), false, nil, nil
	case kindRecord:
		if t.Nullable {
			j.need(t.Record, &j.optional)
			return fmt.Sprintf("%s = d.opt%s()", target, t.Record.GoName), false, t.Record, nil
		}
		return fmt.Sprintf("%s = %s{}\n\t\t\t%s.decodeDscoJSON(d)", target, t.Record.GoName, target), true, t.Record, nil
	case kindArray: // of strings or of records, never nullable
		if t.Items.Kind == kindRecord {
			j.need(t.Items.Record, &j.arrays)
			return fmt.Sprintf("%s = d.array%s()", target, t.Items.Record.GoName), false, t.Items.Record, nil
		}
		return target + " = d.stringArray()", false, nil, nil
	case kindEnum:
		return "", false, nil, fmt.Errorf("no Dsco JSON decoder for the enum %s", t.Enum.FullName)
	}
	return "", false, nil, fmt.Errorf("no Dsco JSON decoder for this type")
}

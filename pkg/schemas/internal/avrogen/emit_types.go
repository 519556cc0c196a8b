package main

import (
	"strconv"
	"strings"
)

// emitTypes writes the Go type of every record and enum, the Envelope
// struct, and the descriptor-independent wiring the records need.
func emitTypes(m *model, s *source) error {
	s.p("import \"time\"\n\n")
	if m.Envelope != nil {
		var embedders []string
		for _, r := range m.Tops {
			if r.Envelope > 0 {
				embedders = append(embedders, r.GoName)
			}
		}
		s.doc("", "Envelope is the Dsco stream event envelope: the first "+strconv.Itoa(m.Envelope.Envelope)+
			" fields, in this order, of the records that embed it ("+strings.Join(embedders, ", ")+
			"). Embedded, its fields are promoted (ev.EventID) and encode and decode as if they were declared in the record itself: the schemas and the wire bytes are those of the flat records.")
		s.p("type Envelope struct {\n")
		for _, f := range m.Envelope.Fields[:m.Envelope.Envelope] {
			writeField(s, f)
		}
		s.p("}\n\n")
	}
	for _, r := range m.Records {
		where := "nested in the schemas that use it"
		if r.File != "" {
			where = "avro/" + r.File
		}
		s.doc("", r.GoName+" mirrors the Avro record "+r.FullName+" ("+where+").\n\n"+r.Doc)
		s.p("type %s struct {\n", r.GoName)
		if r.Envelope > 0 {
			s.p("\tEnvelope\n")
		}
		for _, f := range r.Own() {
			writeField(s, f)
		}
		s.p("}\n\n")
	}
	for _, e := range m.Enums {
		s.doc("", e.GoName+" mirrors the Avro enum "+e.FullName+": one of its symbols.\n\n"+e.Doc)
		s.p("type %s string\n\n", e.GoName)
		s.p("// The symbols of %s, in the order of the schema.\n", e.GoName)
		s.p("const (\n")
		for i, sym := range e.Symbols {
			s.p("\t%s %s = %q\n", e.Consts[i], e.GoName, sym)
		}
		s.p(")\n\n")
	}
	return nil
}

func writeField(s *source, f *field) {
	s.doc("\t", f.Doc)
	s.p("\t%s %s `avro:%q`\n", f.GoName, goType(f.Type), f.Name)
}

package main

import "fmt"

// emitAvroDecode writes the fast Avro decoders: a decodeAvro method per
// top-level record (the fastDecoder interface), a decode method per nested
// record, decodeEnvelope, and the symbol table of every enum. They call the
// hand-written primitives of fastdecode.go and read the fields in the
// order of the schemas.
func emitAvroDecode(m *model, s *source) error {
	s.p("// Fast decoders of values written with this build's own schemas; see\n")
	s.p("// fastdecode.go for the primitives and the rules they follow.\n\n")
	for _, e := range m.Enums {
		s.doc("", symbolsVar(e)+" are the symbols of "+e.FullName+" by index.")
		s.p("var %s = [...]%s{", symbolsVar(e), e.GoName)
		for i := range e.Symbols {
			s.p("%s, ", e.Consts[i])
		}
		s.p("}\n\n")
	}
	return avroCodec{
		param: "d *decoder", envelope: "decodeEnvelope", nested: "decode", top: "decodeAvro",
		envelopeDoc: "decodeEnvelope decodes the envelope that opens the schema of every record that embeds Envelope. (Named for what it decodes, since the records that embed Envelope get the method too.)",
		field:       decodeField,
	}.emit(m, s)
}

func symbolsVar(e *enum) string { return lowerFirst(e.GoName) + "Symbols" }

// decodeField writes the statement that decodes one field into r.
func decodeField(s *source, f *field) error {
	x := "r." + f.GoName
	t := f.Type
	prim := map[kind]string{
		kindString: "String", kindInt: "Int", kindLong: "Long",
		kindTimestamp: "Timestamp", kindDate: "Date", kindDecimal: "Decimal",
	}
	if name, ok := prim[t.Kind]; ok {
		if t.Nullable {
			s.p("\td.opt%s(&%s)\n", name, x)
		} else {
			s.p("\t%s = d.%s()\n", x, lowerFirst(name))
		}
		return nil
	}
	switch t.Kind {
	case kindRecord:
		if t.Nullable {
			s.p("\toptRecord(d, &%s, (*%s).decode)\n", x, t.Record.GoName)
		} else {
			s.p("\t%s.decode(d)\n", x)
		}
	case kindEnum:
		v := symbolsVar(t.Enum)
		s.p("\tif i := d.int(); i >= 0 && int(i) < len(%s) {\n\t\t%s = %s[i]\n\t} else {\n\t\td.fail(errEnumSymbol)\n\t}\n", v, x, v)
	case kindArray:
		switch t.Items.Kind {
		case kindRecord:
			s.p("\tarray(d, &%s, (*%s).decode)\n", x, t.Items.Record.GoName)
		case kindString:
			s.p("\tarray(d, &%s, decodeString)\n", x)
		default:
			return fmt.Errorf("field %s: no decoder for arrays of this type", f.Name)
		}
	default:
		return fmt.Errorf("field %s: no decoder for this type", f.Name)
	}
	return nil
}

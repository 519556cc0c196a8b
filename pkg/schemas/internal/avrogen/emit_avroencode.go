package main

import (
	"fmt"
	"slices"
)

// emitAvroEncode writes the Avro encoders: an encodeAvro method per
// top-level record (part of the Record interface), an encode method per
// nested record, encodeEnvelope, and the symbol index of every enum. They
// call the hand-written primitives of encode.go, which validate what they
// write (UTF-8 strings, decimals within the schema's precision, enum
// symbols) and name the field of the first invalid value.
func emitAvroEncode(m *model, s *source) error {
	scales := map[int]bool{}
	for _, r := range m.Records {
		for _, f := range r.Fields {
			if f.Type.Kind == kindDecimal {
				if f.Type.Precision > 18 {
					return fmt.Errorf("%s.%s: precision %d: Decimal holds 18 digits at most", r.FullName, f.Name, f.Type.Precision)
				}
				scales[f.Type.Scale] = true
			}
		}
	}
	if len(scales) > 1 {
		return fmt.Errorf("decimals with different scales: Decimal has one scale")
	}
	for scale := range scales {
		s.p("// Decimal holds values at scale DecimalScale: the schemas' decimals must\n")
		s.p("// have that scale (a negative array length does not compile).\n")
		s.p("var (\n\t_ [DecimalScale - %d]struct{}\n\t_ [%d - DecimalScale]struct{}\n)\n\n", scale, scale)
	}
	for _, e := range m.Enums {
		s.doc("", indexFunc(e)+" returns the index of v among the symbols of "+e.FullName+", or -1.")
		s.p("func %s(v %s) int32 {\n\tswitch v {\n", indexFunc(e), e.GoName)
		for i := range e.Symbols {
			s.p("\tcase %s:\n\t\treturn %d\n", e.Consts[i], i)
		}
		s.p("\t}\n\treturn -1\n}\n\n")
	}
	return avroCodec{
		param: "e *encoder", envelope: "encodeEnvelope", nested: "encode", top: "encodeAvro",
		envelopeDoc: "encodeEnvelope encodes the envelope that opens the schema of every record that embeds Envelope.",
		field:       encodeField,
	}.emit(m, s)
}

func indexFunc(e *enum) string { return lowerFirst(e.GoName) + "Index" }

// encodeField writes the statements that encode field f of r.
func encodeField(s *source, f *field) error {
	x := "r." + f.GoName
	t := f.Type
	opt := ""
	if t.Nullable {
		opt = "opt"
	}
	switch t.Kind {
	case kindString:
		s.p("\te.%s(%s, %q)\n", pick(opt, "optString", "string"), x, f.Name)
	case kindInt:
		s.p("\te.%s(%s)\n", pick(opt, "optInt", "int"), x)
	case kindLong:
		s.p("\te.%s(%s)\n", pick(opt, "optLong", "long"), x)
	case kindTimestamp:
		s.p("\te.%s(%s)\n", pick(opt, "optTimestamp", "timestamp"), x)
	case kindDate:
		s.p("\te.%s(%s)\n", pick(opt, "optDate", "date"), x)
	case kindDecimal:
		s.p("\te.optDecimal(%s, %q, %d)\n", x, f.Name, t.Precision)
	case kindRecord:
		if t.Nullable {
			s.p("\tencodeOptRecord(e, %q, %s, (*%s).encode)\n", f.Name, x, t.Record.GoName)
		} else {
			s.p("\te.push(%q)\n\t%s.encode(e)\n\te.pop()\n", f.Name, x)
		}
	case kindEnum:
		s.p("\tif i := %s(%s); i >= 0 {\n\t\te.int(i)\n", indexFunc(t.Enum), x)
		if f.HasDefault {
			def, ok := f.Default.(string)
			i := slices.Index(t.Enum.Symbols, def)
			if !ok || i < 0 {
				return fmt.Errorf("field %s: default %v is not a symbol of %s", f.Name, f.Default, t.Enum.FullName)
			}
			s.p("\t} else if %s == \"\" {\n\t\te.int(%d) // the field's default, %s\n", x, i, def)
		}
		s.p("\t} else {\n\t\te.invalidSymbol(%q, string(%s), %q)\n\t}\n", f.Name, x, t.Enum.FullName)
	case kindArray:
		switch t.Items.Kind {
		case kindRecord:
			s.p("\tencodeArray(e, %q, %s, (*%s).encode)\n", f.Name, x, t.Items.Record.GoName)
		case kindString:
			s.p("\tencodeArray(e, %q, %s, encodeStringItem)\n", f.Name, x)
		default:
			return fmt.Errorf("field %s: no encoder for arrays of this type", f.Name)
		}
	default:
		return fmt.Errorf("field %s: no encoder for this type", f.Name)
	}
	return nil
}

func pick(opt, ifOpt, otherwise string) string {
	if opt != "" {
		return ifOpt
	}
	return otherwise
}

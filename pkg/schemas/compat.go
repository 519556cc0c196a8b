package schemas

import (
	"fmt"
	"slices"

	"github.com/hamba/avro/v2"
)

// checkCompatible reports whether data written with writer can be read with
// reader (reader = the new schema, writer = the registered one: BACKWARD).
// It uses hamba/avro's compatibility check, then, on failure, walks both
// schemas to name the offending field, because hamba's message does not
// always name it ("reader schema string not compatible with writer schema
// int"). It also refuses a change of a decimal's scale or precision, which
// hamba does not check and which would silently change money amounts.
func checkCompatible(c *avro.SchemaCompatibility, reader, writer avro.Schema) (field, reason string, err error) {
	if err := c.Compatible(reader, writer); err != nil {
		f, r := locate(c, reader, writer, "")
		if r == "" {
			r = err.Error()
		}
		return f, r, err
	}
	if f, r := decimalChange(reader, writer, "", map[string]bool{}); r != "" {
		return f, r, fmt.Errorf("%s", r)
	}
	return "", "", nil
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func findField(fields []*avro.Field, f *avro.Field) *avro.Field {
	for _, w := range fields {
		if w.Name() == f.Name() || slices.Contains(f.Aliases(), w.Name()) {
			return w
		}
	}
	return nil
}

// locate returns the path of the deepest field where reader and writer
// disagree, and why. It is only called once hamba found them incompatible.
func locate(c *avro.SchemaCompatibility, reader, writer avro.Schema, path string) (string, string) {
	r, w := deref(reader), deref(writer)
	switch {
	case r.Type() == avro.Record && w.Type() == avro.Record:
		rr, wr := r.(*avro.RecordSchema), w.(*avro.RecordSchema)
		if rr.Name() != wr.Name() && !slices.Contains(rr.Aliases(), wr.FullName()) {
			return path, fmt.Sprintf("record %s replaced by %s", wr.FullName(), rr.FullName())
		}
		for _, f := range rr.Fields() {
			p := join(path, f.Name())
			wf := findField(wr.Fields(), f)
			if wf == nil {
				if f.HasDefault() {
					continue
				}
				return p, "new field without a default: data written with the registered schema has no value for it"
			}
			if c.Compatible(f.Type(), wf.Type()) != nil {
				return locate(c, f.Type(), wf.Type(), p)
			}
		}
	case r.Type() == avro.Array && w.Type() == avro.Array:
		return locate(c, r.(*avro.ArraySchema).Items(), w.(*avro.ArraySchema).Items(), path+"[]")
	case r.Type() == avro.Map && w.Type() == avro.Map:
		return locate(c, r.(*avro.MapSchema).Values(), w.(*avro.MapSchema).Values(), path+"{}")
	case w.Type() == avro.Union:
		// Every writer branch must be readable: find the first that is not
		// and, if the reader has a branch of the same kind, look inside.
		for _, wb := range w.(*avro.UnionSchema).Types() {
			if c.Compatible(r, wb) == nil {
				continue
			}
			for _, rb := range readerBranches(r) {
				if sameKind(rb, wb) {
					return locate(c, rb, wb, path)
				}
			}
			return path, fmt.Sprintf("type %s can no longer be read as %s", describeType(wb), describeType(r))
		}
	case r.Type() == avro.Union:
		for _, rb := range r.(*avro.UnionSchema).Types() {
			if sameKind(rb, w) {
				return locate(c, rb, w, path)
			}
		}
	case r.Type() == avro.Enum && w.Type() == avro.Enum:
		re := r.(*avro.EnumSchema)
		for _, s := range w.(*avro.EnumSchema).Symbols() {
			if !slices.Contains(re.Symbols(), s) {
				return path, fmt.Sprintf("enum %s lost symbol %s", re.FullName(), s)
			}
		}
	}
	if err := c.Compatible(r, w); err != nil {
		return path, fmt.Sprintf("type changed from %s to %s (%v)", describeType(w), describeType(r), err)
	}
	return path, ""
}

func readerBranches(s avro.Schema) []avro.Schema {
	if u, ok := s.(*avro.UnionSchema); ok {
		return u.Types()
	}
	return []avro.Schema{s}
}

func sameKind(a, b avro.Schema) bool {
	a, b = deref(a), deref(b)
	if a.Type() != b.Type() {
		return false
	}
	an, aok := a.(avro.NamedSchema)
	bn, bok := b.(avro.NamedSchema)
	if aok && bok {
		return an.Name() == bn.Name()
	}
	return true
}

func describeType(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return string(s.Type()) + " " + n.FullName()
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		out := "union["
		for i, t := range u.Types() {
			if i > 0 {
				out += ","
			}
			out += describeType(t)
		}
		return out + "]"
	}
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		return string(s.Type()) + "(" + string(l.Logical().Type()) + ")"
	}
	return string(s.Type())
}

// decimalChange finds a field whose decimal precision or scale differs
// between reader and writer: Avro resolution would read the writer's
// unscaled integer with the reader's scale and change every amount.
func decimalChange(reader, writer avro.Schema, path string, seen map[string]bool) (string, string) {
	r, w := deref(reader), deref(writer)
	switch {
	case r.Type() == avro.Record && w.Type() == avro.Record:
		rr, wr := r.(*avro.RecordSchema), w.(*avro.RecordSchema)
		if seen[rr.FullName()+path] {
			return "", ""
		}
		seen[rr.FullName()+path] = true
		for _, f := range rr.Fields() {
			if wf := findField(wr.Fields(), f); wf != nil {
				if p, reason := decimalChange(f.Type(), wf.Type(), join(path, f.Name()), seen); reason != "" {
					return p, reason
				}
			}
		}
	case r.Type() == avro.Array && w.Type() == avro.Array:
		return decimalChange(r.(*avro.ArraySchema).Items(), w.(*avro.ArraySchema).Items(), path+"[]", seen)
	case r.Type() == avro.Map && w.Type() == avro.Map:
		return decimalChange(r.(*avro.MapSchema).Values(), w.(*avro.MapSchema).Values(), path+"{}", seen)
	case r.Type() == avro.Union || w.Type() == avro.Union:
		for _, rb := range readerBranches(r) {
			for _, wb := range readerBranches(w) {
				if sameKind(rb, wb) {
					if p, reason := decimalChange(rb, wb, path, seen); reason != "" {
						return p, reason
					}
				}
			}
		}
	default:
		rd, rok := decimalOf(r)
		wd, wok := decimalOf(w)
		if rok && wok && (rd.Scale() != wd.Scale() || rd.Precision() < wd.Precision()) {
			return path, fmt.Sprintf("decimal changed from (%d,%d) to (%d,%d): amounts written with the registered schema would be misread",
				wd.Precision(), wd.Scale(), rd.Precision(), rd.Scale())
		}
	}
	return "", ""
}

func decimalOf(s avro.Schema) (*avro.DecimalLogicalSchema, bool) {
	l, ok := s.(avro.LogicalTypeSchema)
	if !ok || l.Logical() == nil {
		return nil, false
	}
	d, ok := l.Logical().(*avro.DecimalLogicalSchema)
	return d, ok
}

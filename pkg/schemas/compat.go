package schemas

import (
	"errors"

	"github.com/hamba/avro/v2"
)

// checkCompatible reports whether data written with writer can be read with
// reader (reader = the new schema, writer = the registered one: BACKWARD).
// It compiles the resolution plan that decoding uses (resolve.go), so that
// the registry-time check and decoding agree on every schema: a schema the
// check accepts is one whose values decode, and the field and reason of a
// refusal are those decoding gives. It is stricter than hamba/avro's check
// where hamba would misread: a decimal is only read from a decimal (of any
// scale and precision: each value is rescaled exactly or refused), and a
// timestamp or date only from the same logical type.
func checkCompatible(reader, writer avro.Schema) (field, reason string, err error) {
	if _, err := compilePlan(reader, writer); err != nil {
		field, reason := incompatibility(err)
		return field, reason, err
	}
	return "", "", nil
}

// incompatibility returns the field and the reason of compilePlan's error.
func incompatibility(err error) (field, reason string) {
	var ce *compileError
	if errors.As(err, &ce) {
		return ce.path, ce.reason
	}
	return "", err.Error()
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

func decimalOf(s avro.Schema) (*avro.DecimalLogicalSchema, bool) {
	l, ok := s.(avro.LogicalTypeSchema)
	if !ok || l.Logical() == nil {
		return nil, false
	}
	d, ok := l.Logical().(*avro.DecimalLogicalSchema)
	return d, ok
}

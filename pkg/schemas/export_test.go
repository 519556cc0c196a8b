package schemas

import (
	"context"
	"errors"
)

// DecodeReflect is Decode through hamba/avro's reflective decoder only, for
// tests that compare it with the generated decoders.
func (s *Serde) DecodeReflect(ctx context.Context, data []byte, r Record) error {
	return s.decode(ctx, data, r, false)
}

// StricterThanReflect reports whether err is a refusal of the generated
// decoders that hamba/avro's reflective decoder does not make: invalid
// UTF-8, an int or long with bits beyond its width, an array block whose
// byte size does not match its items.
func StricterThanReflect(err error) bool {
	for _, e := range []error{errInvalidUTF8, errIntOverflow, errLongOverflow, errBlockSize} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

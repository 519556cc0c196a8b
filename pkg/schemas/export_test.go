package schemas

import "context"

// DecodeReflect is Decode through hamba/avro's reflective decoder only, for
// tests that compare it with the generated decoders.
func (s *Serde) DecodeReflect(ctx context.Context, data []byte, r Record) error {
	return s.decode(ctx, data, r, false)
}

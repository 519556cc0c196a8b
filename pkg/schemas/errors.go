package schemas

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding errors that no retry can fix (ErrBadMagic,
// ErrTruncated, ErrUnknownSchema, ErrWrongRecord, ErrMalformed,
// ErrIncompatible) are all reported as permanent by IsPermanent, so that a
// consumer sends such a record to the poison queue instead of retrying it.
var (
	// ErrBadMagic: the value does not start with the framing's magic bytes
	// (0 for the Confluent wire format, C3 01 for single-object encoding).
	ErrBadMagic = errors.New("schemas: not an Avro record in the expected wire format (bad magic byte)")
	// ErrTruncated: the value ends before its header or its Avro body does.
	ErrTruncated = errors.New("schemas: truncated record")
	// ErrUnknownSchema: the registry (or, without one, this build) does not
	// know the schema id or fingerprint the value names.
	ErrUnknownSchema = errors.New("schemas: unknown schema")
	// ErrWrongRecord: the value is a different record than the one asked
	// for.
	ErrWrongRecord = errors.New("schemas: wrong record type")
	// ErrMalformed: the Avro body does not decode with its writer schema.
	ErrMalformed = errors.New("schemas: malformed Avro body")
	// ErrIncompatible: a schema is not compatible with the version the
	// registry holds.
	ErrIncompatible = errors.New("schemas: incompatible schema")
	// ErrNotRegistered: with Config.LookupOnly, a schema is not registered
	// under its subject.
	ErrNotRegistered = errors.New("schemas: schema not registered")
	// ErrNotPrepared: Encode was called for a record whose schema id is not
	// known yet; call Serde.Register first.
	ErrNotPrepared = errors.New("schemas: schema not registered yet; call Register first")
	// ErrUnknownRecord: the Serde was configured without this record (see
	// Config.Records).
	ErrUnknownRecord = errors.New("schemas: record not configured in this serde")
	// ErrInvalidDecimal: a money amount does not fit decimal(18,4).
	ErrInvalidDecimal = errors.New("schemas: invalid decimal")
)

// IsPermanent reports whether err is a decoding or compatibility failure,
// or a value the encoder refused (ErrInvalidValue), that repeating the same
// call cannot fix.
func IsPermanent(err error) bool {
	for _, target := range []error{ErrBadMagic, ErrTruncated, ErrUnknownSchema, ErrWrongRecord, ErrMalformed, ErrIncompatible, ErrInvalidDecimal, ErrInvalidValue} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// WrongRecordError is returned when decoding a value written with one
// record's schema into another record's Go type, for example a ship command
// decoded as a cancel command. It matches ErrWrongRecord.
type WrongRecordError struct {
	Want string // full name of the record asked for
	Got  string // full name of the writer schema's record
}

func (e *WrongRecordError) Error() string {
	return fmt.Sprintf("schemas: wrong record type: want %s, the value is a %s", e.Want, e.Got)
}

// Is reports whether target is ErrWrongRecord.
func (e *WrongRecordError) Is(target error) bool { return target == ErrWrongRecord }

// UnknownSchemaError is returned when a value names a schema id the
// registry does not have (or, in single-object mode, a fingerprint of no
// schema in this build). It matches ErrUnknownSchema.
type UnknownSchemaError struct {
	ID          int    // Confluent schema id, when framed that way
	Fingerprint uint64 // CRC-64-AVRO fingerprint, when single-object encoded
	Err         error  // the registry's answer, if any
}

func (e *UnknownSchemaError) Error() string {
	if e.Fingerprint != 0 {
		return fmt.Sprintf("schemas: unknown schema fingerprint %016x", e.Fingerprint)
	}
	if e.Err != nil {
		return fmt.Sprintf("schemas: unknown schema id %d: %v", e.ID, e.Err)
	}
	return fmt.Sprintf("schemas: unknown schema id %d", e.ID)
}

// Is reports whether target is ErrUnknownSchema.
func (e *UnknownSchemaError) Is(target error) bool { return target == ErrUnknownSchema }

// Unwrap returns the registry's error.
func (e *UnknownSchemaError) Unwrap() error { return e.Err }

// MalformedError is returned when an Avro body does not decode with its
// writer schema: a length or block count out of range (negative, past the
// end of the body, over Config.MaxBytes or Config.MaxItems), a union or enum
// index out of range, a string that is not UTF-8, bytes left over after the
// record. It is the same error whichever schema wrote the value. It matches
// ErrMalformed, or ErrTruncated when the body ends early.
type MalformedError struct {
	Record    string // full name of the record being decoded
	Truncated bool
	Err       error // what is wrong with the bytes
}

func (e *MalformedError) Error() string {
	if e.Truncated {
		return fmt.Sprintf("schemas: truncated %s: %v", e.Record, e.Err)
	}
	return fmt.Sprintf("schemas: malformed %s: %v", e.Record, e.Err)
}

// Is reports whether target is ErrMalformed, or ErrTruncated for a
// truncated body.
func (e *MalformedError) Is(target error) bool {
	return target == ErrMalformed || (e.Truncated && target == ErrTruncated)
}

// Unwrap returns what is wrong with the bytes.
func (e *MalformedError) Unwrap() error { return e.Err }

// IncompatibleError is returned when a schema cannot be registered because
// it is not compatible with the latest version of its subject. It matches
// ErrIncompatible.
type IncompatibleError struct {
	Subject string // the subject checked (empty when decoding)
	Version int    // the registered version checked against; 0 if unknown
	// SchemaID and Record are set when decoding met a writer schema that
	// cannot be read as the record's current schema.
	SchemaID int
	Record   string
	Field    string // path of the offending field, for example order.items[].cost
	Reason   string
	Err      error // the resolution's error or the registry's 409
}

func (e *IncompatibleError) Error() string {
	msg := fmt.Sprintf("schemas: schema for subject %q is incompatible with the registered version", e.Subject)
	if e.Subject == "" {
		msg = fmt.Sprintf("schemas: writer schema id %d cannot be read as %s", e.SchemaID, e.Record)
	}
	if e.Version > 0 {
		msg = fmt.Sprintf("%s %d", msg, e.Version)
	}
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is reports whether target is ErrIncompatible.
func (e *IncompatibleError) Is(target error) bool { return target == ErrIncompatible }

// NotRegisteredError is returned, with Config.LookupOnly, for a subject that
// holds no version equal to the schema. It matches ErrNotRegistered.
type NotRegisteredError struct {
	Subject string
	File    string // the schema's file in the contract, for example order_event.avsc
}

func (e *NotRegisteredError) Error() string {
	return fmt.Sprintf("schemas: subject %q has no version equal to %s (looked up only, not registered)", e.Subject, e.File)
}

// Is reports whether target is ErrNotRegistered.
func (e *NotRegisteredError) Is(target error) bool { return target == ErrNotRegistered }

// Unwrap returns the underlying compatibility or registry error.
func (e *IncompatibleError) Unwrap() error { return e.Err }

// DecimalError is returned by ParseDecimal and DecimalFromRat for an amount
// that does not fit decimal(18,4), and by decoding for a value written under
// a foreign writer schema whose decimal cannot be held exactly by the
// record's field: more fraction digits than its scale (12.345678 cannot be
// read as a decimal(18,4); 12.990000 can, and reads as 12.99) or more
// digits than its precision. Decoding never rounds. It matches
// ErrInvalidDecimal.
type DecimalError struct {
	Text   string // the amount as written, with the writer's scale
	Reason string
	// Record and Field are set when decoding: the record's full name and
	// the path of the field, for example order.items[].cost.
	Record string
	Field  string
}

func (e *DecimalError) Error() string {
	where := ""
	if e.Field != "" {
		where = " in field " + e.Field
		if e.Record != "" {
			where += " of " + e.Record
		}
	}
	return fmt.Sprintf("schemas: invalid decimal %q%s: %s (money is decimal(%d,%d))", e.Text, where, e.Reason, DecimalPrecision, DecimalScale)
}

// Is reports whether target is ErrInvalidDecimal.
func (e *DecimalError) Is(target error) bool { return target == ErrInvalidDecimal }

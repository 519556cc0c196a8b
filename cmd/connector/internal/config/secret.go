package config

import (
	"context"
	"fmt"
	"log/slog"
)

// redacted replaces a secret's value wherever it would be shown.
const redacted = "<redacted>"

// Secret holds a value that must never appear in logs, errors or output: its
// String, GoString, Format, MarshalJSON, MarshalText and LogValue methods all
// give "<redacted>" (or "" when it is empty, so that an unset secret is
// recognisable). Only Value returns the secret itself; call it where the
// value is handed to the library that needs it, and nowhere else.
type Secret struct {
	value string
}

// NewSecret returns a Secret holding v.
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret itself.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.value != "" }

// String returns "<redacted>", or "" for an empty secret.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString is String, so that %#v does not print the value either.
func (s Secret) GoString() string { return s.String() }

// Format writes String for every verb (%v, %s, %q, %x, %d ...), so that no
// formatting directive reaches the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON writes String as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", s.String()), nil }

// MarshalText writes String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue makes slog log String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// EnvDecode stores val; any text is a valid secret.
func (s *Secret) EnvDecode(_ context.Context, val string) error {
	s.value = val
	return nil
}

var (
	_ fmt.Formatter  = Secret{}
	_ fmt.Stringer   = Secret{}
	_ slog.LogValuer = Secret{}
)

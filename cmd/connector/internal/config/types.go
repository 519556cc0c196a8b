package config

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// wantError is what the EnvDecode methods of this package return: the text
// says what the variable expects, and Load adds the variable's name and the
// value it got, then why, when it is set (the part of a list at fault).
type wantError struct{ want, why string }

func (e *wantError) Error() string { return "want " + e.want }

// Role is the Dsco account the connector acts for: it decides which command
// topics are consumed.
type Role string

// The roles.
const (
	RoleSupplier Role = "supplier"
	RoleRetailer Role = "retailer"
)

// EnvDecode accepts "supplier" or "retailer" (any case).
func (r *Role) EnvDecode(_ context.Context, val string) error {
	switch v := Role(strings.ToLower(strings.TrimSpace(val))); v {
	case RoleSupplier, RoleRetailer:
		*r = v
		return nil
	}
	return &wantError{want: "supplier or retailer"}
}

// AllStreams are the Dsco object types whose streams the connector reads, in
// the order DSCO_STREAMS lists them by default.
var AllStreams = []dsco.ObjectType{
	dsco.ObjectOrder, dsco.ObjectOrderItemChange, dsco.ObjectReturn,
	dsco.ObjectInvoice, dsco.ObjectInventory, dsco.ObjectCatalog,
}

// Streams is a set of Dsco object types, in the order given.
type Streams []dsco.ObjectType

// EnvDecode accepts a comma-separated list of object types (any case,
// without duplicates).
func (s *Streams) EnvDecode(_ context.Context, val string) error {
	want := "a comma-separated list of " + joinTypes(AllStreams) + ", each at most once"
	var out Streams
	for part := range strings.SplitSeq(val, ",") {
		t := dsco.ObjectType(strings.ToLower(strings.TrimSpace(part)))
		switch {
		case t == "":
			return &wantError{want: want, why: "an empty entry (a comma too many)"}
		case !slices.Contains(AllStreams, t):
			return &wantError{want: want, why: quote(strings.TrimSpace(part)) + " is not one of them"}
		case slices.Contains(out, t):
			return &wantError{want: want, why: quote(string(t)) + " is there twice"}
		}
		out = append(out, t)
	}
	*s = out
	return nil
}

func joinTypes(ts []dsco.ObjectType) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = string(t)
	}
	return strings.Join(parts, ", ")
}

// Direction is one of the connector's two flows.
type Direction string

// The directions.
const (
	Inbound  Direction = "inbound"  // Dsco streams → Kafka
	Outbound Direction = "outbound" // Kafka command topics → Dsco
)

// Directions is the set of flows to run.
type Directions []Direction

// EnvDecode accepts "inbound", "outbound" or both, comma-separated.
func (d *Directions) EnvDecode(_ context.Context, val string) error {
	var out Directions
	for part := range strings.SplitSeq(val, ",") {
		v := Direction(strings.ToLower(strings.TrimSpace(part)))
		if (v != Inbound && v != Outbound) || slices.Contains(out, v) {
			return &wantError{want: "inbound, outbound or inbound,outbound"}
		}
		out = append(out, v)
	}
	*d = out
	return nil
}

// Has reports whether d includes dir.
func (d Directions) Has(dir Direction) bool { return slices.Contains(d, dir) }

// SASLMechanism is a Kafka SASL mechanism; empty means no SASL.
type SASLMechanism kafka.SASLMechanism

// EnvDecode accepts PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (any case) or the
// empty string.
func (m *SASLMechanism) EnvDecode(_ context.Context, val string) error {
	switch v := kafka.SASLMechanism(strings.ToUpper(strings.TrimSpace(val))); v {
	case kafka.SASLNone, kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512:
		*m = SASLMechanism(v)
		return nil
	}
	return &wantError{want: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty for no SASL"}
}

// SubjectStrategy is a Schema Registry subject strategy.
type SubjectStrategy struct{ schemas.SubjectStrategy }

// EnvDecode accepts topic, record or topic-record.
func (s *SubjectStrategy) EnvDecode(_ context.Context, val string) error {
	v, err := schemas.ParseSubjectStrategy(strings.TrimSpace(val))
	if err != nil {
		return &wantError{want: "topic, record or topic-record"}
	}
	s.SubjectStrategy = v
	return nil
}

// LogLevel is the minimum level of the messages logged.
type LogLevel struct{ slog.Level }

// EnvDecode accepts debug, info, warn or error (any case).
func (l *LogLevel) EnvDecode(_ context.Context, val string) error {
	switch strings.ToLower(strings.TrimSpace(val)) {
	case "debug":
		l.Level = slog.LevelDebug
	case "info":
		l.Level = slog.LevelInfo
	case "warn":
		l.Level = slog.LevelWarn
	case "error":
		l.Level = slog.LevelError
	default:
		return &wantError{want: "debug, info, warn or error"}
	}
	return nil
}

// LogFormat is how log records are written.
type LogFormat string

// The log formats.
const (
	LogJSON LogFormat = "json" // slog.JSONHandler: one JSON object per line
	LogText LogFormat = "text" // slog.TextHandler: key=value pairs
)

// EnvDecode accepts json or text (any case).
func (f *LogFormat) EnvDecode(_ context.Context, val string) error {
	switch v := LogFormat(strings.ToLower(strings.TrimSpace(val))); v {
	case LogJSON, LogText:
		*f = v
		return nil
	}
	return &wantError{want: "json or text"}
}

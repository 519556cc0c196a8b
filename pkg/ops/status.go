package ops

import "time"

// Status is a snapshot of what the connector is doing, as /status.json
// serves it and the status page shows it. The pipelines fill it (see
// StatusFunc); the server adds Time and Checks.
type Status struct {
	// Time is when the snapshot was taken, by the server's clock: the page
	// computes ages against it, not against the browser's clock.
	Time time.Time `json:"time"`
	// Started is when the process started.
	Started time.Time `json:"started"`
	// Version is the connector's version (module version or VCS revision).
	Version string `json:"version,omitempty"`
	// Role is the Dsco role, supplier or retailer.
	Role string `json:"role,omitempty"`
	// Totals are the process's counters since start.
	Totals Totals `json:"totals"`
	// Streams has one entry per Dsco stream partition read (inbound).
	Streams []StreamPartition `json:"streams"`
	// Commands has one entry per command topic consumed (outbound).
	Commands []CommandTopic `json:"commands"`
	// Checks are the latest readiness results, filled by the server.
	Checks []CheckResult `json:"checks"`
}

// Totals are counters since the process started.
type Totals struct {
	// EventsIn counts Dsco events published to Kafka.
	EventsIn int64 `json:"eventsIn"`
	// CommandsOut counts commands sent to Dsco (in batch calls).
	CommandsOut int64 `json:"commandsOut"`
	// Accepted, Rejected and Failed count command results by outcome.
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Failed   int64 `json:"failed"`
	// Poisoned counts records sent to the poison topic.
	Poisoned int64 `json:"poisoned"`
}

// StreamPartition is the inbound state of one partition of a Dsco stream.
type StreamPartition struct {
	// ObjectType is the Dsco object type of the stream (order, catalog, ...).
	ObjectType string `json:"objectType"`
	// StreamID is the Dsco stream id.
	StreamID string `json:"streamId"`
	// Partition is the stream partition.
	Partition int `json:"partition"`
	// Topic is the Kafka topic the events go to.
	Topic string `json:"topic"`
	// Position is the last position checkpointed at Dsco (opaque).
	Position string `json:"position"`
	// LastEventTime is the Dsco timestamp of the newest event of this
	// partition that Kafka acknowledged since the process started; zero
	// before the first. The page shows Status.Time minus it as the
	// partition's age.
	LastEventTime time.Time `json:"lastEventTime,omitzero"`
	// Lag is the number of events readable at Dsco but not yet published,
	// or nil when not known.
	Lag *int64 `json:"lag"`
	// LagUnknown says why Lag is nil, for the page to show (for example
	// "Dsco streams do not report lag"); empty when Lag is known or no
	// reason is given.
	LagUnknown string `json:"lagUnknown,omitempty"`
	// Events counts the events of this partition published to Kafka and
	// covered by a position checkpointed at Dsco since start: it trails the
	// events published by at most the checkpoint window.
	Events int64 `json:"events"`
}

// CommandTopic is the outbound state of one command topic.
type CommandTopic struct {
	// Command is the command's name (ship, cancel, ...).
	Command string `json:"command"`
	// Topic is the Kafka topic consumed.
	Topic string `json:"topic"`
	// Lag is the consumer group's lag, summed over the topic's partitions:
	// records written but not yet committed.
	Lag int64 `json:"lag"`
	// Accepted, Rejected and Failed count this topic's command results by
	// outcome since start.
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Failed   int64 `json:"failed"`
	// Poisoned counts this topic's records sent to the poison topic.
	Poisoned int64 `json:"poisoned"`
}

// StatusFunc returns the current Status. The server calls it for every
// /status.json request, possibly from several goroutines at once, so it must
// be safe for concurrent use and quick (read counters, do no I/O).
type StatusFunc func() Status

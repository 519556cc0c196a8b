package inbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/dscokafka/connector/pkg/dsco"
)

// Start says where a stream the connector creates begins.
type Start int

const (
	// StartEarliest reads every event Dsco still retains (a new Dsco stream
	// starts with them).
	StartEarliest Start = iota
	// StartLatest skips the events retained when the stream is created: the
	// creating process reads to the end of each partition without publishing
	// and commits that position. It applies only to a stream this process
	// created; an existing stream always resumes from its committed position.
	StartLatest
)

// ParseStart parses "earliest" or "latest".
func ParseStart(s string) (Start, error) {
	switch s {
	case "", "earliest":
		return StartEarliest, nil
	case "latest":
		return StartLatest, nil
	}
	return 0, fmt.Errorf("inbound: unknown start %q (want earliest or latest)", s)
}

// StreamConfig selects the Dsco stream of one object type.
type StreamConfig struct {
	// ObjectType is the Dsco object type: order, return, inventory, catalog,
	// invoice or orderitemchange.
	ObjectType string
	// QueryParams filters the stream's events (Dsco's queryParams): values
	// must encode as JSON. A stream matches only with equal query params.
	QueryParams map[string]any
	// PartitionCount is the number of partitions of a stream the connector
	// creates (default 1, at most 64). An existing stream keeps its own.
	PartitionCount int
	// Start applies to a stream this process creates.
	Start Start
}

func (c *StreamConfig) setDefaults() {
	if c.PartitionCount == 0 {
		c.PartitionCount = 1
	}
}

// Validate reports whether the stream configuration is usable.
func (c StreamConfig) Validate() error {
	switch dsco.ObjectType(c.ObjectType) {
	case dsco.ObjectOrder, dsco.ObjectReturn, dsco.ObjectInventory, dsco.ObjectCatalog, dsco.ObjectInvoice, dsco.ObjectOrderItemChange:
	default:
		return fmt.Errorf("unknown object type %q (want order, return, inventory, catalog, invoice or orderitemchange)", c.ObjectType)
	}
	if c.PartitionCount < 1 || c.PartitionCount > 64 {
		return fmt.Errorf("%s: PartitionCount %d is not within 1..64", c.ObjectType, c.PartitionCount)
	}
	if c.Start != StartEarliest && c.Start != StartLatest {
		return fmt.Errorf("%s: unknown Start %d", c.ObjectType, c.Start)
	}
	if _, err := json.Marshal(c.QueryParams); err != nil {
		return fmt.Errorf("%s: QueryParams do not encode as JSON: %w", c.ObjectType, err)
	}
	return nil
}

// StreamInfo is a Dsco stream the pipeline reads.
type StreamInfo struct {
	ID         string
	ObjectType string
	Partitions int
	// Created is true when this call created the stream it settled on.
	Created bool
}

// EnsureStream returns the stream for cfg: the oldest stream of the account
// with cfg's object type and query params (ties broken by the smaller id),
// or a new one. Two processes that start at once may both create one; each
// then lists the streams again and both settle on the same (oldest) one, so
// the result is the same in every process. The stream that lost stays
// unused (the API cannot delete streams).
//
// A createStream whose outcome is unknown (the connection failed after the
// request was sent) is resolved by listing again before creating anew.
func EnsureStream(ctx context.Context, client *dsco.Client, cfg StreamConfig) (StreamInfo, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return StreamInfo{}, fmt.Errorf("inbound: stream config: %w", err)
	}
	want, err := normalizeQuery(cfg.QueryParams)
	if err != nil {
		return StreamInfo{}, err
	}
	if s, ok, err := findStream(ctx, client, cfg.ObjectType, want); err != nil || ok {
		return s, err
	}
	def := dsco.StreamDefinition{ObjectType: dsco.ObjectType(cfg.ObjectType), PartitionCount: cfg.PartitionCount}
	if len(cfg.QueryParams) > 0 {
		def.QueryParams = make(map[string]json.RawMessage, len(cfg.QueryParams))
		for k, v := range cfg.QueryParams {
			raw, _ := json.Marshal(v) // validated
			def.QueryParams[k] = raw
		}
	}
	var created *dsco.Stream
	for attempt := 0; created == nil; attempt++ {
		s, err := client.CreateStream(ctx, def)
		switch {
		case err == nil:
			created = s
		case errors.Is(err, dsco.ErrOutcomeUnknown) && attempt < 5:
			// Created or not: the list says.
			if s, ok, lerr := findStream(ctx, client, cfg.ObjectType, want); lerr != nil || ok {
				return s, lerr
			}
			if err := sleepCtx(ctx, time.Duration(attempt+1)*200*time.Millisecond); err != nil {
				return StreamInfo{}, err
			}
		default:
			return StreamInfo{}, fmt.Errorf("inbound: creating the %s stream: %w", cfg.ObjectType, err)
		}
	}
	// Settle: another process may have created one at the same time.
	s, ok, err := findStream(ctx, client, cfg.ObjectType, want)
	if err != nil {
		return StreamInfo{}, err
	}
	if !ok || s.ID == created.StreamID {
		return StreamInfo{ID: created.StreamID, ObjectType: cfg.ObjectType, Partitions: max(created.PartitionCount, len(created.Partitions), 1), Created: true}, nil
	}
	return s, nil
}

// findStream returns the oldest stream matching objectType and query.
func findStream(ctx context.Context, client *dsco.Client, objectType string, query any) (StreamInfo, bool, error) {
	list, err := client.ListStreams(ctx)
	if err != nil {
		return StreamInfo{}, false, fmt.Errorf("inbound: listing streams: %w", err)
	}
	var match []dsco.Stream
	for _, s := range list.Streams {
		if string(s.ObjectType) != objectType {
			continue
		}
		var q any = map[string]any{}
		if raw, ok := s.Extra["queryParams"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			if err := json.Unmarshal(raw, &q); err != nil {
				continue // not a query this connector could have made
			}
		}
		if reflect.DeepEqual(q, query) {
			match = append(match, s)
		}
	}
	if len(match) == 0 {
		return StreamInfo{}, false, nil
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].CreatedAt.Equal(match[j].CreatedAt) {
			return match[i].CreatedAt.Before(match[j].CreatedAt)
		}
		return match[i].StreamID < match[j].StreamID
	})
	s := match[0]
	return StreamInfo{ID: s.StreamID, ObjectType: objectType, Partitions: max(s.PartitionCount, len(s.Partitions), 1)}, true, nil
}

// normalizeQuery returns query as encoding/json decodes it (numbers as
// float64, nil as an empty object), for comparison with what Dsco lists.
func normalizeQuery(query map[string]any) (any, error) {
	if len(query) == 0 {
		return map[string]any{}, nil
	}
	raw, err := json.Marshal(query)
	if err != nil {
		return nil, fmt.Errorf("inbound: query params: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("inbound: query params: %w", err)
	}
	return out, nil
}

// skipToEnd reads partition part of stream s to its end without publishing
// and commits the last position (StartLatest).
func skipToEnd(ctx context.Context, client *dsco.Client, s StreamInfo, part int) error {
	var buf []byte
	pos := ""
	for {
		var err error
		buf, err = client.GetStreamEventsRaw(ctx, s.ID, dsco.ReadEventsParams{Position: pos, Limit: 1000, Partition: part}, buf)
		if err != nil {
			return fmt.Errorf("inbound: skipping to the end of %s partition %d: %w", s.ID, part, err)
		}
		var page struct {
			Position string `json:"position"`
			HasMore  bool   `json:"hasMore"`
		}
		if err := json.Unmarshal(buf, &page); err != nil {
			return fmt.Errorf("inbound: skipping to the end of %s partition %d: %w", s.ID, part, err)
		}
		if page.Position == "" || page.Position == pos && page.HasMore {
			return fmt.Errorf("inbound: skipping to the end of %s partition %d: the page names no new position", s.ID, part)
		}
		pos = page.Position
		if !page.HasMore {
			break
		}
	}
	if err := client.UpdateStreamPosition(ctx, s.ID, pos); err != nil {
		return fmt.Errorf("inbound: committing the end of %s partition %d: %w", s.ID, part, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

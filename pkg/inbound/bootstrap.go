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

// Start says where the connector's stream of an object type begins.
type Start int

const (
	// StartEarliest reads every event Dsco still retains (a new Dsco stream
	// starts with them).
	StartEarliest Start = iota
	// StartLatest skips the events retained when the stream was created:
	// those older than the stream's createdAt. Before it reads a partition,
	// Bootstrap reads it from its committed position past such events
	// without publishing them and commits the position after the last one.
	// It decides by the events' timestamps, not by which process created
	// the stream, so the events are skipped also when the creating process
	// lost createStream's answer, stopped before it committed, or lost the
	// race to another process; a partition whose next event is not older
	// than the stream (it was committed past them) resumes from its
	// committed position. An event without a readable timestamp, or of the
	// millisecond the stream was created in, is not skipped, nor is any
	// event after it.
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
	// Start says whether the events retained when the stream was created
	// are published (StartEarliest) or skipped (StartLatest), whichever
	// process created it. Events after the stream's creation are always
	// published.
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
	// CreatedAt is when Dsco created the stream (its createdAt): StartLatest
	// skips the events older than it.
	CreatedAt time.Time
	// Created is true when this call created the stream it settled on. It
	// is for information only: it is false when the outcome of the call
	// that created the stream was unknown, or when another process created
	// one at the same time.
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
		return StreamInfo{ID: created.StreamID, ObjectType: cfg.ObjectType, Partitions: max(created.PartitionCount, len(created.Partitions), 1),
			CreatedAt: created.CreatedAt, Created: true}, nil
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
	return StreamInfo{ID: s.StreamID, ObjectType: objectType, Partitions: max(s.PartitionCount, len(s.Partitions), 1), CreatedAt: s.CreatedAt}, true, nil
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

// skipRetained reads partition part of stream s from its committed
// position past the events older than the stream, without publishing them,
// and commits the position after the last one (StartLatest). The first
// read asks for one event, so that a partition with nothing to skip (the
// usual case on a restart) costs one small read and no commit. Every later
// read starts at an explicit position, so that a page holding both older
// and newer events can be read again with a limit that stops at the last
// older one: the answer's position is then the one to commit.
func skipRetained(ctx context.Context, client *dsco.Client, s StreamInfo, part int) error {
	fail := func(err error) error {
		return fmt.Errorf("inbound: skipping the retained events of %s partition %d: %w", s.ID, part, err)
	}
	var buf []byte
	pos, limit := "", 1 // "": the committed position
	for {
		var err error
		buf, err = client.GetStreamEventsRaw(ctx, s.ID, dsco.ReadEventsParams{Position: pos, Limit: limit, Partition: part}, buf)
		if tooLarge(err) && limit > 1 {
			limit = max(1, limit/2) // fewer events fit
			continue
		}
		if err != nil {
			return fail(err)
		}
		var page struct {
			Events []struct {
				Timestamp string `json:"timestamp"`
			} `json:"events"`
			Position string `json:"position"`
			HasMore  bool   `json:"hasMore"`
		}
		if err := json.Unmarshal(buf, &page); err != nil {
			return fail(err)
		}
		older := 0
		for _, e := range page.Events {
			ts, err := dsco.ParseTime([]byte(e.Timestamp))
			if err != nil || !ts.Before(s.CreatedAt) {
				break
			}
			older++
		}
		switch {
		case older == 0:
		case older < len(page.Events):
			if len(page.Events) > limit {
				return fail(fmt.Errorf("the page holds %d events, more than the %d asked for", len(page.Events), limit))
			}
			limit = older // the same start again, up to the last older event
			continue
		default:
			if page.Position == "" || page.Position == pos {
				return fail(errors.New("the page names no new position"))
			}
			pos, limit = page.Position, 1000
			if page.HasMore {
				continue
			}
		}
		break
	}
	if pos == "" {
		return nil // nothing to skip: the committed position stays
	}
	if err := client.UpdateStreamPosition(ctx, s.ID, pos); err != nil {
		return fmt.Errorf("inbound: committing the end of the retained events of %s partition %d: %w", s.ID, part, err)
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

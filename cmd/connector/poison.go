package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/outbound"
)

// runPoison is `connector poison list|replay`.
func runPoison(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &usageError{msg: "poison: want a subcommand: list or replay"}
	}
	switch args[0] {
	case "list":
		return runPoisonList(ctx, e, args[1:])
	case "replay":
		return runPoisonReplay(ctx, e, args[1:])
	}
	return &usageError{msg: fmt.Sprintf("poison: unknown subcommand %q (want list or replay)", args[0])}
}

// poisonFilter selects poison records.
type poisonFilter struct {
	topic   string // the poison topic; empty: <prefix>poison.v1
	source  string // source topic, exact
	reason  string // substring of the reason, case-insensitive
	command string // command type (ship, invoice, ...), exact
	records string // comma-separated partition/offset of poison records
	timeout time.Duration
}

func (f *poisonFilter) flags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&f.topic, "topic", "", "poison topic (default CONNECTOR_TOPIC_PREFIX + poison.v1)")
	fs.StringVar(&f.source, "source", "", "only records poisoned from this source topic")
	fs.StringVar(&f.reason, "reason", "", "only records whose reason contains this text (case-insensitive)")
	fs.StringVar(&f.command, "command", "", "only records of this command type (ship, invoice, ...)")
	fs.StringVar(&f.records, "records", "", "only these records of the poison topic: comma-separated partition/offset, as list prints them")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "time limit for reading the poison topic")
}

// selected reports whether f selects r; ids are the parsed -records.
func (f *poisonFilter) selected(r outbound.PoisonRecord, ids map[string]bool) bool {
	return (f.source == "" || r.SourceTopic == f.source) &&
		(f.reason == "" || strings.Contains(strings.ToLower(r.Reason), strings.ToLower(f.reason))) &&
		(f.command == "" || r.CommandType == f.command) &&
		(len(ids) == 0 || ids[recordID(r)])
}

// recordID is how list names a poison record: partition/offset.
func recordID(r outbound.PoisonRecord) string { return fmt.Sprintf("%d/%d", r.Partition, r.Offset) }

// load reads the poison topic and returns the records f selects, in
// (partition, offset) order, and how many the topic holds.
func (f *poisonFilter) load(ctx context.Context, cfg *config.Config) ([]outbound.PoisonRecord, int, error) {
	ids := map[string]bool{}
	for s := range strings.SplitSeq(f.records, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, o, ok := strings.Cut(s, "/")
		if _, err := strconv.Atoi(p); !ok || err != nil {
			return nil, 0, &usageError{msg: fmt.Sprintf("poison: -records: %q is not partition/offset", s)}
		}
		if _, err := strconv.ParseInt(o, 10, 64); err != nil {
			return nil, 0, &usageError{msg: fmt.Sprintf("poison: -records: %q is not partition/offset", s)}
		}
		ids[s] = true
	}
	if f.topic == "" {
		f.topic = poisonTopic(cfg)
	}
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return nil, 0, err
	}
	dialer, _, err := kafkaGoClients(conn)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	all, err := outbound.ListPoisoned(ctx, outbound.TopicReader{Brokers: conn.Brokers, Dialer: dialer}, f.topic)
	if err != nil {
		return nil, 0, fmt.Errorf("poison: reading %s: %w", f.topic, err)
	}
	var out []outbound.PoisonRecord
	for _, r := range all {
		if f.selected(r, ids) {
			out = append(out, r)
		}
	}
	return out, len(all), nil
}

// runPoisonList prints the selected poison records, the newest -limit.
func runPoisonList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "poison list", "[-topic t] [-source topic] [-reason text] [-command name] [-records p/o,...] [-limit n] [-json]")
	var f poisonFilter
	f.flags(fs)
	limit := fs.Int("limit", 100, "print at most this many records, the newest (0: all)")
	asJSON := fs.Bool("json", false, "print one JSON object per record, with its value in base64")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return &usageError{msg: fmt.Sprintf("poison list: -limit %d must not be negative", *limit)}
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	recs, total, err := f.load(ctx, cfg)
	if err != nil {
		return err
	}
	selected := len(recs)
	if *limit > 0 && len(recs) > *limit {
		recs = newest(recs, *limit)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else {
		printPoison(e.stdout, recs)
	}
	fmt.Fprintf(e.stderr, "%s: %d records, %d selected, %d shown\n", f.topic, total, selected, len(recs))
	return nil
}

// newest returns the n records with the latest poison times (by offset
// within a partition when times are equal), in their original order.
func newest(recs []outbound.PoisonRecord, n int) []outbound.PoisonRecord {
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(recs[b].Time.Compare(recs[a].Time), cmp.Compare(b, a))
	})
	keep := idx[:n]
	slices.Sort(keep)
	out := make([]outbound.PoisonRecord, n)
	for i, j := range keep {
		out[i] = recs[j]
	}
	return out
}

// printPoison writes the records as a table.
func printPoison(w io.Writer, recs []outbound.PoisonRecord) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tTIME\tSOURCE\tKEY\tCOMMAND\tID\tSTATUS\tATTEMPTS\tREASON")
	for _, r := range recs {
		src := "-"
		if r.SourceTopic != "" {
			src = fmt.Sprintf("%s/%d/%d", r.SourceTopic, r.SourcePartition, r.SourceOffset)
		}
		at := "-"
		if !r.Time.IsZero() {
			at = r.Time.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", recordID(r), at, src, dash(r.Key), dash(r.CommandType),
			dash(r.CommandID), dash(r.Status), r.Attempts, strings.ReplaceAll(dash(r.Reason), "\n", " "))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runPoisonReplay requeues the selected poison records to their source
// topics: the outbound side consumes them again. A selection is required
// (a filter, -records, or -all); records without a source topic (events
// Dsco sent that could not be mapped) cannot be replayed and are reported.
func runPoisonReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "poison replay", "[-topic t] [-source topic] [-reason text] [-command name] [-records p/o,...] [-all] [-dry-run]")
	var f poisonFilter
	f.flags(fs)
	all := fs.Bool("all", false, "replay every record of the poison topic (when no filter is given)")
	dryRun := fs.Bool("dry-run", false, "print what would be replayed, replay nothing")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if !*all && f.source == "" && f.reason == "" && f.command == "" && f.records == "" {
		return &usageError{msg: "poison replay: select records with -source, -reason, -command or -records, or pass -all"}
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	recs, total, err := f.load(ctx, cfg)
	if err != nil {
		return err
	}
	var replay, skipped []outbound.PoisonRecord
	for _, r := range recs {
		if r.SourceTopic == "" {
			skipped = append(skipped, r)
		} else {
			replay = append(replay, r)
		}
	}
	for _, r := range skipped {
		fmt.Fprintf(e.stderr, "poison replay: %s names no source topic (an event that could not be mapped), not replayed\n", recordID(r))
	}
	printPoison(e.stdout, replay)
	if *dryRun || len(replay) == 0 {
		fmt.Fprintf(e.stderr, "%s: %d records, %d selected, %d would be replayed\n", f.topic, total, len(recs), len(replay))
		return nil
	}
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return err
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: conn}, nil)
	if err != nil {
		return err
	}
	defer pub.Close()
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if err := outbound.Requeue(rctx, pub, replay); err != nil {
		return fmt.Errorf("poison replay: %w", err)
	}
	fmt.Fprintf(e.stderr, "%s: replayed %d records to their source topics\n", f.topic, len(replay))
	return nil
}

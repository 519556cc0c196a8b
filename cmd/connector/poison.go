package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	return runSubcommand(ctx, e, "poison", poisonCommands, args)
}

// poisonCommands are poison's subcommands, in the order its usage lists them.
var poisonCommands = []command{
	{name: "list", summary: "print the poisoned records with their reasons, the newest -limit of those selected", run: runPoisonList},
	{name: "replay", summary: "requeue the selected records to their source topics, where the connector consumes them again", run: runPoisonReplay},
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
	_, named := ids[recordID(r)]
	return (f.source == "" || r.SourceTopic == f.source) &&
		(f.reason == "" || strings.Contains(strings.ToLower(r.Reason), strings.ToLower(f.reason))) &&
		(f.command == "" || r.CommandType == f.command) &&
		(len(ids) == 0 || named)
}

// timedOut says, for an error message, that ctx, bounded by -timeout, ended the work
// (README: raise -timeout for a topic that takes longer to read), or "" when it did not:
// Kafka's error alone (a deadline, with the advice for brokers that do not answer) did
// not name the flag to change.
func (f *poisonFilter) timedOut(ctx context.Context) string {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ""
	}
	return fmt.Sprintf(" (not done within -timeout %v: raise it for a poison topic that takes longer)", f.timeout)
}

// recordID is how list names a poison record: partition/offset.
func recordID(r outbound.PoisonRecord) string { return fmt.Sprintf("%d/%d", r.Partition, r.Offset) }

// load reads the poison topic, passes every record to scanned (when not nil) and the
// records f selects to keep, and returns how many the topic holds and how many f selected.
// Records not selected are not kept. A record -records names that the topic does not hold
// is reported on e's stderr. A poison topic that does not exist is an error naming it and
// what sets it: `connector run` creates it at start, so a missing one is a wrong prefix,
// -topic or cluster, which an empty listing (exit status 0) would pass off as nothing
// poisoned.
func (f *poisonFilter) load(ctx context.Context, e *env, cfg *config.Config, scanned, keep func(outbound.PoisonRecord)) (total, selected int, err error) {
	ids := map[string]bool{} // -records, as recordID names them; true once found
	for s := range strings.SplitSeq(f.records, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, o, ok := strings.Cut(s, "/")
		part, err := strconv.Atoi(p)
		if !ok || err != nil {
			return 0, 0, &usageError{msg: fmt.Sprintf("poison: -records: %q is not partition/offset", s)}
		}
		off, err := strconv.ParseInt(o, 10, 64)
		if err != nil {
			return 0, 0, &usageError{msg: fmt.Sprintf("poison: -records: %q is not partition/offset", s)}
		}
		ids[recordID(outbound.PoisonRecord{Partition: part, Offset: off})] = false
	}
	named := f.topic != ""
	if !named {
		f.topic = poisonTopic(cfg)
	}
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return 0, 0, err
	}
	dialer, _, err := kafkaGoClients(conn)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	// The reader creates no topic (a mistyped -topic leaves none behind), and says
	// ErrTopicNotFound before it reads anything.
	err = outbound.ScanPoisoned(ctx, outbound.TopicReader{Brokers: conn.Brokers, Dialer: dialer}, f.topic, func(r outbound.PoisonRecord) {
		total++
		if scanned != nil {
			scanned(r)
		}
		if f.selected(r, ids) {
			selected++
			keep(r)
		}
		if _, named := ids[recordID(r)]; named {
			ids[recordID(r)] = true
		}
	})
	switch {
	case errors.Is(err, outbound.ErrTopicNotFound) && named:
		return 0, 0, fmt.Errorf("poison: -topic %s does not exist on KAFKA_BROKERS: check its name (the connector's poison topic is %s, CONNECTOR_TOPIC_PREFIX + poison.v1)",
			f.topic, poisonTopic(cfg))
	case errors.Is(err, outbound.ErrTopicNotFound):
		return 0, 0, fmt.Errorf("poison: the poison topic %s (CONNECTOR_TOPIC_PREFIX %q + poison.v1) does not exist on KAFKA_BROKERS, "+
			"although connector run creates it at start: check CONNECTOR_TOPIC_PREFIX and KAFKA_BROKERS, or run the connector on these brokers first",
			f.topic, cfg.Connector.TopicPrefix)
	case err != nil:
		return 0, 0, fmt.Errorf("poison: reading %s%s: %w", f.topic, f.timedOut(ctx), withKafkaAdvice(err))
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if !ids[id] {
			fmt.Fprintf(e.stderr, "poison: -records: %s is not a record of %s\n", id, f.topic)
		}
	}
	return total, selected, nil
}

// newestKept keeps the n records with the latest poison times (the later record of the
// poison topic first when times are equal) of those it is given, all when n is 0, in at
// most 2n records' memory.
type newestKept struct {
	n    int
	recs []outbound.PoisonRecord
}

func (k *newestKept) add(r outbound.PoisonRecord) {
	if k.recs = append(k.recs, r); k.n > 0 && len(k.recs) >= 2*k.n {
		k.trim()
	}
}

// trim keeps the n newest.
func (k *newestKept) trim() {
	slices.SortFunc(k.recs, func(a, b outbound.PoisonRecord) int { return outbound.ComparePoisonings(b, a) })
	clear(k.recs[k.n:]) // let the dropped records' bytes be collected
	k.recs = k.recs[:k.n]
}

// result returns the records kept, in (partition, offset) order.
func (k *newestKept) result() []outbound.PoisonRecord {
	if k.n > 0 && len(k.recs) > k.n {
		k.trim()
	}
	slices.SortFunc(k.recs, outbound.ComparePoisonRecords)
	return k.recs
}

// runPoisonList prints the selected poison records, the newest -limit.
func runPoisonList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "poison list", "")
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
	if err := positive("poison list", "timeout", f.timeout); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	kept := newestKept{n: *limit}
	total, selected, err := f.load(ctx, e, cfg, nil, kept.add)
	if err != nil {
		return err
	}
	recs := kept.result()
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
// Dsco sent that could not be mapped) cannot be replayed and are reported, as are
// the selected records that are not their command's latest poisoning in the whole
// poison topic (outbound.LatestPoisonings), each with that latest, selected or not: a
// command is sent once per replay, and not again from an earlier poisoning once a later
// delivery of it had its own outcome.
func runPoisonReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "poison replay", "")
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
	if err := positive("poison replay", "timeout", f.timeout); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	var replay, skipped []outbound.PoisonRecord
	var latest outbound.LatestPoisonings
	total, selected, err := f.load(ctx, e, cfg, latest.Add, func(r outbound.PoisonRecord) {
		if r.SourceTopic == "" {
			r.Value, r.Headers = nil, nil // only named
			skipped = append(skipped, r)
		} else {
			replay = append(replay, r)
		}
	})
	if err != nil {
		return err
	}
	slices.SortFunc(replay, outbound.ComparePoisonRecords)
	slices.SortFunc(skipped, outbound.ComparePoisonRecords)
	for _, r := range skipped {
		fmt.Fprintf(e.stderr, "poison replay: %s names no source topic (an event that could not be mapped), not replayed\n", recordID(r))
	}
	selectedIDs := map[string]bool{}
	for _, r := range replay {
		selectedIDs[recordID(r)] = true
	}
	replay = slices.DeleteFunc(replay, func(r outbound.PoisonRecord) bool {
		l, earlier := latest.Earlier(r)
		if earlier {
			sel := "selected"
			if !selectedIDs[recordID(l)] {
				sel = "not selected"
			}
			fmt.Fprintf(e.stderr, "poison replay: %s is an earlier poisoning of command %s (%s): its latest is %s, %s; not replayed\n",
				recordID(r), r.CommandID, r.SourceTopic, recordID(l), sel)
		}
		return earlier
	})
	printPoison(e.stdout, replay)
	if *dryRun {
		fmt.Fprintf(e.stderr, "%s: %d records, %d selected, %d would be replayed\n", f.topic, total, selected, len(replay))
		return nil
	}
	if len(replay) == 0 {
		fmt.Fprintf(e.stderr, "%s: %d records, %d selected, nothing to replay\n", f.topic, total, selected)
		return nil
	}
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return err
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: conn, Balancer: outbound.SourcePartitionBalancer{}}, nil)
	if err != nil {
		return err
	}
	defer pub.Close()
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if err := outbound.Requeue(rctx, pub, replay); err != nil {
		return fmt.Errorf("poison replay%s: %w", f.timedOut(rctx), withKafkaAdvice(err))
	}
	fmt.Fprintf(e.stderr, "%s: replayed %d records to their source topics\n", f.topic, len(replay))
	return nil
}

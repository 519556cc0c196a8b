package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
)

// poisonRec is a poison record as the outbound pipeline writes it.
type poisonRec struct {
	key, value, source, reason, command, id string
	at                                      time.Time
}

// writePoison publishes recs to the poison topic with the pipeline's
// poison metadata.
func writePoison(t *testing.T, brokers []string, topic string, recs ...poisonRec) {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}, AllowAutoTopicCreation: true}, nil)
	require.NoError(t, err)
	defer pub.Close()
	for _, r := range recs {
		m := message.NewMessage(r.id+"-uuid", []byte(r.value))
		m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, r.key)
		m.Metadata.Set(middleware.ReasonForPoisonedKey, r.reason)
		m.Metadata.Set(outbound.PoisonTimeKey, r.at.Format(time.RFC3339Nano))
		if r.source != "" {
			m.Metadata.Set(middleware.PoisonedTopicKey, r.source)
			m.Metadata.Set(outbound.PoisonPartitionKey, "0")
			m.Metadata.Set(outbound.PoisonOffsetKey, "7")
			m.Metadata.Set(outbound.PoisonCommandIDKey, r.id)
			m.Metadata.Set(outbound.PoisonCommandTypeKey, r.command)
			m.Metadata.Set(outbound.PoisonStatusKey, "rejected")
			m.Metadata.Set(outbound.PoisonAttemptsKey, "1")
		}
		require.NoError(t, pub.Publish(topic, m))
	}
}

func TestPoisonListAndReplay(t *testing.T) {
	st := newStack(t)
	prefix := kafkatest.Name("poison") + "." // topics of their own on a shared KAFKA_BROKERS
	vars := st.with("CONNECTOR_TOPIC_PREFIX", prefix)
	brokers := strings.Split(vars["KAFKA_BROKERS"], ",")
	poisonTopic, shipTopic, invoiceTopic := prefix+"poison.v1", prefix+"cmd.ship.v1", prefix+"cmd.invoice.v1"
	kafkatest.CreateTopic(t, brokers, shipTopic, 2) // a source topic exists: it was consumed from
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	writePoison(t, brokers, poisonTopic,
		poisonRec{key: "order-1", value: "ship-bytes", source: shipTopic, reason: "item error LINE_NOT_FOUND: order order-1 has no line 9", command: "ship", id: "c-ship", at: t0},
		poisonRec{key: "order-2", value: "invoice-bytes", source: invoiceTopic, reason: "validation: amount: is required", command: "invoice", id: "c-invoice", at: t0.Add(time.Minute)},
		poisonRec{key: "order-3", value: "event-bytes", reason: "unmappable event: order.items[0].cost", at: t0.Add(2 * time.Minute)},
	)

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name   string
			args   []string
			want   []string // command ids or keys in the output, in order
			not    []string
			stderr string
		}{
			{"all", nil, []string{"c-ship", "c-invoice", "order-3"}, nil, ""},
			{"by source", []string{"-source", shipTopic}, []string{"c-ship", "LINE_NOT_FOUND"}, []string{"c-invoice", "order-3"}, ""},
			{"by reason", []string{"-reason", "VALIDATION"}, []string{"c-invoice"}, []string{"c-ship", "order-3"}, ""},
			{"by command", []string{"-command", "ship"}, []string{"c-ship"}, []string{"c-invoice"}, ""},
			{"newest", []string{"-limit", "1"}, []string{"order-3"}, []string{"c-ship", "c-invoice"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runMain(t, vars, append([]string{"poison", "list"}, tt.args...)...)
				require.Equal(t, exitOK, r.code, r.stderr)
				last := -1
				for _, w := range tt.want {
					i := strings.Index(r.stdout, w)
					require.GreaterOrEqual(t, i, 0, "%q in\n%s", w, r.stdout)
					assert.Greater(t, i, last, "%q in order", w)
					last = i
				}
				for _, w := range tt.not {
					assert.NotContains(t, r.stdout, w)
				}
				assert.Contains(t, r.stderr, poisonTopic+": 3 records")
				if tt.stderr != "" {
					assert.Contains(t, r.stderr, tt.stderr)
				} else {
					assert.NotContains(t, r.stderr, "is not a record")
				}
			})
		}
	})

	t.Run("topic that does not exist", func(t *testing.T) {
		missing := prefix + "no.such.topic"
		otherPrefix := kafkatest.Name("nopoison") + "."
		tests := []struct {
			name    string
			vars    map[string]string
			args    []string
			want    string
			missing string // the topic not to be created
		}{
			{"list -topic", vars, []string{"poison", "list", "-topic", missing},
				"connector: poison: -topic " + missing + " does not exist on KAFKA_BROKERS: check its name (the connector's poison topic is " + poisonTopic + ", CONNECTOR_TOPIC_PREFIX + poison.v1)", missing},
			{"replay -topic", vars, []string{"poison", "replay", "-topic", missing, "-all"},
				"connector: poison: -topic " + missing + " does not exist", missing},
			{"list, the prefix's", st.with("CONNECTOR_TOPIC_PREFIX", otherPrefix), []string{"poison", "list"},
				"connector: poison: the poison topic " + otherPrefix + "poison.v1 (CONNECTOR_TOPIC_PREFIX \"" + otherPrefix + "\" + poison.v1) does not exist on KAFKA_BROKERS, " +
					"although connector run creates it at start: check CONNECTOR_TOPIC_PREFIX and KAFKA_BROKERS, or run the connector on these brokers first", otherPrefix + "poison.v1"},
			{"replay, the prefix's", st.with("CONNECTOR_TOPIC_PREFIX", otherPrefix), []string{"poison", "replay", "-command", "ship", "-dry-run"},
				"connector: poison: the poison topic " + otherPrefix + "poison.v1 (CONNECTOR_TOPIC_PREFIX", otherPrefix + "poison.v1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runMain(t, tt.vars, tt.args...)
				assert.Equal(t, exitFailure, r.code, r.stderr)
				assert.Contains(t, r.stderr, tt.want)
				assert.Empty(t, r.stdout, "no table")
				assert.NotContains(t, r.stderr, "0 records")
				topics, err := kafkatest.Admin(t, brokers).ListTopics(t.Context())
				require.NoError(t, err)
				assert.False(t, topics.Has(tt.missing), "reading a topic that does not exist created it")
			})
		}
	})

	t.Run("list json, and by record", func(t *testing.T) {
		r := runMain(t, vars, "poison", "list", "-json", "-command", "invoice")
		require.Equal(t, exitOK, r.code, r.stderr)
		var rec outbound.PoisonRecord
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
		assert.Equal(t, "c-invoice", rec.CommandID)
		assert.Equal(t, invoiceTopic, rec.SourceTopic)
		assert.Equal(t, "invoice-bytes", string(rec.Value))
		assert.True(t, rec.Time.Equal(t0.Add(time.Minute)))

		// Named by -records, with a leading zero, beside a record the topic does not hold.
		r = runMain(t, vars, "poison", "list", "-records", fmt.Sprintf("0%d/%d, 9/99", rec.Partition, rec.Offset))
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "c-invoice")
		assert.NotContains(t, r.stdout, "c-ship")
		assert.Contains(t, r.stderr, "poison: -records: 9/99 is not a record of "+poisonTopic)
		assert.Contains(t, r.stderr, "1 selected")
	})

	t.Run("bad usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"poison"}, {"poison", "purge"}, {"poison", "replay"}, {"poison", "list", "-limit", "-1"},
			{"poison", "list", "-records", "x"}, {"poison", "replay", "-records", "1/y"},
		} {
			r := runMain(t, vars, args...)
			assert.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
		}
	})

	t.Run("replay", func(t *testing.T) {
		r := runMain(t, vars, "poison", "replay", "-all", "-dry-run")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, "2 would be replayed")
		assert.Contains(t, r.stderr, "names no source topic")

		// Not a dry run: nothing "would be" replayed.
		r = runMain(t, vars, "poison", "replay", "-reason", "unmappable")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, "1 selected, nothing to replay\n")

		r = runMain(t, vars, "poison", "replay", "-command", "ship")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, "replayed 1 records")

		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		var got []kafkago.Message
		require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(ctx, shipTopic, false, nil, func(m kafkago.Message) {
			got = append(got, m)
		}))
		require.Len(t, got, 1, "the ship command is back on its topic, once")
		assert.Equal(t, "ship-bytes", string(got[0].Value))
		assert.Equal(t, "order-1", string(got[0].Key))
	})
}

// TestPoisonReplayOncePerCommand: a command poisoned more than once is replayed once, from
// its latest poisoning in the whole poison topic, whatever the selection: replay names the
// selected records it leaves and that latest. Here a return was poisoned with its outcome
// unknown, requeued, and rejected: a selection of the unknown outcomes alone must not send it
// again.
func TestPoisonReplayOncePerCommand(t *testing.T) {
	st := newStack(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		selection func(returnTopic string) []string
		selected  int
		replayed  []string // values back on the return topic
		stderr    string   // with %[1]s for the return topic
	}{
		{"only the earlier selected: not replayed, the latest named",
			func(string) []string { return []string{"-reason", "outcome_unknown"} }, 2, []string{"return-other"},
			"poison replay: 0/0 is an earlier poisoning of command c-ret (%[1]s): its latest is 0/2, not selected; not replayed\n"},
		{"both selected: the latest replayed",
			func(string) []string { return []string{"-command", "return"} }, 3, []string{"return-again", "return-other"},
			"poison replay: 0/0 is an earlier poisoning of command c-ret (%[1]s): its latest is 0/2, selected; not replayed\n"},
		{"the latest selected alone: replayed",
			func(string) []string { return []string{"-records", "0/2"} }, 1, []string{"return-again"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := kafkatest.Name("poison") + "."
			vars := st.with("CONNECTOR_TOPIC_PREFIX", prefix)
			brokers := strings.Split(vars["KAFKA_BROKERS"], ",")
			poisonTopic, returnTopic := prefix+"poison.v1", prefix+"cmd.return.v1"
			kafkatest.CreateTopic(t, brokers, poisonTopic, 1) // offsets 0, 1, 2
			kafkatest.CreateTopic(t, brokers, returnTopic, 1)
			writePoison(t, brokers, poisonTopic,
				poisonRec{key: "order-1", value: "return-first", source: returnTopic, reason: "outcome_unknown: 504", command: "return", id: "c-ret", at: t0},
				poisonRec{key: "order-2", value: "return-other", source: returnTopic, reason: "outcome_unknown: 504", command: "return", id: "c-other", at: t0},
				poisonRec{key: "order-1", value: "return-again", source: returnTopic, reason: "item error RETURN_NOT_ALLOWED: already returned", command: "return", id: "c-ret", at: t0.Add(time.Hour)},
			)
			args := append([]string{"poison", "replay"}, tc.selection(returnTopic)...)
			r := runMain(t, vars, append(args, "-dry-run")...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stderr, fmt.Sprintf("3 records, %d selected, %d would be replayed", tc.selected, len(tc.replayed)))

			r = runMain(t, vars, args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			if tc.stderr != "" {
				assert.Contains(t, r.stderr, fmt.Sprintf(tc.stderr, returnTopic))
			} else {
				assert.NotContains(t, r.stderr, "earlier poisoning")
			}
			assert.Contains(t, r.stderr, fmt.Sprintf("replayed %d records", len(tc.replayed)))
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			var got []string
			require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(ctx, returnTopic, false, nil, func(m kafkago.Message) {
				got = append(got, string(m.Value))
			}))
			assert.ElementsMatch(t, tc.replayed, got, "each command back on its topic once at most, from its latest poisoning")
		})
	}
}

// TestNewestKept: `poison list -limit n` keeps the n records with the latest poison times
// (the later record of the topic first when times are equal) in at most 2n records, and
// prints them in (partition, offset) order.
func TestNewestKept(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := func(p int, o int64, minute int) outbound.PoisonRecord {
		return outbound.PoisonRecord{Partition: p, Offset: o, Time: base.Add(time.Duration(minute) * time.Minute)}
	}
	id := func(rs []outbound.PoisonRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, recordID(r))
		}
		return out
	}
	// 2 partitions, given interleaved as a scan gives them; times rise with the offset
	// in partition 0, fall in partition 1; 0/4 and 1/0 share the latest time.
	var given []outbound.PoisonRecord
	for o := range int64(5) {
		given = append(given, rec(0, o, int(o)), rec(1, o, 4-int(o)))
	}
	cases := []struct {
		n    int
		want []string
	}{
		{0, []string{"0/0", "0/1", "0/2", "0/3", "0/4", "1/0", "1/1", "1/2", "1/3", "1/4"}},
		{1, []string{"1/0"}}, // ties 0/4: the later record of the topic
		{2, []string{"0/4", "1/0"}},
		{3, []string{"0/4", "1/0", "1/1"}}, // 1/1 ties 0/3 and is the later record
		{4, []string{"0/3", "0/4", "1/0", "1/1"}},
		{10, []string{"0/0", "0/1", "0/2", "0/3", "0/4", "1/0", "1/1", "1/2", "1/3", "1/4"}},
		{50, []string{"0/0", "0/1", "0/2", "0/3", "0/4", "1/0", "1/1", "1/2", "1/3", "1/4"}},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			k := newestKept{n: tc.n}
			for _, r := range given {
				k.add(r)
				if tc.n > 0 {
					require.Less(t, len(k.recs), 2*tc.n, "kept at most 2n records")
				}
			}
			assert.Equal(t, tc.want, id(k.result()))
		})
	}
}

// TestPoisonTopicNotAuthorized: a poison topic the credentials may not describe is an
// error naming Kafka's answer, not a topic said not to exist.
func TestPoisonTopicNotAuthorized(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers metadata with kfake's controls")
	}
	s := newStack(t)
	cl := kafkatest.NewCluster(t)
	const topic = "secret.poison.v1"
	cl.ControlKey(int16(kmsg.Metadata), func(r kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		req := r.(*kmsg.MetadataRequest)
		if len(req.Topics) != 1 || req.Topics[0].Topic == nil || *req.Topics[0].Topic != topic {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		host, port, _ := net.SplitHostPort(cl.ListenAddrs()[0])
		p, _ := strconv.Atoi(port)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 0, host, int32(p)
		resp.Brokers = append(resp.Brokers, b)
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.ErrorCode = kmsg.StringPtr(topic), 29 // TOPIC_AUTHORIZATION_FAILED
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	r := runMain(t, s.with("KAFKA_BROKERS", strings.Join(cl.ListenAddrs(), ",")), "poison", "list", "-topic", topic)
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "reading the metadata of "+topic)
	assert.Contains(t, r.stderr, "Topic Authorization Failed")
	assert.NotContains(t, r.stderr, "does not exist")
}

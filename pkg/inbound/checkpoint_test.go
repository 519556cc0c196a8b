package inbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// refusingStream is a Dsco transport that answers position updates with
// commitStatus (when set) and, after readsBefore reads of stream events,
// answers those reads with readStatus (when set): a stream deleted under
// the pipeline, or an API key that may read a stream but not move it.
type refusingStream struct {
	base         http.RoundTripper
	commitStatus int
	readStatus   int
	readsBefore  int32
	reads        atomic.Int32
}

func (r *refusingStream) RoundTrip(req *http.Request) (*http.Response, error) {
	status := 0
	switch {
	case strings.HasSuffix(req.URL.Path, "/position") && req.Method == http.MethodPost:
		status = r.commitStatus
	case strings.HasSuffix(req.URL.Path, "/events"):
		if r.reads.Add(1) > r.readsBefore {
			status = r.readStatus
		}
	}
	if status == 0 {
		return r.base.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	body := `{"status":"failed","errors":[{"code":"REFUSED","message":"refused by the test"}]}`
	return jsonAnswer(req, status, body), nil
}

// TestPipelineEndsPartitionWhenCommitsCannotGoOn: a partition whose
// position commits Dsco refuses for good, or whose reads Dsco refuses for
// good while a page waits for a commit (the partition's commits are
// CheckpointEvents behind), ends and RunPartitions returns the error. It
// neither waits forever for a commit that cannot come (a dead pipeline
// whose process stays up and ready) nor loses the pages it read.
func TestPipelineEndsPartitionWhenCommitsCannotGoOn(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		commitStatus, readStatus int
		readsBefore              int32
		want                     error
	}{
		{"commits refused for good (403)", http.StatusForbidden, 0, 0, dsco.ErrForbidden},
		{"the stream gone while a page waits for a commit (404)", http.StatusNotFound, http.StatusNotFound, 2, dsco.ErrNotFound},
		{"reads refused for good while commits fail for now (503, then 401)", http.StatusServiceUnavailable, http.StatusUnauthorized, 2, dsco.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 31}, "order")
			_, err := sb.SeedOrders(20)
			require.NoError(t, err)
			s, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order"})
			require.NoError(t, err)

			base := newTransport(t)
			tr := &refusingStream{base: base, commitStatus: tc.commitStatus, readStatus: tc.readStatus, readsBefore: tc.readsBefore}
			if tc.readStatus == 0 {
				tr.readsBefore = 1 << 30
			}
			reader := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
				dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}))
			cfg := testConfig(reader, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			cfg.PageLimit, cfg.CheckpointEvents = 5, 5 // the second page waits for the first one's commit
			p, err := inbound.NewPipeline(cfg, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })

			done := make(chan error, 1)
			go func() {
				done <- p.RunPartitions(t.Context(), []inbound.Assignment{{Stream: s, Partition: 0}})
			}()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, tc.want)
			case <-time.After(waitLimit):
				t.Fatal("the partition neither went on nor ended")
			}
		})
	}
}

// hidingEvents is a Dsco transport that answers every read of stream events
// without its events but with its position, as Dsco answers a page whose
// events the stream does not deliver: the partition moves on with nothing
// to publish.
type hidingEvents struct {
	base http.RoundTripper
}

func (h hidingEvents) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/events") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	defer resp.Body.Close()
	var page map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	page["events"] = json.RawMessage(`[]`)
	body, err := json.Marshal(page)
	if err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// TestPipelineCommitsPagesWithoutEvents: the position of a page without
// events that moves the partition on is committed (in order, after the
// pages before it), so that a partition whose pages carry no events does
// not keep an old position until Dsco expires it and refuses to resume.
func TestPipelineCommitsPagesWithoutEvents(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 37}, "order")
	_, err := sb.SeedOrders(30)
	require.NoError(t, err)
	base := newTransport(t)
	reader := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: hidingEvents{base: base}, Timeout: 30 * time.Second}))
	r := startPipeline(t, testConfig(reader, serde, brokers, inbound.StreamConfig{ObjectType: "order"}))
	last := func() uint64 {
		list, err := client.ListStreams(t.Context())
		if err != nil || len(list.Streams) == 0 {
			return 0 // the pipeline has not made its stream yet
		}
		return sandboxSeq(list.Streams[0].Partitions[0].Position)
	}
	require.Eventually(t, func() bool { return last() == 30 }, waitLimit, 10*time.Millisecond,
		"the position after the pages without events is committed")
	require.NoError(t, r.stop(t))
}

// failingCommits is a transport to Dsco whose position commits fail once
// failing is set: answered with status, or, without one, not answered until
// the request is given up.
type failingCommits struct {
	base    http.RoundTripper
	status  int
	failing atomic.Bool
}

func (f *failingCommits) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.failing.Load() && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/position") {
		if f.status == 0 {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
		return jsonAnswer(req, f.status, `{"status":"failure","messages":[{"code":"REFUSED","description":"not now"}]}`), nil
	}
	return f.base.RoundTrip(req)
}

// TestPipelineLogsAFailedFinalCommit: a final commit that fails (Dsco does
// not answer before the shutdown time is up, or answers with an error) is
// logged once, with the position it would have stored: at warn level, since
// what Kafka acknowledged after the last commit is published again at the
// next start, or at error level when Dsco refused it for good (403, 404),
// since the next start may be refused too, or find the stream gone. The
// first and the third went unlogged (the commit's context had ended; the
// refusal was returned to a Run that was stopping and dropped it), the
// second was logged as covered by a next commit, which never comes; a
// refusal for good was then logged at warn level as read again at the next
// start.
func TestPipelineLogsAFailedFinalCommit(t *testing.T) {
	const (
		failed  = "inbound: the final commit of a stream position failed; the events after the last position committed are read and published again at the next start"
		refused = "inbound: Dsco refused the final commit of a stream position for good (check the credentials and their rights, and whether the stream still exists); if a later start can read the stream, it reads and publishes again the events after the last position committed"
	)
	for _, tc := range []struct {
		name   string
		status int // 0: no answer
		level  slog.Level
		msg    string
	}{
		{"Dsco does not answer in time", 0, slog.LevelWarn, failed},
		{"Dsco answers 503", http.StatusServiceUnavailable, slog.LevelWarn, failed},
		{"Dsco refuses it for good (403)", http.StatusForbidden, slog.LevelError, refused},
		{"the stream is gone (404)", http.StatusNotFound, slog.LevelError, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, dscotest.Config{Seed: 31})
			brokers := kafkatest.Brokers(t)
			createTopics(t, brokers, "order")
			serde := newSerde(t, newRegistry(t))
			base := newTransport(t)
			tr := &failingCommits{base: base, status: tc.status}
			client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
				dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}))
			_, err := sb.SeedOrders(10)
			require.NoError(t, err)
			cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			cfg.CheckpointInterval, cfg.CheckpointEvents = time.Hour, 1000 // the final commit alone
			cfg.ShutdownTimeout = 500 * time.Millisecond
			logs := newLogSignal(tc.msg)
			r := startPipelineLogged(t, cfg, slog.New(logs))
			newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 10 })
			tr.failing.Store(true)
			require.NoError(t, r.stop(t))

			lines := logs.find(tc.level, tc.msg)
			require.Len(t, lines, 1, "the failed final commit is logged")
			assert.Equal(t, uint64(10), sandboxSeq(lines[0].attrs["position"].(string)), "the position it would have stored")
			assert.EqualValues(t, 10, lines[0].attrs["events"], "the events it would have covered")
			assert.Len(t, logs.from(slog.LevelWarn), 1, "nothing else says it again")
			list, err := client.ListStreams(t.Context())
			require.NoError(t, err)
			assert.Equal(t, uint64(0), sandboxSeq(list.Streams[0].Partitions[0].Position), "nothing committed")
		})
	}
}

// heldReads is a transport to Dsco that holds the reads of stream events of
// one partition until until is closed (a nil until: until the read's
// context ends). It closes ended, when given, once a held read's context
// ended.
type heldReads struct {
	base      http.RoundTripper
	partition string
	until     <-chan struct{}
	// holding (if not nil) is closed when a read is first held, ended when a
	// held read's context first ends.
	holding, ended      chan struct{}
	holdOnce, endedOnce sync.Once
}

func (h *heldReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/events") && req.URL.Query().Get("partition") == h.partition {
		if h.holding != nil {
			h.holdOnce.Do(func() { close(h.holding) })
		}
		select {
		case <-h.until:
		case <-req.Context().Done():
			if h.ended != nil {
				h.endedOnce.Do(func() { close(h.ended) })
			}
			return nil, req.Context().Err()
		}
	}
	return h.base.RoundTrip(req)
}

// TestPipelineStopsInTimeAfterAPartitionFails: when a partition cannot go
// on, the others stop as they do when Run's context ends, their produce and
// final commit within ShutdownTimeout. They had no time limit then: a page
// whose produce Kafka did not answer held Run for as long as the producer's
// attempts took (here a WriteTimeout of an hour).
func TestPipelineStopsInTimeAfterAPartitionFails(t *testing.T) {
	// Partition 3, which the stream does not have (400), fails once partition 0's produce is stalled.
	stopsInTime(t, []int{0, 3}, func(base http.RoundTripper, stalled <-chan struct{}) http.RoundTripper {
		return &heldReads{base: base, partition: "3", until: stalled}
	})
}

// TestPipelineLogsFailingCommitsAsARun: commits that keep failing (each
// tick asks again) are logged as a run, a warning at the first and then
// one a minute, and a line once they work again; each failed commit was a
// warning, four a second per partition with the default interval.
func TestPipelineLogsFailingCommitsAsARun(t *testing.T) {
	const (
		failed = "inbound: committing a stream position failed; the next commit covers it"
		works  = "inbound: committing stream positions works again"
	)
	sb := newSandbox(t, dscotest.Config{Seed: 44})
	brokers := kafkatest.Brokers(t)
	createTopics(t, brokers, "order")
	serde := newSerde(t, newRegistry(t))
	base := newTransport(t)
	tr := &failingCommits{base: base, status: http.StatusServiceUnavailable}
	tr.failing.Store(true)
	client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
		dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}))
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)
	logs := newLogSignal(works)
	r := startPipelineLogged(t, testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"}), slog.New(logs))
	require.Eventually(t, func() bool {
		return len(logs.find(slog.LevelWarn, failed))+len(logs.find(slog.LevelDebug, failed)) >= 5
	}, waitLimit, 10*time.Millisecond, "commits fail again and again")
	tr.failing.Store(false)
	select {
	case <-logs.logged:
	case <-time.After(waitLimit):
		t.Fatal("no line says the commits work again")
	}
	require.NoError(t, r.stop(t))
	assert.Len(t, logs.find(slog.LevelWarn, failed), 1, "one warning for the run")
	assert.Len(t, logs.find(slog.LevelInfo, works), 1)
}

// refusedReads is a transport to Dsco that answers every read of stream events with a
// 400 once from is closed.
type refusedReads struct {
	base http.RoundTripper
	from <-chan struct{}
}

func (r *refusedReads) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-r.from:
		if strings.HasSuffix(req.URL.Path, "/events") {
			return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"message":"refused"}`)), Request: req}, nil
		}
	default:
	}
	return r.base.RoundTrip(req)
}

// TestPipelineStopsInTimeWhenAPartitionFailsWhileProducing: a partition that cannot go
// on while Kafka does not answer the produce of a page it read before finishes that
// page within ShutdownTimeout too, as the other partitions do. Its own produce had no
// time limit: the limits were set off once its run had returned, which waited for
// the produce, for as long as the producer's attempts took (here a WriteTimeout of an
// hour).
func TestPipelineStopsInTimeWhenAPartitionFailsWhileProducing(t *testing.T) {
	// The reads after the first page's produce stalled are refused (400).
	stopsInTime(t, []int{0}, func(base http.RoundTripper, stalled <-chan struct{}) http.RoundTripper {
		return &refusedReads{base: base, from: stalled}
	})
}

// TestPipelineStopsOthersWhenAPartitionFails: a partition that cannot go on
// stops the others when it fails, not once it has finished: its own shutdown
// (here its produce, which Kafka holds until the test lets it through) runs
// while theirs do, so that every partition's time limits start together and
// Run returns within one ShutdownTimeout. The others were told only once the
// failing partition's run had returned, after up to ShutdownTimeout, and then
// took up to ShutdownTimeout of their own. Partition 1's reads are held, so
// that it produces nothing: every produce request is partition 0's.
func TestPipelineStopsOthersWhenAPartitionFails(t *testing.T) {
	release := make(chan struct{})
	holding, ended := make(chan struct{}), make(chan struct{})
	p, s := stalledPipeline(t, 43, release, time.Hour, // no time limit ends a wait of this test
		func(base http.RoundTripper, stalled <-chan struct{}) http.RoundTripper {
			// Partition 0's reads after its first page's produce stalled, and once
			// partition 1's read is held, are refused (400).
			refuse := make(chan struct{})
			go func() {
				for _, c := range []<-chan struct{}{stalled, holding} {
					select {
					case <-c:
					case <-t.Context().Done():
						return
					}
				}
				close(refuse)
			}()
			return &heldReads{base: &refusedReads{base: base, from: refuse}, partition: "1", holding: holding, ended: ended}
		})
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(let) // before Close: partition 0 finishes its page

	done := make(chan error, 1)
	go func() {
		done <- p.RunPartitions(t.Context(), []inbound.Assignment{{Stream: s, Partition: 0}, {Stream: s, Partition: 1}})
	}()
	select {
	case <-ended: // only the pipeline's context, ended by partition 0's failure, ends it
	case err := <-done:
		t.Fatalf("Run returned %v before partition 1 stopped", err)
	case <-time.After(waitLimit):
		t.Fatal("partition 1 was not stopped while partition 0 was finishing its page")
	}
	let()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, dsco.ErrBadRequest, "Run returns partition 0's error")
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
}

// heldCommitError is pipeline Metrics whose report of a failed position
// commit (the first, and any other before until is closed or the test ends)
// closes reached and waits for until: a commit Dsco refused for good, which
// the pipeline reports before it hands it on as a partition's failure, is
// then handed on after what the test did meanwhile.
type heldCommitError struct {
	inbound.NopMetrics
	reached     chan struct{}
	until, done <-chan struct{}
	once        sync.Once
}

func (m *heldCommitError) Error(_, kind string) {
	if kind != inbound.ErrKindCheckpoint {
		return
	}
	m.once.Do(func() { close(m.reached) })
	select {
	case <-m.until:
	case <-m.done:
	}
}

// TestPipelineLogsFailuresAfterTheFirst: a partition that cannot go on once
// another one failed, or once Run was stopped, is logged at error level,
// once, with its error, while Run returns the first failure (none when it was
// stopped). It was dropped without a word. Partition 0's position commits
// are refused for good (403), and its refusal is held until the pipeline's
// context ended: by the failure of partition 3, which the stream does not
// have (its read, held until then, is refused: 400), or by the test
// stopping Run. Partition 1's reads, held until that context ends, tell
// when it has. Partition 0's final commit, refused too, has a line of its
// own (TestPipelineLogsAFailedFinalCommit) and no second one here.
func TestPipelineLogsFailuresAfterTheFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // Run is stopped, where partition 3 fails otherwise
		msg  string
		want error
	}{
		{"after another partition's failure", false, "inbound: a partition cannot go on (besides the failure already reported)", dsco.ErrBadRequest},
		{"while Run stops", true, "inbound: a partition cannot go on (while stopping)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 47}, "order")
			_, err := sb.SeedOrders(10)
			require.NoError(t, err)
			s, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order"})
			require.NoError(t, err)

			failNext := make(chan struct{}) // partition 3's read goes on, to its 400
			held := &heldReads{base: newTransport(t), partition: "1", holding: make(chan struct{}), ended: make(chan struct{})}
			tr := &refusingStream{base: &heldReads{base: held, partition: "3", until: failNext},
				commitStatus: http.StatusForbidden, readsBefore: 1 << 30}
			reader := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
				dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}))
			cfg := testConfig(reader, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			cfg.MaxPagesDecoding = 3 // partition 0 reads while the others' reads are held
			m := &heldCommitError{reached: make(chan struct{}), until: held.ended, done: t.Context().Done()}
			cfg.Metrics = m
			logs := newLogSignal(tc.msg)
			p, err := inbound.NewPipeline(cfg, slog.New(logs))
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })

			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			done := make(chan error, 1)
			go func() {
				done <- p.RunPartitions(ctx, []inbound.Assignment{{Stream: s, Partition: 0}, {Stream: s, Partition: 1}, {Stream: s, Partition: 3}})
			}()
			for _, c := range []<-chan struct{}{m.reached, held.holding} {
				select {
				case <-c:
				case err := <-done:
					t.Fatalf("Run returned %v before partition 0's commit was refused and partition 1's read held", err)
				case <-time.After(waitLimit):
					t.Fatal("partition 0's commit was not refused, or partition 1's read not held")
				}
			}
			if tc.stop {
				stop()
			} else {
				close(failNext)
			}
			select {
			case err := <-done:
				if tc.want == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tc.want, "Run returns the first failure")
				}
			case <-time.After(waitLimit):
				t.Fatal("Run did not return")
			}
			lines := logs.find(slog.LevelError, tc.msg)
			require.Len(t, lines, 1, "partition 0's failure is logged")
			err, _ = lines[0].attrs["error"].(error)
			assert.ErrorIs(t, err, dsco.ErrForbidden)
			assert.ErrorContains(t, err, "partition 0")
		})
	}
}

// stopsInTime runs a pipeline on partitions parts of its stream whose produce Kafka stops
// answering (with a WriteTimeout of an hour) and whose Dsco transport is made by
// dscoTransport (stalled is closed once a produce is held), and checks that Run returns
// the 400 of Dsco's that ends a partition within the test's limit, ShutdownTimeout being
// a second.
func stopsInTime(t *testing.T, parts []int, dscoTransport func(base http.RoundTripper, stalled <-chan struct{}) http.RoundTripper) {
	t.Helper()
	p, s := stalledPipeline(t, 41, nil, time.Second, dscoTransport)
	var as []inbound.Assignment
	for _, part := range parts {
		as = append(as, inbound.Assignment{Stream: s, Partition: part})
	}
	done := make(chan error, 1)
	go func() { done <- p.RunPartitions(t.Context(), as) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, dsco.ErrBadRequest)
	case <-time.After(waitLimit):
		t.Fatal("the partition whose produce stalled did not stop")
	}
}

// stalledPipeline returns a pipeline of the order stream of a sandbox of 10 orders (seed
// seed), with ShutdownTimeout shutdown, whose produce requests Kafka holds until release
// is closed (nil: until they end), with a WriteTimeout of an hour, and whose Dsco transport
// dscoTransport makes from the test's own (stalled is closed once a produce is held). The
// pipeline is closed when the test ends.
func stalledPipeline(t *testing.T, seed int64, release <-chan struct{}, shutdown time.Duration,
	dscoTransport func(base http.RoundTripper, stalled <-chan struct{}) http.RoundTripper) (*inbound.Pipeline, inbound.StreamInfo) {
	t.Helper()
	sb := newSandbox(t, dscotest.Config{Seed: seed})
	brokers := kafkatest.Brokers(t)
	createTopics(t, brokers, "order")
	serde := newSerde(t, newRegistry(t))
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)
	kbase := &kafkago.Transport{}
	t.Cleanup(kbase.CloseIdleConnections)
	ktr := &stallingProduce{RoundTripper: kbase, stalled: make(chan struct{}), release: release}
	ktr.stall.Store(true)
	client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: dscoTransport(newTransport(t), ktr.stalled)}))
	s, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order"})
	require.NoError(t, err)
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Kafka.Transport, cfg.Kafka.WriteTimeout = ktr, time.Hour
	cfg.ShutdownTimeout = shutdown
	p, err := inbound.NewPipeline(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p, s
}

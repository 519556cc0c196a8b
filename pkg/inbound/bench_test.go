package inbound_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// The benchmark's infrastructure (sandbox, Kafka, registry) runs in a child
// process, so that getrusage in this process measures the connector alone.
const (
	benchInfraEnv    = "INBOUND_BENCH_INFRA"
	benchEventsEnv   = "INBOUND_BENCH_EVENTS"       // backlog size (default 50,000)
	benchExtraEnv    = "INBOUND_BENCH_EXTRA"        // unknown attributes per object
	benchHeapEnv     = "INBOUND_BENCH_HEAPPROFILE"  // a file for a heap profile taken mid-drain
	benchPartsEnv    = "INBOUND_BENCH_PARTITIONS"   // stream partitions (default 4)
	benchCPUEnv      = "INBOUND_BENCH_CPUPROFILE"   // a file for a CPU profile of the drains
	benchInfraCPUEnv = "INBOUND_BENCH_INFRAPROFILE" // a file for a CPU profile of the infrastructure during the drains
	benchDecEnv      = "INBOUND_BENCH_MAXDECODING"  // Config.MaxPagesDecoding (default the pipeline's)
	benchPagesEnv    = "INBOUND_BENCH_MAXPAGES"     // Config.MaxPagesInFlight (default the pipeline's)
	benchBytesEnv    = "INBOUND_BENCH_PAGEBYTES"    // Config.PageBytes (default the pipeline's)
	benchInfraLine   = "inbound-bench-infra:"
)

// benchPartitions is the number of stream partitions, and so of workers.
var benchPartitions = func() int {
	if n, err := strconv.Atoi(os.Getenv(benchPartsEnv)); err == nil && n > 0 {
		return n
	}
	return 4
}()

// benchEvents is the backlog each benchmark drains.
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv(benchEventsEnv)); err == nil && n > 0 {
		return n
	}
	return 50_000
}

// BenchmarkInbound drains a backlog of order events (5 items each; with 0
// or 20 unknown attributes per order and per item), seeded with
// SeedOrderBacklog, from the sandbox into Kafka (kfake) with the pipeline
// and its default configuration, and reports the connector's CPU time per
// event (getrusage of this process; the sandbox, Kafka and the registry run
// in a child process), its allocations per event, events/s and its peak RSS
// during the drain (VmHWM, reset before each drain). In the same run it
// measures the raw pipe: the sandbox's pages read bare (no decoding), and
// kafka-go writing the same records bare (1000 per call); "ratio" is the
// pipeline's rate over the slower of the two.
//
// The raw pipe uses as many goroutines as the pipeline has workers (one per
// stream partition). Knobs: INBOUND_BENCH_EVENTS (backlog, default 50,000;
// the figure is 1,000,000, which seeds in seconds and drains in
// about 10 s with 5-item orders, 20-40 s with 20 unknown attributes),
// INBOUND_BENCH_PARTITIONS (default 4), INBOUND_BENCH_MAXPAGES
// (Config.MaxPagesInFlight), INBOUND_BENCH_MAXDECODING
// (Config.MaxPagesDecoding), INBOUND_BENCH_PAGEBYTES (Config.PageBytes),
// INBOUND_BENCH_HEAPPROFILE (a file for a heap profile taken halfway),
// INBOUND_BENCH_CPUPROFILE (a CPU profile of the drains),
// INBOUND_BENCH_INFRAPROFILE (a CPU profile of the child's sandbox, Kafka and
// registry during the drains).
//
//	go test -run '^$' -bench Inbound -benchtime 1x -count 3 ./pkg/inbound/
//	INBOUND_BENCH_EVENTS=1000000 go test -run '^$' -bench 'Inbound$' -benchtime 1x -count 3 -timeout 30m ./pkg/inbound/
func BenchmarkInbound(b *testing.B) {
	for _, extra := range []int{0, 20} {
		b.Run(fmt.Sprintf("extra%d", extra), func(b *testing.B) {
			benchInbound(b, benchEvents(), extra)
		})
	}
}

func benchInbound(b *testing.B, events, extra int) {
	infra := startInfra(b, events, extra)
	client := newClient(b, infra.sandbox)
	serde := newSerde(b, infra.registry)
	ctx := context.Background()

	var cpu, icpu, wall time.Duration
	var mallocs uint64
	var rss int64
	for b.Loop() {
		// A new stream holds the whole backlog.
		s, err := client.CreateStream(ctx, dsco.StreamDefinition{ObjectType: dsco.ObjectOrder, PartitionCount: benchPartitions})
		require.NoError(b, err)
		count := &countingMetrics{}
		cfg := inbound.Config{Client: client, Serde: serde, Streams: []inbound.StreamConfig{{ObjectType: "order"}},
			Kafka: inbound.KafkaConfig{Brokers: infra.brokers}, Metrics: count}
		cfg.MaxPagesInFlight, _ = strconv.Atoi(os.Getenv(benchPagesEnv))
		cfg.MaxPagesDecoding, _ = strconv.Atoi(os.Getenv(benchDecEnv))
		cfg.PageBytes, _ = strconv.Atoi(os.Getenv(benchBytesEnv))
		p, err := inbound.NewPipeline(cfg, nil)
		require.NoError(b, err)
		info := inbound.StreamInfo{ID: s.StreamID, ObjectType: "order", Partitions: benchPartitions}
		as := make([]inbound.Assignment, benchPartitions)
		for i := range as {
			as[i] = inbound.Assignment{Stream: info, Partition: i}
		}
		runtime.GC()
		resetPeakRSS(b)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		if path := os.Getenv(benchCPUEnv); path != "" {
			f, err := os.Create(path)
			require.NoError(b, err)
			require.NoError(b, pprof.StartCPUProfile(f))
			b.Cleanup(func() { pprof.StopCPUProfile(); _ = f.Close() })
		}
		infra.profile(b, true)
		cpu0, icpu0, start := cpuTime(), infra.cpu(b), time.Now()
		done := make(chan error, 1)
		go func() { done <- p.RunPartitions(ctx, as) }()
		profiled := false
		for count.published.Load() < int64(events) {
			time.Sleep(time.Millisecond)
			if path := os.Getenv(benchHeapEnv); path != "" && !profiled && count.published.Load() >= int64(events/2) {
				profiled = true
				writeHeapProfile(b, path)
			}
		}
		wall += time.Since(start)
		cpu += cpuTime() - cpu0
		icpu += infra.cpu(b) - icpu0
		infra.profile(b, false)
		if os.Getenv(benchCPUEnv) != "" {
			pprof.StopCPUProfile()
		}
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		rss = max(rss, peakRSS(b))
		require.NoError(b, p.Close())
		require.NoError(b, <-done)
		require.Zero(b, count.poisoned.Load())
	}
	n := float64(events * b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
	b.ReportMetric(float64(mallocs)/n, "allocs/event")
	b.ReportMetric(n/wall.Seconds(), "events/s")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	// The sandbox's and Kafka's CPU while the pipeline drains: with the
	// connector's, what an event costs this machine; the raw pipes need only
	// one of the two each.
	b.ReportMetric(float64(icpu.Microseconds())/n, "infra-cpu-µs/event")

	// Each raw pipe's CPU, this process's and the child's: with the
	// pipeline's, they tell how far the pipeline is from the raw pipe
	// because of its own work, and how far because the sandbox and Kafka
	// share its cores (the pipeline pays for both, each raw pipe for one).
	cpu0, icpu0 := cpuTime(), infra.cpu(b)
	read := rawRead(b, client, events)
	cpu1, icpu1 := cpuTime(), infra.cpu(b)
	write, written := rawWrite(b, client, serde, infra.brokers, events)
	cpu2, icpu2 := cpuTime(), infra.cpu(b)
	perEvent := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(perEvent(cpu1-cpu0, events), "raw-read-cpu-µs/event")
	b.ReportMetric(perEvent(icpu1-icpu0, events), "raw-read-infra-cpu-µs/event")
	b.ReportMetric(perEvent(cpu2-cpu1, written), "raw-write-cpu-µs/event")
	b.ReportMetric(perEvent(icpu2-icpu1, written), "raw-write-infra-cpu-µs/event")
	b.ReportMetric(read, "raw-read-events/s")
	b.ReportMetric(write, "raw-write-events/s")
	b.ReportMetric(n/wall.Seconds()/min(read, write), "ratio")
}

// writeHeapProfile writes the live heap to path.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	require.NoError(b, err)
	defer f.Close()
	runtime.GC()
	require.NoError(b, pprof.Lookup("heap").WriteTo(f, 0))
}

// countingMetrics counts what the pipeline published.
type countingMetrics struct {
	inbound.NopMetrics
	published, poisoned atomic.Int64
}

func (c *countingMetrics) PagePublished(_ string, _, published, poisoned int) {
	c.published.Add(int64(published))
	c.poisoned.Add(int64(poisoned))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the process's peak resident set size (VmHWM) to its
// current one, so that each sub-benchmark reports its own peak.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	require.NoError(b, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0))
}

// peakRSS is the process's peak resident set size in bytes since the last
// resetPeakRSS (VmHWM; getrusage's Maxrss cannot be reset).
func peakRSS(b *testing.B) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 10, 64)
			require.NoError(b, err)
			return n << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// rawRead reads every page of a new stream of the backlog, one goroutine
// per partition, without decoding, and returns events/s.
func rawRead(b *testing.B, client *dsco.Client, events int) float64 {
	b.Helper()
	s, err := client.CreateStream(context.Background(), dsco.StreamDefinition{ObjectType: dsco.ObjectOrder, PartitionCount: benchPartitions})
	require.NoError(b, err)
	start := time.Now()
	var wg sync.WaitGroup
	for part := range benchPartitions {
		wg.Go(func() {
			var buf []byte
			pos := ""
			for {
				var err error
				buf, err = client.GetStreamEventsRaw(context.Background(), s.StreamID,
					dsco.ReadEventsParams{Position: pos, Limit: 1000, Partition: part}, buf)
				if err != nil {
					b.Error(err)
					return
				}
				// The position and hasMore are at the end of the page.
				tail := buf[max(0, len(buf)-80):]
				i := bytes.LastIndex(tail, []byte(`"position":"`))
				j := bytes.IndexByte(tail[i+12:], '"')
				pos = string(tail[i+12 : i+12+j])
				if bytes.HasSuffix(buf, []byte(`"hasMore":false}`)) {
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(events) / time.Since(start).Seconds()
}

// rawWrite writes records like the pipeline's, 1000 per WriteMessages call
// from one goroutine per partition, with kafka-go alone, until at least
// events are written, and returns events/s and the records written.
func rawWrite(b *testing.B, client *dsco.Client, serde *schemas.Serde, brokers []string, events int) (float64, int) {
	b.Helper()
	// One page of real records, encoded as the pipeline encodes them.
	s, err := client.CreateStream(context.Background(), dsco.StreamDefinition{ObjectType: dsco.ObjectOrder})
	require.NoError(b, err)
	body, err := client.GetStreamEventsRaw(context.Background(), s.StreamID, dsco.ReadEventsParams{Limit: 1000}, nil)
	require.NoError(b, err)
	dec, err := schemas.NewEventPageDecoder("order")
	require.NoError(b, err)
	page, err := dec.Decode(body, s.StreamID)
	require.NoError(b, err)
	msgs := make([]kafkago.Message, len(page.Events))
	for i, ev := range page.Events {
		v, err := serde.Encode(ev.Record)
		require.NoError(b, err)
		msgs[i] = kafkago.Message{Topic: "dsco.order.v1", Key: []byte(ev.Record.Key()), Value: v, Headers: []kafkago.Header{
			{Key: inbound.HeaderEventID, Value: []byte(ev.EventID)}, {Key: inbound.HeaderEventType, Value: []byte(ev.EventType)},
			{Key: inbound.HeaderCorrelationID, Value: []byte(ev.EventID)}}}
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll,
		BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}
	defer w.Close()
	calls := (events + len(msgs) - 1) / len(msgs)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range benchPartitions {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				if err := w.WriteMessages(context.Background(), msgs...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(calls*len(msgs)) / time.Since(start).Seconds(), calls * len(msgs)
}

// infra is the benchmark's child process.
type infra struct {
	sandbox, registry string
	brokers           []string
	pid               int
	control           io.Writer // the child's stdin: "start" and "stop" lines
}

// profile starts (or stops) the child's CPU profile of the drains when
// INBOUND_BENCH_INFRAPROFILE names a file.
func (in infra) profile(b *testing.B, start bool) {
	b.Helper()
	if os.Getenv(benchInfraCPUEnv) == "" {
		return
	}
	line := "stop\n"
	if start {
		line = "start\n"
	}
	_, err := io.WriteString(in.control, line)
	require.NoError(b, err)
}

// cpu is the child's user+system CPU time so far (utime and stime of
// /proc/<pid>/stat, in clock ticks of 10 ms: USER_HZ is 100 on Linux).
func (in infra) cpu(b *testing.B) time.Duration {
	b.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(in.pid) + "/stat")
	require.NoError(b, err)
	// The fields after the command name, which is in parentheses and may hold
	// spaces: state is the 3rd field, utime the 14th, stime the 15th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startInfra starts TestBenchInfraChild with a backlog of events order
// events and returns its addresses; it is killed when the benchmark ends.
func startInfra(b *testing.B, events, extra int) infra {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchInfraChild$", "-test.count=1", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), benchInfraEnv+"=1", benchEventsEnv+"="+strconv.Itoa(events), benchExtraEnv+"="+strconv.Itoa(extra))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == benchInfraLine {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return infra{sandbox: f[1], registry: f[2], brokers: strings.Split(f[3], ","), pid: cmd.Process.Pid, control: stdin}
		}
	}
	b.Fatal("the benchmark's infrastructure did not start")
	return infra{}
}

// TestBenchInfraChild serves BenchmarkInbound's sandbox, Kafka and registry
// with a backlog of orders of 5 items, until stdin closes; with
// INBOUND_BENCH_INFRAPROFILE it profiles its CPU from each "start" line on
// stdin to the next "stop" (the profile holds the last drain). Run on its
// own, it skips.
func TestBenchInfraChild(t *testing.T) {
	if os.Getenv(benchInfraEnv) == "" {
		t.Skip("the infrastructure BenchmarkInbound starts")
	}
	events, _ := strconv.Atoi(os.Getenv(benchEventsEnv))
	extra, _ := strconv.Atoi(os.Getenv(benchExtraEnv))
	sb := newSandbox(t, dscotest.Config{Seed: 31})
	brokers := kafkatest.Brokers(t)
	registry := newRegistry(t)
	kafkatest.CreateTopic(t, brokers, "dsco.order.v1", 4)
	kafkatest.CreateTopic(t, brokers, "dsco.poison.v1", 1)
	// Generated orders kept as seeds (≈136 bytes each in the sandbox): a
	// backlog of a million events seeds in seconds.
	require.NoError(t, sb.SeedOrderBacklog(events, dscotest.OrderShape{Items: 5, ExtraAttributes: extra}))
	fmt.Println(benchInfraLine, sb.URL, registry, strings.Join(brokers, ","))
	path := os.Getenv(benchInfraCPUEnv)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch {
		case path == "":
		case sc.Text() == "start":
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, pprof.StartCPUProfile(f))
			t.Cleanup(func() { _ = f.Close() })
		case sc.Text() == "stop":
			pprof.StopCPUProfile()
		}
	}
}

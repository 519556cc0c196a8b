package outbound_test

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// The environment BenchmarkPipeline hands to the copy of the test binary that runs the
// pipeline (TestOutboundBenchChild).
const (
	benchChildEnv     = "OUTBOUND_BENCH_CHILD"
	benchBatchEnv     = "OUTBOUND_BENCH_BATCH"
	benchCommandsEnv  = "OUTBOUND_BENCH_COMMANDS"
	benchReportPrefix = "outbound-bench:"
	// benchProfileEnv, set when running the benchmark, names a file for the CPU profile
	// of the pipeline's process (the last child's, with several sub-benchmarks); its
	// memory profile goes to the same name with ".mem" added, its heap at the end of
	// the measurement (before it stops) to ".heap".
	benchProfileEnv = "OUTBOUND_BENCH_CPUPROFILE"
	// benchMemLimitEnv, set when running the benchmark, is the GOMEMLIMIT of the
	// pipeline's process alone (the benchmark's process keeps kfake's records).
	benchMemLimitEnv = "OUTBOUND_BENCH_GOMEMLIMIT"
)

// benchPartitions is the partition count of the benchmark's command topic, at every batch
// size: with key-ordered consumption a batch fills from few partitions.
const benchPartitions = 8

// rusageSelf is this process's resource usage.
func rusageSelf(t testing.TB) syscall.Rusage {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return ru
}

func cpuOf(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime is the process's user+system CPU time.
func cpuTime(t testing.TB) time.Duration {
	ru := rusageSelf(t)
	return cpuOf(&ru)
}

// inventoryCommands returns n inventory commands over the skus.
func inventoryCommands(prefix string, n int, skus []string) []schemas.Record {
	out := make([]schemas.Record, n)
	for i := range out {
		out[i] = &schemas.InventoryCommand{CommandID: fmt.Sprintf("%s-%d", prefix, i), SKU: skus[i%len(skus)], Quantity: i32(int32(i % 100))}
	}
	return out
}

// benchReport is what the pipeline's process measured: the steady state from its first
// outcomes to its last (CPU is the process's own: the connector's, without kfake, the
// schema registry or the sandbox, which run in the benchmark's process).
type benchReport struct {
	measured float64       // commands counted in the steady state
	elapsed  time.Duration // wall time of the steady state
	cpu      time.Duration // the child's user+system CPU in the steady state
	peakRSS  int64         // the child's peak resident set, bytes
	mallocs  uint64        // heap objects the child allocated in the steady state
	alloc    uint64        // heap bytes the child allocated in the steady state
}

// BenchmarkPipeline measures the connector alone, from kfake to the sandbox, at batch
// sizes 1, 10 and 100 (inventory commands over 1,000 skus, which Dsco can apply any number
// of times): the pipeline runs in a child process (this test binary again, running
// TestOutboundBenchChild), so its CPU is its own, while kfake, the schema registry and
// the sandbox run in this process. b.N commands wait in the command topic before the child
// starts. It reports
//   - commands/s and cpu-µs/command: the child's steady state, from its first outcomes to
//     its last (after the consumer group's start), its CPU from getrusage(RUSAGE_SELF);
//   - total-cpu-µs/command: the child's CPU over its whole life (rusage of the exited
//     child), start and shutdown included;
//   - peak-rss-MiB: the child's peak resident set size (VmHWM, read by the child itself)
//     with b.N commands waiting;
//   - allocs/command and B/command: the heap objects and bytes the child allocated in the
//     steady state (runtime.MemStats' Mallocs and TotalAlloc), per command measured: the
//     garbage the pipeline makes, which its collector's CPU follows;
//   - commands/call: how full the child's Dsco calls were, on average;
//   - raw-commands/s: the raw pipe in the same run, a bare dsco client posting the same
//     batches to the same sandbox 4 at a time; throughput-ratio is commands/s over it.
//
// Run it (benchmarks are noisy on a shared machine: use -count 3):
//
//	go test -run '^$' -bench Pipeline -benchtime 20000x -count 3 ./pkg/outbound/
//	go test -run '^$' -bench 'Pipeline/batch=100' -benchtime 1000000x ./pkg/outbound/  # peak RSS, 1M waiting
//
// OUTBOUND_BENCH_GOMEMLIMIT=80MiB runs the pipeline's process with that GOMEMLIMIT.
// OUTBOUND_BENCH_CPUPROFILE=/tmp/child.prof profiles the pipeline's process (CPU, and
// allocations in /tmp/child.prof.mem); read it with go tool pprof -top outbound.test
// /tmp/child.prof (go test -c builds the binary).
func BenchmarkPipeline(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			e := newQuietEnv(b, dscotest.Config{Seed: 51})
			_, err := e.sandbox.SeedOrders(0) // the catalog the inventory names
			require.NoError(b, err)
			skus := make([]string, 1000)
			for i := range skus {
				skus[i] = fmt.Sprintf("SKU-B%04d", i)
			}
			var items []dsco.CatalogItem
			for _, s := range skus {
				items = append(items, dsco.CatalogItem{SKU: s, Title: "bench"})
			}
			_, err = e.client(outbound.RoleSupplier).SupplierUpdateCatalog(context.Background(), dsco.CatalogBatchRequest{Items: items})
			require.NoError(b, err)
			kafkatest.CreateTopic(b, e.brokers, e.topic("inventory"), benchPartitions)
			n := max(b.N, 20*size)
			cmds := inventoryCommands("b", n, skus)
			for i := 0; i < len(cmds); i += 1000 {
				e.send(cmds[i:min(i+1000, len(cmds))]...)
			}
			calls0 := e.sandbox.Stats().Calls["supplierUpdateInventory"]
			b.ResetTimer()
			rep, total := runBenchChild(b, e, size, n)
			b.StopTimer()
			b.ReportMetric(float64(n)/float64(e.sandbox.Stats().Calls["supplierUpdateInventory"]-calls0), "commands/call")
			b.ReportMetric(rep.measured/rep.elapsed.Seconds(), "commands/s")
			b.ReportMetric(float64(rep.cpu.Microseconds())/rep.measured, "cpu-µs/command")
			b.ReportMetric(float64(cpuOf(total).Microseconds())/float64(n), "total-cpu-µs/command")
			b.ReportMetric(float64(rep.peakRSS)/(1<<20), "peak-rss-MiB")
			b.ReportMetric(float64(rep.mallocs)/rep.measured, "allocs/command")
			b.ReportMetric(float64(rep.alloc)/rep.measured, "B/command")

			// The raw pipe: the same batches, posted by a bare client, 4 at a time.
			client := e.client(outbound.RoleSupplier)
			t0 := time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 4)
			for i := 0; i < n; i += size {
				batch := make([]dsco.InventoryItem, 0, size)
				for _, c := range cmds[i:min(i+size, n)] {
					ic := c.(*schemas.InventoryCommand)
					batch = append(batch, dsco.InventoryItem{SKU: ic.SKU, Quantity: int(*ic.Quantity)})
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					_, err := client.SupplierUpdateInventory(context.Background(), dsco.InventoryBatchRequest{Items: batch})
					if err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			raw := float64(n) / time.Since(t0).Seconds()
			b.ReportMetric(raw, "raw-commands/s")
			b.ReportMetric((rep.measured/rep.elapsed.Seconds())/raw, "throughput-ratio")
		})
	}
}

// runBenchChild runs the pipeline in a child process until it has an outcome for n
// commands, and returns its report and its resource usage.
func runBenchChild(b *testing.B, e *env, size, n int) (benchReport, *syscall.Rusage) {
	b.Helper()
	args := []string{"-test.run=^TestOutboundBenchChild$", "-test.count=1", "-test.timeout=30m"}
	if prof := os.Getenv(benchProfileEnv); prof != "" {
		args = append(args, "-test.cpuprofile="+prof, "-test.memprofile="+prof+".mem")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		benchChildEnv+"=1",
		benchBatchEnv+"="+strconv.Itoa(size),
		benchCommandsEnv+"="+strconv.Itoa(n),
		crashBrokersEnv+"="+strings.Join(e.brokers, ","),
		crashRegistryEnv+"="+e.registry,
		crashDscoEnv+"="+e.dscoURL,
		crashPrefixEnv+"="+strings.TrimSuffix(e.results, ".results"),
		crashGroupEnv+"="+kafkatest.Name("g"),
	)
	if limit := os.Getenv(benchMemLimitEnv); limit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+limit)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	var rep benchReport
	var out strings.Builder
	found := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if rest, ok := strings.CutPrefix(line, benchReportPrefix); ok {
			var elapsed, cpu int64
			_, err := fmt.Sscanf(rest, " measured=%g elapsed=%d cpu=%d hwm=%d mallocs=%d alloc=%d", &rep.measured, &elapsed, &cpu, &rep.peakRSS, &rep.mallocs, &rep.alloc)
			require.NoError(b, err, "the child's report %q", line)
			rep.elapsed, rep.cpu = time.Duration(elapsed), time.Duration(cpu)
			b.Log(line)
			found = true
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	require.NoError(b, err, "the pipeline's process\n%s%s", out.String(), stderr.String())
	require.True(b, found, "the pipeline's process reported nothing\n%s%s", out.String(), stderr.String())
	return rep, cmd.ProcessState.SysUsage().(*syscall.Rusage)
}

// TestOutboundBenchChild is the pipeline BenchmarkPipeline runs in a process of its own:
// it consumes the commands waiting in the benchmark's topic, prints its steady-state
// figures once every one has an outcome, and stops. Run on its own, it skips.
func TestOutboundBenchChild(t *testing.T) {
	if os.Getenv(benchChildEnv) == "" {
		t.Skip("the pipeline BenchmarkPipeline runs in a child process")
	}
	size, err := strconv.Atoi(os.Getenv(benchBatchEnv))
	require.NoError(t, err)
	n, err := strconv.Atoi(os.Getenv(benchCommandsEnv))
	require.NoError(t, err)
	e := newEnvOn(t, strings.Split(os.Getenv(crashBrokersEnv), ","), os.Getenv(crashRegistryEnv), nil, os.Getenv(crashPrefixEnv))
	e.dscoURL = os.Getenv(crashDscoEnv)
	reg := &commandCounter{Registry: prometheus.NewRegistry()}
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.MaxBatchItems = size
	cfg.Registerer = reg
	cfg.MaxBatchWait = 10 * time.Millisecond
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(os.Getenv(crashGroupEnv)), Pipeline: cfg})
	// Measured from the first outcomes on: the consumer group's start (joins, a reader
	// per partition) is not the steady state. The counter is read every 10ms: often
	// enough for the figures, seldom enough to cost little CPU.
	var first float64
	for first = reg.count(t); first < float64(min(n/20, 500)); first = reg.count(t) {
		time.Sleep(10 * time.Millisecond)
	}
	var ms0, ms runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, t0 := cpuTime(t), time.Now()
	for done := first; done < float64(n); done = reg.count(t) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed, cpu := time.Since(t0), cpuTime(t)-cpu0
	runtime.ReadMemStats(&ms)
	if prof := os.Getenv(benchProfileEnv); prof != "" {
		// The heap while the pipeline still runs (the memory profile is taken at exit).
		f, err := os.Create(prof + ".heap")
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(f))
		require.NoError(t, f.Close())
	}
	fmt.Printf("%s measured=%g elapsed=%d cpu=%d hwm=%d mallocs=%d alloc=%d heap-inuse-MiB=%d stacks-MiB=%d go-sys-MiB=%d goroutines=%d\n", benchReportPrefix,
		float64(n)-first, elapsed.Nanoseconds(), cpu.Nanoseconds(), peakRSS(t), ms.Mallocs-ms0.Mallocs, ms.TotalAlloc-ms0.TotalAlloc,
		ms.HeapInuse>>20, ms.StackInuse>>20, ms.Sys>>20, runtime.NumGoroutine())
}

// peakRSS is this process's peak resident set size in bytes (VmHWM of /proc/self/status).
// The rusage of an exited child is no measure of it: Go starts children with vfork, so
// the child's ru_maxrss includes its parent's resident set at the exec.
func peakRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err, "VmHWM in %q", line)
			return kib << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// commandCounter registers the pipeline's metrics and keeps its commands_total collector,
// so that the benchmark's child reads that counter alone (count): gathering every metric
// of the pipeline allocates about 36 KB, which the child's B/command counted at each of
// its reads, every 10ms (a hundred bytes per command at batch 100, 800 at batch 1).
type commandCounter struct {
	*prometheus.Registry
	commands prometheus.Collector
}

func (r *commandCounter) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc, 16)
	c.Describe(descs)
	close(descs)
	for d := range descs {
		if strings.Contains(d.String(), `fqName: "dsco_outbound_commands_total"`) {
			r.commands = c
		}
	}
	return nil
}

// count sums the pipeline's commands_total counter.
func (r *commandCounter) count(t testing.TB) float64 {
	t.Helper()
	require.NotNil(t, r.commands, "dsco_outbound_commands_total registered")
	ms := make(chan prometheus.Metric, 128) // command types × statuses: Collect does not block
	r.commands.Collect(ms)
	close(ms)
	sum := 0.0
	for m := range ms {
		var d dto.Metric
		require.NoError(t, m.Write(&d))
		sum += d.GetCounter().GetValue()
	}
	return sum
}

// counted sums the pipeline's commands_total counter.
func counted(t testing.TB, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "dsco_outbound_commands_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

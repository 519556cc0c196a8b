package schemas_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// The inbound hot path: a page of 1,000 order events of 5 items each,
// exactly as the sandbox serves it (its own serialisation of orders sent
// through retailer order-in with the attributes its generator adds), and
// the same with 20 unknown attributes on every object (order, line,
// address). Reported per event: wall ns, process CPU µs (getrusage, user +
// system, so GC work on the other core counts) and heap allocations.

// benchOrderPage returns a sandbox page of n order events of 5 items,
// with unknown extra attributes on each object besides the sandbox's own.
func benchOrderPage(b *testing.B, n, unknown int) []byte {
	b.Helper()
	sb := newDjSandbox(b)
	_, err := sb.srv.SeedOrders(0) // lists the catalog
	require.NoError(b, err)
	extra := func(prefix string) string {
		var s strings.Builder
		for i := range unknown {
			fmt.Fprintf(&s, `,"%sAttr%02d":"value of attribute %d for %s"`, prefix, i, i, prefix)
		}
		return s.String()
	}
	for start := 0; start < n; start += 100 {
		var orders []string
		for i := start; i < min(n, start+100); i++ {
			var items []string
			for j := 1; j <= 5; j++ {
				sku := fmt.Sprintf("SKU-%05d", 1+(i*5+j)%50)
				items = append(items, fmt.Sprintf(`{"lineItemId":"PO-B%07d-%d","sku":"%s","quantity":%d,"cost":%d.%02d,"price":%d.%02d,"retailerItemId":"R-%s"%s}`,
					i, j, sku, 1+j%3, 2+i%70, j*7%100, 5+i%90, j*13%100, sku, extra("line")))
			}
			orders = append(orders, fmt.Sprintf(`{"orderId":"PO-B%07d","orderType":"Dropship","channel":"web","consumerOrderNumber":"C%09d","requestedShipMethod":"Ground"%s,`+
				`"items":[%s],"shippingAddress":{"name":"Olivia Smith","street1":"%d Main St","city":"Salt Lake City","state":"UT","postalCode":"84101","country":"US","phone":"+1-555-010-%04d"%s}}`,
				i, i, extra("order"), strings.Join(items, ","), 100+i, i%10000, extra("address")))
		}
		sb.retailerCall(b, http.MethodPost, "/retailer/order-in", `{"orders":[`+strings.Join(orders, ",")+`]}`)
	}
	pages := sb.pages(b, "order", n)
	require.Len(b, pages, 1)
	return pages[0]
}

func djCPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// djPerEvent runs fn b.N times and reports per-event figures for a page of
// events events.
func djPerEvent(b *testing.B, events int, fn func()) {
	b.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := djCPUTime()
	b.ResetTimer()
	for b.Loop() {
		fn()
	}
	b.StopTimer()
	cpu = djCPUTime() - cpu
	runtime.ReadMemStats(&after)
	n := float64(b.N * events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/event")
}

func BenchmarkDecodeEventPage(b *testing.B) {
	for _, unknown := range []int{0, 20} {
		b.Run(fmt.Sprintf("orders=1000/items=5/unknown=%d", unknown), func(b *testing.B) {
			body := benchOrderPage(b, 1000, unknown)
			b.Logf("page: %d bytes, %d per event", len(body), len(body)/1000)
			dec, err := schemas.NewEventPageDecoder("order")
			require.NoError(b, err)
			b.SetBytes(int64(len(body)))
			djPerEvent(b, 1000, func() {
				page, err := dec.Decode(body, "stream-1")
				if err != nil || len(page.Events) != 1000 || page.Events[999].Err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkDecodeEncodeEventPage(b *testing.B) {
	for _, unknown := range []int{0, 20} {
		b.Run(fmt.Sprintf("orders=1000/items=5/unknown=%d", unknown), func(b *testing.B) {
			body := benchOrderPage(b, 1000, unknown)
			serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
			dec, err := schemas.NewEventPageDecoder("order")
			require.NoError(b, err)
			buf := make([]byte, 0, 4<<20)
			b.SetBytes(int64(len(body)))
			djPerEvent(b, 1000, func() {
				page, err := dec.Decode(body, "stream-1")
				if err != nil {
					b.Fatal(err)
				}
				buf = buf[:0]
				for _, ev := range page.Events {
					if buf, err = serde.AppendEncode(buf, ev.Record); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkDecodeEventPageDscoModels is the baseline: the same page
// through pkg/dsco's models (encoding/json), as the issue measured it.
func BenchmarkDecodeEventPageDscoModels(b *testing.B) {
	body := benchOrderPage(b, 1000, 0)
	b.SetBytes(int64(len(body)))
	djPerEvent(b, 1000, func() {
		var page dsco.StreamEvents
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		for _, ev := range page.Events {
			if _, err := ev.Order(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

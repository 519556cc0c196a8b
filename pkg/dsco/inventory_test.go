package dsco

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInventoryQueryValidate(t *testing.T) {
	yes := true
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		q       InventoryQuery
		wantErr string
	}{
		{"high-water mark", InventoryQuery{ResultType: ResultObjects, HighWaterMarkQuery: "m", OmitItemsOnHold: &yes, Limit: 1000}, ""},
		{"item id", InventoryQuery{ResultType: ResultObjects, ItemIDQuery: &ItemIDQuery{ItemKey: ItemKeySKU, Value: "s"}}, ""},
		{"date range", InventoryQuery{ResultType: ResultObjects, DateQuery: &DateQuery{StartDate: day, EndDate: day.Add(time.Hour)}}, ""},
		{"file", InventoryQuery{ResultType: ResultFile, HighWaterMarkQuery: "m", CallbackURL: "https://cb.example/x", CallbackHeaders: []CallbackHeader{{Name: "a", Value: "b"}}}, ""},
		{"no query", InventoryQuery{ResultType: ResultObjects}, "exactly one"},
		{"two queries", InventoryQuery{ResultType: ResultObjects, HighWaterMarkQuery: "m", ItemIDQuery: &ItemIDQuery{ItemKey: ItemKeySKU, Value: "s"}}, "exactly one"},
		{"bad item key", InventoryQuery{ResultType: ResultObjects, ItemIDQuery: &ItemIDQuery{ItemKey: "upc", Value: "s"}}, "itemKey"},
		{"empty item value", InventoryQuery{ResultType: ResultObjects, ItemIDQuery: &ItemIDQuery{ItemKey: ItemKeyDscoItemID}}, "value is empty"},
		{"half date range", InventoryQuery{ResultType: ResultObjects, DateQuery: &DateQuery{StartDate: day}}, "startDate and endDate"},
		{"reversed date range", InventoryQuery{ResultType: ResultObjects, DateQuery: &DateQuery{StartDate: day, EndDate: day.Add(-time.Hour)}}, "before"},
		{"both supplier ids", InventoryQuery{ResultType: ResultObjects, HighWaterMarkQuery: "m", DscoSupplierID: 1, DscoSupplierTradingPartnerID: "p"}, "exclude"},
		{"limit too big", InventoryQuery{ResultType: ResultObjects, HighWaterMarkQuery: "m", Limit: 1001}, "limit"},
		{"callback with objects", InventoryQuery{ResultType: ResultObjects, HighWaterMarkQuery: "m", CallbackURL: "https://cb.example"}, "only with resultType file"},
		{"file without callback", InventoryQuery{ResultType: ResultFile, HighWaterMarkQuery: "m"}, "callbackUrl is required"},
		{"relative callback", InventoryQuery{ResultType: ResultFile, HighWaterMarkQuery: "m", CallbackURL: "/cb"}, "absolute"},
		{"header without value", InventoryQuery{ResultType: ResultFile, HighWaterMarkQuery: "m", CallbackURL: "https://cb.example", CallbackHeaders: []CallbackHeader{{Name: "a"}}}, "callbackHeaders[0]"},
		{"unknown result type", InventoryQuery{ResultType: "csv", HighWaterMarkQuery: "m"}, "resultType"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.q.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidRequest)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestGetItemInventoryWire(t *testing.T) {
	f := newFakeDsco(t)
	var params atomic.Value
	f.handle("GET /inventory", func(w http.ResponseWriter, r *http.Request) {
		params.Store(r.URL.Query().Get("params"))
		writeJSON(w, 200, `{"items":[{"dscoItemId":"d","sku":"s","dscoSupplierId":1001,"quantityAvailable":3,"status":"in-stock","warehouses":[{"warehouseId":"WH1","quantity":3}],"lastUpdate":"2026-11-24T10:00:00Z"}],"highWaterMark":"hw-2","hasMore":true}`)
	})
	c := newTestClient(t, f.url())
	no := false
	start := time.Date(2026, 11, 1, 10, 30, 0, 0, time.FixedZone("", 3600))
	page, err := c.GetItemInventory(t.Context(), InventoryQuery{
		DateQuery: &DateQuery{StartDate: start, EndDate: start.Add(24 * time.Hour)}, ClearQuantityForStoppedItems: &no, Limit: 50,
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"resultType":"objects","dateQuery":{"startDate":"2026-11-01T10:30:00.000+01:00","endDate":"2026-11-02T10:30:00.000+01:00"},"clearQuantityForStoppedItems":false,"limit":50}`,
		params.Load().(string))
	assert.Equal(t, "hw-2", page.HighWaterMark)
	assert.True(t, page.HasMore)
	require.Len(t, page.Items, 1)
	assert.Equal(t, 3, page.Items[0].Warehouses[0].Quantity)

	_, err = c.GetItemInventory(t.Context(), InventoryQuery{ResultType: ResultFile, HighWaterMarkQuery: "m"})
	require.ErrorIs(t, err, ErrInvalidRequest)
}

func TestDownloadInventoryFile(t *testing.T) {
	const item = `{"dscoItemId":"d%d","sku":"s%d","quantityAvailable":%d,"status":"in-stock","lastUpdate":"2026-11-24T10:00:00Z","brand":"b"}` + "\n"
	cases := []struct {
		name      string
		body      func(w http.ResponseWriter)
		wantItems int
		wantErr   func(t *testing.T, err error)
	}{
		{"all lines", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			for i := range 1000 {
				fmt.Fprintf(w, item, i, i, i)
			}
		}, 1000, nil},
		{"empty file", func(w http.ResponseWriter) {}, 0, nil},
		{"malformed line stops with a permanent error", func(w http.ResponseWriter) {
			fmt.Fprintf(w, item, 0, 0, 0)
			fmt.Fprint(w, "{not json}\n")
		}, 1, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "item 2")
			assert.False(t, IsRetryable(err))
		}},
		{"cut-off body is retryable", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "10000")
			fmt.Fprintf(w, item, 0, 0, 0)
			fmt.Fprint(w, `{"sku":"s`)
		}, 1, func(t *testing.T, err error) {
			assert.True(t, IsRetryable(err), "%v", err)
		}},
		{"expired file", func(w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }, 0, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrGone)
			assert.False(t, IsRetryable(err))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /files/f1", func(w http.ResponseWriter, r *http.Request) {
				assert.Empty(t, r.Header.Get("Authorization"), "no bearer token to the file URL")
				tc.body(w)
			})
			fileSrv := newLoopbackServer(t, mux)
			c := newTestClient(t, f.url())
			n := 0
			var last error
			for it, err := range c.DownloadInventoryFile(t.Context(), fileSrv+"/files/f1") {
				if err != nil {
					last = err
					break
				}
				assert.Equal(t, fmt.Sprintf("s%d", n), it.SKU)
				assert.JSONEq(t, `"b"`, string(it.Extra["brand"]))
				n++
			}
			assert.Equal(t, tc.wantItems, n)
			if tc.wantErr == nil {
				require.NoError(t, last)
			} else {
				require.Error(t, last)
				tc.wantErr(t, last)
			}
			assert.Zero(t, f.tokens.Load())
		})
	}
	t.Run("early break closes the download", func(t *testing.T) {
		f := newFakeDsco(t)
		fileSrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range 100 {
				fmt.Fprintf(w, item, i, i, i)
			}
		}))
		c := newTestClient(t, f.url())
		n := 0
		for _, err := range c.DownloadInventoryFile(context.Background(), fileSrv+"/f") {
			require.NoError(t, err)
			if n++; n == 3 {
				break
			}
		}
		assert.Equal(t, 3, n)
	})
	t.Run("remote plain http refused", func(t *testing.T) {
		c := newTestClient(t, newFakeDsco(t).url())
		for _, err := range c.DownloadInventoryFile(t.Context(), "http://files.example.com/f") {
			require.ErrorIs(t, err, ErrInvalidRequest)
		}
	})
}

// TestDownloadInventoryFileRaw: the file's bytes exactly, in chunks of
// whole lines, with DownloadInventoryFile's errors.
func TestDownloadInventoryFileRaw(t *testing.T) {
	line := func(i, pad int) string {
		return fmt.Sprintf(`{"sku":"s%d","quantityAvailable":%d,"note":"%s"}`, i, i, strings.Repeat("x", pad)) + "\n"
	}
	many := func(n, pad int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(line(i, pad))
		}
		return b.String()
	}
	cases := []struct {
		name    string
		file    string
		cut     bool // the connection ends before Content-Length bytes
		status  int
		wantErr func(t *testing.T, err error)
	}{
		{name: "several chunks", file: many(20000, 100)},
		{name: "one short line", file: line(1, 0)},
		{name: "no final newline", file: strings.TrimSuffix(many(3, 0), "\n")},
		{name: "empty file", file: ""},
		{name: "a line longer than a chunk", file: line(0, 10) + line(1, 3*fileChunk) + line(2, 10)},
		{name: "malformed lines are the caller's", file: "{not json}\n" + line(1, 0)},
		{name: "cut-off body is retryable", file: many(30000, 100), cut: true, wantErr: func(t *testing.T, err error) {
			assert.True(t, IsRetryable(err), "%v", err)
		}},
		{name: "expired file", status: http.StatusGone, wantErr: func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrGone)
			assert.False(t, IsRetryable(err))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			fileSrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Empty(t, r.Header.Get("Authorization"), "no bearer token to the file URL")
				if tc.status != 0 {
					w.WriteHeader(tc.status)
					return
				}
				body := tc.file
				if tc.cut {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)+100))
				}
				_, _ = io.WriteString(w, body)
			}))
			c := newTestClient(t, f.url())
			var got bytes.Buffer
			var last error
			for chunk, err := range c.DownloadInventoryFileRaw(t.Context(), fileSrv+"/f") {
				if err != nil {
					last = err
					break
				}
				require.NotEmpty(t, chunk)
				if len(chunk) > fileChunk {
					longest := 0
					for l := range bytes.Lines(chunk) {
						longest = max(longest, len(l))
					}
					assert.Greater(t, longest, fileChunk, "only a line longer than the chunk size makes a chunk longer")
				}
				if chunk[len(chunk)-1] != '\n' {
					require.Equal(t, got.Len()+len(chunk), len(tc.file), "only the file's last chunk ends without a newline")
				}
				got.Write(chunk)
			}
			if tc.wantErr != nil {
				require.Error(t, last)
				tc.wantErr(t, last)
				return
			}
			require.NoError(t, last)
			assert.Equal(t, tc.file, got.String(), "the file's bytes exactly")
			assert.Zero(t, f.tokens.Load())
		})
	}
	t.Run("early break closes the download", func(t *testing.T) {
		f := newFakeDsco(t)
		fileSrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, many(30000, 100))
		}))
		c := newTestClient(t, f.url())
		n := 0
		for _, err := range c.DownloadInventoryFileRaw(context.Background(), fileSrv+"/f") {
			require.NoError(t, err)
			n++
			break
		}
		assert.Equal(t, 1, n)
	})
	t.Run("remote plain http refused", func(t *testing.T) {
		c := newTestClient(t, newFakeDsco(t).url())
		n := 0
		for _, err := range c.DownloadInventoryFileRaw(t.Context(), "http://files.example.com/f") {
			require.ErrorIs(t, err, ErrInvalidRequest)
			n++
		}
		assert.Equal(t, 1, n)
	})
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends and returns
// its URL.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDownloadInventoryFileRawSkipsLongLines: a line longer than the client
// reads (WithMaxFileLine, its newline counted) is yielded as a
// *LineTooLongError with where it is, how long, its start and its sum, and
// the lines after it still come, byte-exact, in chunks of whole lines.
func TestDownloadInventoryFileRawSkipsLongLines(t *testing.T) {
	const limit = 1024
	line := func(i, size int) string { // a line of size bytes, its newline not counted
		s := fmt.Sprintf(`{"sku":"s%d","note":"`, i)
		return s + strings.Repeat("x", max(0, size-len(s)-2)) + `"}`
	}
	many := func(from, n int) []string {
		var out []string
		for i := range n {
			out = append(out, line(from+i, 100))
		}
		return out
	}
	type piece struct {
		lines []string
		long  bool // longer than the limit
	}
	good := func(lines ...string) piece { return piece{lines: lines} }
	long := func(l string) piece { return piece{lines: []string{l}, long: true} }
	cases := []struct {
		name      string
		limit     int
		pieces    []piece
		noFinalNL bool // the file's last line has no newline
	}{
		{name: "between good lines", limit: limit, pieces: []piece{good(line(0, 10)), long(line(1, 3*limit)), good(line(2, 10))}},
		{name: "the first line", limit: limit, pieces: []piece{long(line(0, 5*limit)), good(line(1, 10), line(2, 10))}},
		{name: "the last line", limit: limit, pieces: []piece{good(line(0, 10)), long(line(1, 2*limit))}},
		{name: "the last line, without a newline", limit: limit, pieces: []piece{good(line(0, 10)), long(line(1, 2*limit))}, noFinalNL: true},
		{name: "two in a row", limit: limit, pieces: []piece{good(line(0, 10)), long(line(1, 2*limit)), long(line(2, limit+1)), good(line(3, 10))}},
		{name: "one byte short of the limit fits", limit: limit, pieces: []piece{good(line(0, limit-1), line(1, 10))}},
		{name: "the limit with its newline is too long", limit: limit, pieces: []piece{long(line(0, limit)), good(line(1, 10))}},
		{name: "among many chunks", limit: 64 << 10, pieces: []piece{good(many(0, 2000)...), long(line(1, 200<<10)), good(many(3000, 2000)...)}},
		{name: "longer than a chunk and than the limit", limit: 3 * fileChunk, pieces: []piece{good(line(0, 10), line(1, 2*fileChunk)), long(line(2, 4*fileChunk)), good(line(3, 10))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var file, kept strings.Builder
			var want []LineTooLongError
			n := int64(0)
			for _, p := range tc.pieces {
				for _, l := range p.lines {
					n++
					if p.long {
						h := fnv.New64a()
						_, _ = io.WriteString(h, l)
						want = append(want, LineTooLongError{Operation: "downloadInventoryFile", Line: n, Offset: int64(file.Len()),
							Length: int64(len(l)), Limit: tc.limit, Head: []byte(l[:min(len(l), tc.limit, 64<<10)]), Sum: h.Sum64()})
					} else {
						kept.WriteString(l + "\n")
					}
					file.WriteString(l + "\n")
				}
			}
			body, wantKept := file.String(), kept.String()
			if tc.noFinalNL {
				body = strings.TrimSuffix(body, "\n")
				if !tc.pieces[len(tc.pieces)-1].long {
					wantKept = strings.TrimSuffix(wantKept, "\n")
				}
			}
			fileSrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, body)
			}))
			c := newTestClient(t, newFakeDsco(t).url(), WithMaxFileLine(tc.limit))
			var got bytes.Buffer
			var errs []LineTooLongError
			var heads [][]byte
			for chunk, err := range c.DownloadInventoryFileRaw(t.Context(), fileSrv+"/f") {
				if err != nil {
					lerr, ok := errors.AsType[*LineTooLongError](err)
					require.True(t, ok, "only long lines are errors: %v", err)
					assert.ErrorIs(t, err, ErrAnswerTooLarge)
					assert.False(t, IsRetryable(err))
					assert.ErrorContains(t, err, fmt.Sprintf("line %d of the file", lerr.Line))
					errs = append(errs, *lerr)
					heads = append(heads, bytes.Clone(lerr.Head)) // valid until the iteration goes on
					continue
				}
				require.NotEmpty(t, chunk)
				if chunk[len(chunk)-1] != '\n' {
					require.Equal(t, got.Len()+len(chunk), len(wantKept), "only the file's last chunk ends without a newline")
				}
				got.Write(chunk)
			}
			// Not assert.Equal: the lines are too long to print.
			assert.True(t, wantKept == got.String(), "the other lines, byte-exact: %d bytes, want %d", got.Len(), len(wantKept))
			require.Len(t, errs, len(want), "each long line once")
			for i := range want {
				assert.True(t, bytes.Equal(want[i].Head, heads[i]), "the start of line %d: %.40q, want %.40q", want[i].Line, heads[i], want[i].Head)
				errs[i].Head, want[i].Head = nil, nil
			}
			assert.Equal(t, want, errs, "where each long line is, its length and its sum")
		})
	}
}

// TestDownloadInventoryFileRawLineAtTheLimit: a line the client reads whole
// is at most the limit with its newline, or the limit itself when it is the
// file's last and has none; one byte more is a *LineTooLongError. That holds
// whatever pieces the body comes in: here a chunked body, the server
// flushing each piece and ending the body only once the client has read
// every byte of it, so that no read returns the last bytes and the body's
// end together.
func TestDownloadInventoryFileRawLineAtTheLimit(t *testing.T) {
	type tc struct {
		name          string
		limit         int
		first         bool // a short line comes before the line tried
		size, piece   int  // the line's length, its newline not counted; the body's pieces
		newline, fits bool
	}
	var cases []tc
	const limit = 64
	for _, first := range []bool{false, true} {
		for _, size := range []int{limit - 1, limit, limit + 1} {
			for _, newline := range []bool{true, false} {
				for _, piece := range []int{1, 7, limit} {
					fits := size <= limit-1 || size == limit && !newline
					cases = append(cases, tc{fmt.Sprintf("first %t, limit%+d, newline %t, %d-byte pieces", first, size-limit, newline, piece),
						limit, first, size, piece, newline, fits})
				}
			}
		}
	}
	// A limit past the first buffer (fileChunk), which grows to the limit.
	for _, newline := range []bool{true, false} {
		cases = append(cases, tc{fmt.Sprintf("limit past a chunk, newline %t", newline), fileChunk + 10, false, fileChunk + 10, 64 << 10, newline, !newline})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, tried, line := "", strings.Repeat("x", tc.size), int64(1)
			if tc.first {
				before, line = "{\"sku\":\"s0\"}\n", 2
			}
			if tc.newline {
				tried += "\n"
			}
			body := before + tried
			consumed := make(chan struct{}) // the client read every byte of the body
			fileSrv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for rest := body; rest != ""; {
					n := min(tc.piece, len(rest))
					_, _ = io.WriteString(w, rest[:n])
					w.(http.Flusher).Flush()
					rest = rest[n:]
				}
				select { // the body ends, in a read of its own
				case <-consumed:
				case <-r.Context().Done():
				}
			}))
			hc := &http.Client{Transport: &readCounter{RoundTripper: http.DefaultTransport, want: int64(len(body)), done: consumed}}
			t.Cleanup(hc.CloseIdleConnections)
			c := newTestClient(t, newFakeDsco(t).url(), WithMaxFileLine(tc.limit), WithHTTPClient(hc))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var got strings.Builder
			var long []*LineTooLongError
			for chunk, err := range c.DownloadInventoryFileRaw(ctx, fileSrv+"/f") {
				if lerr, ok := errors.AsType[*LineTooLongError](err); ok {
					long = append(long, lerr)
					continue
				}
				require.NoError(t, err)
				got.Write(chunk)
			}
			if tc.fits {
				assert.Empty(t, long, "the line fits")
				assert.True(t, body == got.String(), "every line, byte-exact: %d bytes, want %d", got.Len(), len(body))
				return
			}
			require.Len(t, long, 1, "the line is too long")
			assert.Equal(t, line, long[0].Line)
			assert.EqualValues(t, tc.size, long[0].Length)
			assert.Equal(t, before, got.String(), "the lines before it")
		})
	}
}

// readCounter is a RoundTripper whose answers' bodies close done once want
// bytes were read from them.
type readCounter struct {
	http.RoundTripper
	want int64
	done chan struct{}
}

func (rc *readCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rc.RoundTripper.RoundTrip(r)
	if err == nil {
		resp.Body = &countedBody{ReadCloser: resp.Body, rc: rc}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	rc   *readCounter
	read int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.read < b.rc.want && b.read+int64(n) >= b.rc.want {
		close(b.rc.done)
	}
	b.read += int64(n)
	return n, err
}

package dsco

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"net/http"
	"net/url"
)

// The Raw methods return answers as Dsco sent them, for callers that decode
// them in one pass themselves (the inbound pipeline and the inventory
// poller): the same requests, tokens, rate limits, retries and errors as the
// decoding methods, but no decoding. Their bodies are not checked beyond
// their size: they are the caller's to validate.

// GetStreamEventsRaw is GetStreamEvents returning the answer's body as Dsco
// sent it. The body is appended to buf[:0], which is grown when needed and
// returned, so that a caller reading page after page reuses one buffer; the
// returned slice is the caller's until it passes it to the next call.
//
// The body is at most 64 MiB. A body that cannot be read to its end is a
// retryable *NetworkError.
func (c *Client) GetStreamEventsRaw(ctx context.Context, streamID string, p ReadEventsParams, buf []byte) ([]byte, error) {
	q := p.query()
	u := c.base + "/streams/" + url.PathEscape(streamID) + "/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return c.getRaw(ctx, opGetStreamEvents, u, buf)
}

// GetItemInventoryRaw is GetItemInventory (resultType objects) returning the
// answer's body, the InventoryPage as Dsco sent it, with GetStreamEventsRaw's
// buffer rules: the body is appended to buf[:0] and the slice returned is
// the caller's until it passes it to the next call. q.ResultType may be
// left empty; an invalid q is refused before anything is sent.
func (c *Client) GetItemInventoryRaw(ctx context.Context, q InventoryQuery, buf []byte) ([]byte, error) {
	if q.ResultType == "" {
		q.ResultType = ResultObjects
	}
	if q.ResultType != ResultObjects {
		return buf[:0], fmt.Errorf("%w: GetItemInventoryRaw returns objects; use RequestItemInventoryFile for files", ErrInvalidRequest)
	}
	query, err := inventoryQuery(q)
	if err != nil {
		return buf[:0], err
	}
	return c.getRaw(ctx, opGetItemInventory, c.base+"/inventory?"+query.Encode(), buf)
}

// getRaw GETs u and appends the body of its 2xx answer to buf[:0].
func (c *Client) getRaw(ctx context.Context, op *operation, u string, buf []byte) ([]byte, error) {
	resp, err := c.send(ctx, op, http.MethodGet, u, nil)
	if err != nil {
		return buf[:0], err
	}
	defer c.closeBody(resp.Body)
	b := bytes.NewBuffer(buf[:0])
	if resp.ContentLength > 0 && resp.ContentLength <= maxBody {
		b.Grow(int(resp.ContentLength) + 1) // +1: ReadFrom's final read sees EOF without growing
	}
	n, err := b.ReadFrom(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return b.Bytes()[:0], &NetworkError{Operation: op.name, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if n > maxBody {
		return b.Bytes()[:0], fmt.Errorf("%w: %s: more than %d bytes", ErrAnswerTooLarge, op.name, maxBody)
	}
	return b.Bytes(), nil
}

// fileChunk is the size of the chunks DownloadInventoryFileRaw yields,
// unless a single line is longer.
const fileChunk = 1 << 20

// lineHead bounds the start of a line too long to read that a
// LineTooLongError carries.
const lineHead = 64 << 10

// DownloadInventoryFileRaw is DownloadInventoryFile yielding the file's
// bytes as Dsco sent them instead of decoded items: the same request (no
// bearer token; https unless loopback or WithInsecureHTTP) and errors. The
// bytes come in chunks of whole lines: every chunk ends with a newline but
// the file's last, which ends where the file does, so each holds whole
// items. Chunks hold about 1 MiB (less when WithMaxFileLine is lower); a
// line longer than that grows the chunks to hold it. A chunk is valid until
// the iteration goes on.
//
// A line longer than the client reads (64 MiB, or WithMaxFileLine, its
// newline counted; the file's last line, when it has none, may be as long
// as the limit) is not read into memory: its bytes are read and dropped
// up to its newline, and a *LineTooLongError (where it is, its length, its
// start and its sum) is yielded in its place; the iteration then goes on
// with the next line. Any other error is yielded once, last: a body cut off
// is a retryable *NetworkError, an expired file matches ErrGone. The
// download starts when the iteration does, and the body is closed when it
// ends.
func (c *Client) DownloadInventoryFileRaw(ctx context.Context, fileURL string) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		op := opDownloadInventoryFile
		if err := checkURL(fileURL, c.insecure); err != nil {
			yield(nil, fmt.Errorf("%w: inventory file URL: %w", ErrInvalidRequest, err))
			return
		}
		resp, err := c.send(ctx, op, http.MethodGet, fileURL, nil)
		if err != nil {
			yield(nil, err)
			return
		}
		defer c.closeBody(resp.Body)
		f := fileReader{body: resp.Body, ctx: ctx, op: op.name, buf: make([]byte, min(fileChunk, c.maxLine)), line: 1}
		for {
			if err := f.fill(); err != nil {
				yield(nil, err)
				return
			}
			if f.eof {
				if f.n > 0 {
					yield(f.buf[:f.n], nil)
				}
				return
			}
			end := bytes.LastIndexByte(f.buf[:f.n], '\n') + 1
			if end == 0 { // one line fills the buffer
				if len(f.buf) < c.maxLine {
					f.buf = append(f.buf, make([]byte, min(len(f.buf), c.maxLine-len(f.buf)))...)
					continue
				}
				// maxLine bytes and no newline: too long, unless the file ends
				// here (its last line, without a newline, is maxLine bytes).
				// The body may say so only in a read of its own.
				next, err := f.peek()
				if err != nil {
					yield(nil, err)
					return
				}
				if next == nil {
					yield(f.buf[:f.n], nil)
					return
				}
				long, err := f.skipLine(c.maxLine, next)
				if err != nil {
					yield(nil, err)
					return
				}
				if !yield(nil, long) {
					return
				}
				continue
			}
			if !yield(f.buf[:end], nil) {
				return
			}
			f.line += int64(bytes.Count(f.buf[:end], []byte{'\n'}))
			f.off += int64(end)
			f.n = copy(f.buf, f.buf[end:f.n])
		}
	}
}

// fileReader reads an inventory file's body for DownloadInventoryFileRaw.
type fileReader struct {
	body io.Reader
	ctx  context.Context
	op   string
	buf  []byte
	n    int    // bytes of buf read and not yet yielded
	eof  bool   // the body has no more
	line int64  // the number of the line at buf[0]
	off  int64  // the offset in the file of buf[0]
	head []byte // the start of the last line too long, reused
	one  [1]byte
}

// read reads from the body into p, noting its end.
func (f *fileReader) read(p []byte) (int, error) {
	m, err := f.body.Read(p)
	switch {
	case err == io.EOF:
		f.eof = true
	case err != nil && f.ctx.Err() != nil:
		return m, fmt.Errorf("dsco: %s: reading the file: %w", f.op, context.Cause(f.ctx))
	case err != nil:
		// The body was cut off: downloading again may work.
		return m, &NetworkError{Operation: f.op, Err: fmt.Errorf("reading the file: %w", err)}
	}
	return m, nil
}

// fill reads until buf is full or the body ends.
func (f *fileReader) fill() error {
	for f.n < len(f.buf) && !f.eof {
		m, err := f.read(f.buf[f.n:])
		f.n += m
		if err != nil {
			return err
		}
	}
	return nil
}

// peek reads the byte that follows buf from the body: nil when the body
// ends first.
func (f *fileReader) peek() ([]byte, error) {
	for !f.eof {
		m, err := f.read(f.one[:])
		if err != nil {
			return nil, err
		}
		if m > 0 {
			return f.one[:m], nil
		}
	}
	return nil, nil
}

// skipLine drops the line that fills buf, newline-less, then next (what
// peek read after buf), and the rest of the line from the body, up to its
// newline, holding no more than buf; it leaves in buf what follows the
// newline.
func (f *fileReader) skipLine(limit int, next []byte) (*LineTooLongError, error) {
	f.head = append(f.head[:0], f.buf[:min(f.n, lineHead)]...)
	sum := fnv.New64a()
	_, _ = sum.Write(f.buf[:f.n])
	length := int64(f.n)
	f.n = 0
	// ended takes p, read after what came before: the line's bytes, up to its
	// newline, and what follows that into buf. It reports whether the line
	// ended.
	ended := func(p []byte) bool {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			_, _ = sum.Write(p)
			length += int64(len(p))
			return false
		}
		_, _ = sum.Write(p[:i])
		length += int64(i)
		f.n = copy(f.buf, p[i+1:])
		return true
	}
	for done := ended(next); !done && !f.eof; {
		m, err := f.read(f.buf)
		if err != nil {
			return nil, err
		}
		done = ended(f.buf[:m])
	}
	long := &LineTooLongError{Operation: f.op, Line: f.line, Offset: f.off, Length: length, Limit: limit, Head: f.head, Sum: sum.Sum64()}
	f.line++
	f.off += length + 1
	return long, nil
}

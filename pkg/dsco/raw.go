package dsco

import (
	"bytes"
	"context"
	"fmt"
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
	defer resp.Body.Close()
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

// DownloadInventoryFileRaw is DownloadInventoryFile yielding the file's
// bytes as Dsco sent them instead of decoded items: the same request (no
// bearer token; https unless loopback or WithInsecureHTTP) and errors. The
// bytes come in chunks of whole lines: every chunk ends with a newline but
// the file's last, which ends where the file does, so each holds whole
// items. Chunks hold about 1 MiB; a line longer than that grows the chunks
// to hold it (a line longer than 64 MiB is an error). A chunk is valid until
// the iteration goes on. The download starts when the iteration does, and the body is closed
// when it ends. An error is yielded once, last; a body cut off is a
// retryable *NetworkError, an expired file matches ErrGone.
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
		defer resp.Body.Close()
		buf := make([]byte, fileChunk)
		n := 0 // bytes of buf read and not yet yielded
		for {
			eof := false
			for n < len(buf) && !eof {
				m, err := resp.Body.Read(buf[n:])
				n += m
				switch {
				case err == io.EOF:
					eof = true
				case err != nil && ctx.Err() != nil:
					yield(nil, fmt.Errorf("dsco: %s: reading the file: %w", op.name, context.Cause(ctx)))
					return
				case err != nil:
					// The body was cut off: downloading again may work.
					yield(nil, &NetworkError{Operation: op.name, Err: fmt.Errorf("reading the file: %w", err)})
					return
				}
			}
			if eof {
				if n > 0 {
					yield(buf[:n], nil)
				}
				return
			}
			end := bytes.LastIndexByte(buf[:n], '\n') + 1
			if end == 0 { // one line fills the buffer
				if len(buf) >= maxBody {
					yield(nil, fmt.Errorf("dsco: %s: a line of the file is longer than %d bytes", op.name, maxBody))
					return
				}
				buf = append(buf, make([]byte, min(len(buf), maxBody-len(buf)))...)
				continue
			}
			if !yield(buf[:end], nil) {
				return
			}
			n = copy(buf, buf[end:n])
		}
	}
}

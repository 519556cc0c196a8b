package dsco

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// GetStreamEventsRaw is GetStreamEvents returning the answer's body as Dsco
// sent it, for callers that decode pages themselves in one pass (the inbound
// pipeline): the same request, token, rate limit, retries and errors, but no
// decoding. The body is appended to buf[:0], which is grown when needed and
// returned, so that a caller reading page after page reuses one buffer; the
// returned slice is the caller's until it passes it to the next call.
//
// The body is not checked beyond its size (at most 64 MiB): it is the
// caller's to validate. A body that cannot be read to its end is a
// retryable *NetworkError.
func (c *Client) GetStreamEventsRaw(ctx context.Context, streamID string, p ReadEventsParams, buf []byte) ([]byte, error) {
	q := url.Values{}
	if p.Position != "" {
		q.Set("position", p.Position)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Partition != 0 {
		q.Set("partition", strconv.Itoa(p.Partition))
	}
	op := opGetStreamEvents
	u := c.base + "/streams/" + url.PathEscape(streamID) + "/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
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
		return b.Bytes()[:0], fmt.Errorf("dsco: %s: the answer is larger than %d bytes", op.name, maxBody)
	}
	return b.Bytes(), nil
}

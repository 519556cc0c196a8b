package dscotest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// env is one sandbox on a loopback port with a client whose traffic is
// checked against the contract.
type env struct {
	t      testing.TB
	srv    *dscotest.Server
	client *http.Client // checks requests and responses
	loose  *http.Client // checks responses only, for invalid requests
	clock  *clock
}

// clock is a settable time source for Config.Now.
type clock struct {
	ch chan time.Time
}

func newClock(t time.Time) *clock {
	c := &clock{ch: make(chan time.Time, 1)}
	c.ch <- t
	return c
}

func (c *clock) Now() time.Time {
	t := <-c.ch
	c.ch <- t
	return t
}

func (c *clock) Add(d time.Duration) {
	t := <-c.ch
	c.ch <- t.Add(d)
}

func newEnv(t testing.TB, cfg dscotest.Config) *env {
	t.Helper()
	c := newClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	srv, err := dscotest.NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, clock: c,
		client: &http.Client{Transport: dscotest.ValidatingTransport(t, http.DefaultTransport), Timeout: 30 * time.Second},
		loose:  &http.Client{Transport: dscotest.ResponseValidatingTransport(t, http.DefaultTransport), Timeout: 30 * time.Second},
	}
}

// token gets a bearer token for an account.
func (e *env) token(id, secret string) string {
	e.t.Helper()
	status, body := e.tokenCall(id, secret)
	require.Equal(e.t, http.StatusOK, status, string(body))
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(e.t, json.Unmarshal(body, &tok))
	require.Equal(e.t, "Bearer", tok.TokenType)
	require.NotEmpty(e.t, tok.AccessToken)
	return tok.AccessToken
}

func (e *env) tokenCall(id, secret string) (int, []byte) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := e.client.Post(e.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

func (e *env) supplier() string {
	return e.token(dscotest.SupplierClientID, dscotest.SupplierClientSecret)
}

func (e *env) retailer() string {
	return e.token(dscotest.RetailerClientID, dscotest.RetailerClientSecret)
}

// call sends a request with a bearer token (none if tok is empty) and a
// JSON body (none if body is nil) and returns the status and body.
func (e *env) call(method, path, tok string, body any) (int, []byte) {
	e.t.Helper()
	resp := e.do(method, path, tok, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

func (e *env) do(method, path, tok string, body any) *http.Response {
	e.t.Helper()
	return e.doWith(e.client, method, path, tok, body)
}

// callLoose is call for requests that are invalid on purpose.
func (e *env) callLoose(method, path, tok string, body any) (int, []byte) {
	e.t.Helper()
	resp := e.doWith(e.loose, method, path, tok, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

func (e *env) doWith(c *http.Client, method, path, tok string, body any) *http.Response {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	require.NoError(e.t, err)
	return resp
}

// callJSON is call that requires want and decodes the body into out.
func (e *env) callJSON(want int, method, path, tok string, body, out any) {
	e.t.Helper()
	status, b := e.call(method, path, tok, body)
	require.Equal(e.t, want, status, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(e.t, json.Unmarshal(b, out), string(b))
	}
}

type batchResponse struct {
	BatchID string `json:"batchId"`
	Status  string `json:"status"`
	Errors  []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
}

func (b batchResponse) fields() []string {
	out := []string{}
	for _, e := range b.Errors {
		out = append(out, e.Field)
	}
	return out
}

func (b batchResponse) codes() []string {
	out := []string{}
	for _, e := range b.Errors {
		out = append(out, e.Code)
	}
	return out
}

// write posts a batch and decodes the BatchResponse.
func (e *env) write(want int, path, tok string, body any) batchResponse {
	e.t.Helper()
	var br batchResponse
	e.callJSON(want, http.MethodPost, path, tok, body, &br)
	require.NotEmpty(e.t, br.BatchID)
	require.NotNil(e.t, br.Errors)
	return br
}

type orderJSON struct {
	OrderID   string `json:"orderId"`
	OrderType string `json:"orderType"`
	Status    string `json:"status"`
	Items     []struct {
		LineItemID        string `json:"lineItemId"`
		SKU               string `json:"sku"`
		Quantity          int    `json:"quantity"`
		Status            string `json:"status"`
		QuantityShipped   int    `json:"quantityShipped"`
		QuantityCancelled int    `json:"quantityCancelled"`
	} `json:"items"`
	Extra map[string]any `json:"-"`
}

func (e *env) order(tok, id string) orderJSON {
	e.t.Helper()
	var o orderJSON
	e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out/"+id, tok, nil, &o)
	return o
}

// newOrder is a valid retailer order with n lines of quantity 2.
func newOrder(id string, n int) map[string]any {
	items := []map[string]any{}
	for i := range n {
		items = append(items, map[string]any{
			"lineItemId": id + "-L" + string(rune('1'+i)), "sku": "SKU-00001", "quantity": 2, "cost": 10.5, "price": 19.99,
		})
	}
	return map[string]any{
		"orderId": id, "orderType": "Dropship", "items": items,
		"shippingAddress":     map[string]any{"name": "Ada Lovelace", "street1": "1 Main St", "city": "Lehi", "state": "UT", "postalCode": "84043", "country": "US"},
		"consumerOrderNumber": "C-" + id,
	}
}

func (e *env) createOrders(tok string, orders ...map[string]any) {
	e.t.Helper()
	br := e.write(http.StatusOK, "/retailer/order-in", tok, map[string]any{"orders": orders})
	require.Empty(e.t, br.Errors)
	require.Equal(e.t, "completed", br.Status)
}

type streamJSON struct {
	StreamID       string `json:"streamId"`
	ObjectType     string `json:"objectType"`
	PartitionCount int    `json:"partitionCount"`
	Partitions     []struct {
		Partition int    `json:"partition"`
		Position  string `json:"position"`
	} `json:"partitions"`
}

type eventJSON struct {
	EventID    string         `json:"eventId"`
	EventType  string         `json:"eventType"`
	ObjectType string         `json:"objectType"`
	Timestamp  string         `json:"timestamp"`
	Data       map[string]any `json:"data"`
}

type eventsJSON struct {
	Events   []eventJSON `json:"events"`
	Position string      `json:"position"`
	HasMore  bool        `json:"hasMore"`
}

func (e *env) createStream(tok, objectType string, partitions int, query map[string]any) streamJSON {
	e.t.Helper()
	def := map[string]any{"objectType": objectType, "partitionCount": partitions}
	if query != nil {
		def["queryParams"] = query
	}
	var s streamJSON
	e.callJSON(http.StatusOK, http.MethodPost, "/streams", tok, def, &s)
	require.Len(e.t, s.Partitions, partitions)
	return s
}

func (e *env) events(tok, streamID, query string) eventsJSON {
	e.t.Helper()
	var ev eventsJSON
	e.callJSON(http.StatusOK, http.MethodGet, "/streams/"+streamID+"/events"+query, tok, nil, &ev)
	return ev
}

// drain reads a partition from its stored position to the end.
func (e *env) drain(tok, streamID string, partition int, limit int) []eventJSON {
	e.t.Helper()
	var all []eventJSON
	pos := ""
	for {
		q := url.Values{"limit": {itoa(limit)}, "partition": {itoa(partition)}}
		if pos != "" {
			q.Set("position", pos)
		}
		ev := e.events(tok, streamID, "?"+q.Encode())
		all = append(all, ev.Events...)
		pos = ev.Position
		if !ev.HasMore {
			return all
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

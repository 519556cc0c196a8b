package dscotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// invChange is one inventory change with the item's state after it.
type invChange struct {
	ts  int64
	sku string
	raw []byte // ItemInventory JSON
}

// changeLog holds inventory changes in order: changes[i] has sequence
// base+i; the first change ever has sequence 1.
type changeLog struct {
	base    uint64
	changes []invChange
}

func (l *changeLog) append(c invChange, cutoff int64) {
	if l.base == 0 {
		l.base = 1
	}
	if k := sort.Search(len(l.changes), func(i int) bool { return l.changes[i].ts >= cutoff }); k > 0 {
		clear(l.changes[:k])
		l.changes = l.changes[k:]
		l.base += uint64(k)
		if cap(l.changes) > 1024 && len(l.changes) < cap(l.changes)/4 {
			l.changes = append(make([]invChange, 0, len(l.changes)*2), l.changes...)
		}
	}
	l.changes = append(l.changes, c)
}

// last is the sequence of the newest change, 0 when there is none.
func (l *changeLog) last() uint64 {
	if l.base == 0 {
		return 0
	}
	return l.base + uint64(len(l.changes)) - 1
}

const markPrefix = "hwm1-"

func formatMark(seq uint64) string { return markPrefix + strconv.FormatUint(seq, 10) }

var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", time.DateOnly}

// parseISODate accepts the isodate forms of the GetItemInventory document:
// 2014-01-01T10:30:00.000+01:00, ...+0100 and ...Z (and a plain date).
func parseISODate(s string) (time.Time, bool) {
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

type inventoryParams struct {
	ResultType                   string          `json:"resultType"`
	HighWaterMarkQuery           *string         `json:"highWaterMarkQuery"`
	ItemIDQuery                  *itemIDQuery    `json:"itemIdQuery"`
	DateQuery                    *dateQuery      `json:"dateQuery"`
	DscoSupplierID               *int64          `json:"dscoSupplierId"`
	DscoSupplierTradingPartnerID *string         `json:"dscoSupplierTradingPartnerId"`
	AssortmentID                 string          `json:"assortmentId"`
	OmitItemsOnHold              *bool           `json:"omitItemsOnHold"`
	ClearQuantityForStoppedItems *bool           `json:"clearQuantityForStoppedItems"`
	CallbackURL                  string          `json:"callbackUrl"`
	CallbackHeaders              json.RawMessage `json:"callbackHeaders"`
	Limit                        *int            `json:"limit"`
}

type itemIDQuery struct {
	ItemKey string `json:"itemKey"`
	Value   string `json:"value"`
}

type dateQuery struct {
	StartDate string `json:"startDate"`
	EndDate   string `json:"endDate"`
}

type callbackHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// inventoryQuery is a validated GetItemInventory request.
type inventoryQuery struct {
	p         inventoryParams
	from      uint64    // highWaterMarkQuery: changes after this sequence
	fromDate  time.Time // highWaterMarkQuery given as a date
	byDate    bool
	start     time.Time
	end       time.Time
	limit     int
	headers   []callbackHeader
	noResults bool // a retailer filtered on another supplier
}

const (
	defaultInventoryLimit = 100
	maxInventoryLimit     = 1000
)

func parseInventoryParams(raw string, ro role) (*inventoryQuery, fieldErrors) {
	var errs fieldErrors
	if raw == "" {
		errs.add("REQUIRED", "params", "the params query parameter (a JSON object) is required")
		return nil, errs
	}
	q := &inventoryQuery{limit: defaultInventoryLimit}
	if err := json.Unmarshal([]byte(raw), &q.p); err != nil {
		errs.add("INVALID_FIELD", "params", "params is not a valid JSON object: %v", err)
		return nil, errs
	}
	p := &q.p
	var kinds []string
	if p.HighWaterMarkQuery != nil {
		kinds = append(kinds, "highWaterMarkQuery")
	}
	if p.ItemIDQuery != nil {
		kinds = append(kinds, "itemIdQuery")
	}
	if p.DateQuery != nil {
		kinds = append(kinds, "dateQuery")
	}
	switch len(kinds) {
	case 0:
		errs.add("REQUIRED", "params.highWaterMarkQuery", "exactly one of highWaterMarkQuery, itemIdQuery or dateQuery is required")
	case 1:
	default:
		errs.add("INVALID_FIELD", "params."+kinds[1], "only one of highWaterMarkQuery, itemIdQuery or dateQuery may be given, got %s", strings.Join(kinds, " and "))
	}
	switch p.ResultType {
	case "":
		p.ResultType = "objects"
	case "objects", "file":
	default:
		errs.add("INVALID_FIELD", "params.resultType", "resultType must be objects or file")
	}
	if ro == roleSupplier {
		if p.DscoSupplierID != nil {
			errs.add("INVALID_FIELD", "params.dscoSupplierId", "dscoSupplierId may only be given by a retailer")
		}
		if p.DscoSupplierTradingPartnerID != nil {
			errs.add("INVALID_FIELD", "params.dscoSupplierTradingPartnerId", "dscoSupplierTradingPartnerId may only be given by a retailer")
		}
	} else if p.DscoSupplierID != nil && p.DscoSupplierTradingPartnerID != nil {
		errs.add("INVALID_FIELD", "params.dscoSupplierTradingPartnerId", "give dscoSupplierId or dscoSupplierTradingPartnerId, not both")
	}
	if ro == roleRetailer {
		if (p.DscoSupplierID != nil && *p.DscoSupplierID != SupplierID) ||
			(p.DscoSupplierTradingPartnerID != nil && *p.DscoSupplierTradingPartnerID != SupplierClientID) {
			q.noResults = true
		}
	}
	if p.ResultType == "file" {
		if p.CallbackURL == "" {
			errs.add("REQUIRED", "params.callbackUrl", "callbackUrl is required when resultType is file")
		} else if u, err := url.Parse(p.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add("INVALID_FIELD", "params.callbackUrl", "callbackUrl must be an absolute http or https URL")
		}
	} else {
		if p.CallbackURL != "" {
			errs.add("INVALID_FIELD", "params.callbackUrl", "callbackUrl is only allowed when resultType is file")
		}
		if len(p.CallbackHeaders) > 0 {
			errs.add("INVALID_FIELD", "params.callbackHeaders", "callbackHeaders are only allowed when resultType is file")
		}
	}
	if len(p.CallbackHeaders) > 0 && p.ResultType == "file" {
		if err := json.Unmarshal(p.CallbackHeaders, &q.headers); err != nil {
			errs.add("INVALID_FIELD", "params.callbackHeaders", "callbackHeaders must be an array of {name, value}")
		}
		for i, h := range q.headers {
			if h.Name == "" {
				errs.add("REQUIRED", itemPath("params.callbackHeaders", i, "name"), "name is required")
			}
			if h.Value == "" {
				errs.add("REQUIRED", itemPath("params.callbackHeaders", i, "value"), "value is required")
			}
		}
	}
	if p.Limit != nil {
		if *p.Limit < 1 || *p.Limit > maxInventoryLimit {
			errs.add("INVALID_FIELD", "params.limit", "limit must be 1..%d", maxInventoryLimit)
		} else {
			q.limit = *p.Limit
		}
	}
	if p.HighWaterMarkQuery != nil {
		m := *p.HighWaterMarkQuery
		if rest, ok := strings.CutPrefix(m, markPrefix); ok {
			seq, err := strconv.ParseUint(rest, 10, 64)
			if err != nil {
				errs.add("INVALID_FIELD", "params.highWaterMarkQuery", "malformed highWaterMark")
			}
			q.from = seq
		} else if t, ok := parseISODate(m); ok {
			q.fromDate = t
		} else {
			errs.add("INVALID_FIELD", "params.highWaterMarkQuery", "highWaterMarkQuery must be a highWaterMark returned earlier or an ISO 8601 date")
		}
	}
	if iq := p.ItemIDQuery; iq != nil {
		if iq.ItemKey != "sku" && iq.ItemKey != "dscoItemId" {
			errs.add("INVALID_FIELD", "params.itemIdQuery.itemKey", "itemKey must be sku or dscoItemId")
		}
		if iq.Value == "" {
			errs.add("REQUIRED", "params.itemIdQuery.value", "value is required")
		}
	}
	if dq := p.DateQuery; dq != nil {
		q.byDate = true
		var ok bool
		if q.start, ok = parseISODate(dq.StartDate); !ok {
			errs.add("INVALID_FIELD", "params.dateQuery.startDate", "startDate must be an ISO 8601 date")
		}
		if q.end, ok = parseISODate(dq.EndDate); !ok {
			errs.add("INVALID_FIELD", "params.dateQuery.endDate", "endDate must be an ISO 8601 date")
		}
		if len(errs) == 0 && q.end.Before(q.start) {
			errs.add("INVALID_FIELD", "params.dateQuery.endDate", "endDate is before startDate")
		}
	}
	return q, errs
}

// inventoryPage is the objects result.
type inventoryPage struct {
	Items         []json.RawMessage `json:"items"`
	HighWaterMark string            `json:"highWaterMark"`
	HasMore       bool              `json:"hasMore"`
}

// query runs q; limit < 0 means no page limit (files). Callers hold s.mu.
func (s *Sandbox) query(q *inventoryQuery, limit int) (inventoryPage, *batchError, int) {
	l := &s.st.invLog
	page := inventoryPage{Items: []json.RawMessage{}, HighWaterMark: formatMark(l.last())}
	if limit < 0 {
		limit = math.MaxInt32 // not MaxInt: start+limit must not overflow
	}
	switch {
	case q.p.HighWaterMarkQuery != nil:
		cutoff := s.now().Add(-s.cfg.Retention).UnixNano()
		first := sort.Search(len(l.changes), func(i int) bool { return l.changes[i].ts >= cutoff })
		var start int // index of the first change to return
		if q.fromDate.IsZero() {
			if q.from > l.last() {
				return page, &batchError{Code: "INVALID_FIELD", Field: "params.highWaterMarkQuery",
					Message: "highWaterMark is beyond the newest change"}, http.StatusBadRequest
			}
			oldest := l.base + uint64(first)
			if l.base > 0 && q.from+1 < oldest {
				return page, &batchError{Code: "POSITION_EXPIRED", Field: "params.highWaterMarkQuery",
					Message: fmt.Sprintf("changes after this highWaterMark are older than the retention; the oldest available is %s", formatMark(oldest-1))}, http.StatusGone
			}
			if l.base > 0 {
				start = int(q.from + 1 - l.base)
			}
		} else {
			ts := q.fromDate.UnixNano()
			start = max(first, sort.Search(len(l.changes), func(i int) bool { return l.changes[i].ts >= ts }))
		}
		end := start
		if !q.noResults {
			end = min(len(l.changes), start+limit)
			for _, c := range l.changes[start:end] {
				page.Items = append(page.Items, c.raw)
			}
		} else {
			end = len(l.changes)
		}
		if end > 0 {
			page.HighWaterMark = formatMark(l.base + uint64(end) - 1)
		} else if l.base > 0 {
			page.HighWaterMark = formatMark(l.base - 1)
		} else {
			page.HighWaterMark = formatMark(0)
		}
		page.HasMore = end < len(l.changes)
	case q.p.ItemIDQuery != nil:
		if q.noResults {
			break
		}
		for _, sku := range s.inventorySKUs() {
			it := s.st.inventory[sku]
			if (q.p.ItemIDQuery.ItemKey == "sku" && sku == q.p.ItemIDQuery.Value) ||
				(q.p.ItemIDQuery.ItemKey == "dscoItemId" && dscoItemID(sku) == q.p.ItemIDQuery.Value) {
				b, _ := json.Marshal(it.view())
				page.Items = append(page.Items, b)
			}
		}
	case q.byDate:
		if q.noResults {
			break
		}
		for _, sku := range s.inventorySKUs() {
			it := s.st.inventory[sku]
			if it.updated.Before(q.start) || it.updated.After(q.end) {
				continue
			}
			if len(page.Items) == limit {
				page.HasMore = true
				break
			}
			b, _ := json.Marshal(it.view())
			page.Items = append(page.Items, b)
		}
	}
	return page, nil, 0
}

func (s *Sandbox) inventorySKUs() []string {
	skus := make([]string, 0, len(s.st.inventory))
	for sku := range s.st.inventory {
		skus = append(skus, sku)
	}
	slices.Sort(skus)
	return skus
}

type invFile struct {
	data    []byte
	expires time.Time
}

func (s *Sandbox) handleGetItemInventory(w http.ResponseWriter, r *http.Request, req *request) {
	q, errs := parseInventoryParams(r.URL.Query().Get("params"), req.role)
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	if q.p.ResultType == "objects" {
		s.mu.RLock()
		page, berr, status := s.query(q, q.limit)
		s.mu.RUnlock()
		if berr != nil {
			writeBatchErrors(w, status, []batchError{*berr})
			return
		}
		writeJSON(w, http.StatusOK, page)
		return
	}

	s.mu.Lock()
	page, berr, status := s.query(q, -1)
	if berr != nil {
		s.mu.Unlock()
		writeBatchErrors(w, status, []batchError{*berr})
		return
	}
	var buf bytes.Buffer
	for _, it := range page.Items {
		buf.Write(it)
		buf.WriteByte('\n')
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.st.files[id] = &invFile{data: buf.Bytes(), expires: s.now().Add(s.cfg.FileTTL)}
	s.mu.Unlock()

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	fileURL := scheme + "://" + r.Host + BasePath + "/inventory/files/" + id
	s.bg.Add(1)
	go s.deliverCallback(q.p.CallbackURL, q.headers, id, fileURL)
	writeJSON(w, http.StatusOK, map[string]string{"requestId": id})
}

// deliverCallback posts {requestId, fileUrl} to the callback URL, retrying
// a few times on failure. Close cancels it.
func (s *Sandbox) deliverCallback(callbackURL string, headers []callbackHeader, id, fileURL string) {
	defer s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	body, _ := json.Marshal(map[string]string{"requestId": id, "fileUrl": fileURL})
	client := &http.Client{Timeout: 10 * time.Second}
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(body))
		if err != nil {
			s.log.Warn("dscotest: building the inventory file callback", "requestId", id, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := client.Do(req)
		if err != nil {
			s.log.Warn("dscotest: inventory file callback failed", "requestId", id, "attempt", attempt+1, "err", err)
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 300 {
			s.log.Debug("dscotest: inventory file callback delivered", "requestId", id)
			return
		}
		s.log.Warn("dscotest: inventory file callback refused", "requestId", id, "status", resp.StatusCode)
	}
}

func (s *Sandbox) handleInventoryFile(w http.ResponseWriter, r *http.Request, req *request) {
	id := req.params["requestId"]
	s.mu.Lock()
	f := s.st.files[id]
	var data []byte
	expired := false
	if f != nil {
		if !s.now().Before(f.expires) {
			f.data = nil // keep the entry so that late downloads get 410, not 404
			expired = true
		}
		data = f.data
	}
	s.mu.Unlock()
	switch {
	case f == nil:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no inventory file "+id, "requestId")
	case expired:
		writeError(w, http.StatusGone, "FILE_EXPIRED", "inventory file "+id+" has expired", "requestId")
	default:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
	}
}

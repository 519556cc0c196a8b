package dscotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// fieldErrors collects the BatchErrors of one request.
type fieldErrors []batchError

func (e *fieldErrors) add(code, field, format string, args ...any) {
	*e = append(*e, batchError{Code: code, Message: fmt.Sprintf(format, args...), Field: field})
}

func itemPath(array string, i int, field string) string {
	p := array + "[" + strconv.Itoa(i) + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// decodeBatch decodes the array property of a batch request into items.
// A missing or empty array is a 400.
func decodeBatch[T any](w http.ResponseWriter, body []byte, array string) ([]T, bool) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_BODY", "the body is not a JSON object: "+err.Error(), "")
		return nil, false
	}
	raw, ok := env[array]
	if !ok || string(raw) == "null" {
		writeError(w, http.StatusBadRequest, "REQUIRED", array+" is required", array)
		return nil, false
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", array+" must be an array", array)
		return nil, false
	}
	if len(elems) == 0 {
		writeError(w, http.StatusBadRequest, "REQUIRED", array+" must not be empty", array)
		return nil, false
	}
	items := make([]T, len(elems))
	var errs fieldErrors
	for i, e := range elems {
		if err := json.Unmarshal(e, &items[i]); err != nil {
			errs.add("INVALID_FIELD", itemPath(array, i, ""), "%v", err)
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return nil, false
	}
	return items, true
}

// finishBatch answers a batch that passed validation: 200, completed when
// at least one item applied.
func finishBatch(w http.ResponseWriter, n int, errs fieldErrors) {
	if errs == nil {
		errs = fieldErrors{}
	}
	writeJSON(w, http.StatusOK, batchResponse{BatchID: newBatchID(), Status: batchStatus(n, errs), Errors: errs})
}

// batchStatus is "completed" when at least one of n items applied, else
// "failed".
func batchStatus(n int, errs fieldErrors) string {
	failed := map[string]bool{}
	for _, e := range errs {
		failed[itemOf(e.Field)] = true
	}
	if len(failed) >= n {
		return "failed"
	}
	return "completed"
}

// itemOf returns the "array[i]" prefix of a field path.
func itemOf(field string) string {
	for i := 0; i < len(field); i++ {
		if field[i] == ']' {
			return field[:i+1]
		}
	}
	return field
}

// ---- orders ----

// compact returns b without insignificant white space (nil for null or
// invalid JSON).
func compact(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil
	}
	return buf.Bytes()
}

type orderIn struct {
	OrderID         string                       `json:"orderId"`
	OrderType       string                       `json:"orderType"`
	Items           []map[string]json.RawMessage `json:"items"`
	ShippingAddress json.RawMessage              `json:"shippingAddress"`
	extra           map[string]json.RawMessage
}

func (o *orderIn) UnmarshalJSON(b []byte) error {
	type plain orderIn
	// status, createdAt and updatedAt are Dsco's to set: dropped, not kept.
	return unmarshalKeepingExtra(b, (*plain)(o), &o.extra,
		"orderId", "orderType", "items", "shippingAddress", "status", "createdAt", "updatedAt")
}

func (s *Sandbox) handleCreateOrders(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[orderIn](w, req.body, "orders")
	if !ok {
		return
	}
	orders, errs := s.parseOrders(in)
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(orders), func() fieldErrors {
		errs = s.applyOrders(req.op, orders)
		return errs
	})
}

// parseOrders checks the rules that need no state and builds the orders.
func (s *Sandbox) parseOrders(in []orderIn) ([]*order, fieldErrors) {
	var errs fieldErrors
	out := make([]*order, len(in))
	now := s.now()
	for i, oi := range in {
		f := func(field string) string { return itemPath("orders", i, field) }
		if oi.OrderID == "" {
			errs.add("REQUIRED", f("orderId"), "orderId is required")
		}
		switch oi.OrderType {
		case "Dropship", "Marketplace":
		case "":
			errs.add("REQUIRED", f("orderType"), "orderType is required (Dropship or Marketplace)")
		default:
			errs.add("INVALID_FIELD", f("orderType"), "orderType must be Dropship or Marketplace")
		}
		if len(oi.Items) == 0 {
			errs.add("REQUIRED", f("items"), "an order needs at least one item")
		}
		o := &order{id: oi.OrderID, orderType: oi.OrderType, status: StatusCreated, createdAt: now, updatedAt: now,
			address: compact(oi.ShippingAddress), extra: toExtra(oi.extra)}
		seen := map[string]bool{}
		for j, raw := range oi.Items {
			lf := func(field string) string { return f("items[" + strconv.Itoa(j) + "]." + field) }
			li := &lineItem{status: LineOpen}
			var quantity *int
			for key, dst := range map[string]any{"lineItemId": &li.id, "sku": &li.sku, "quantity": &quantity, "cost": &li.cost, "price": &li.price} {
				if v, ok := raw[key]; ok {
					if err := json.Unmarshal(v, dst); err != nil {
						errs.add("INVALID_FIELD", lf(key), "%v", err)
					}
				}
			}
			extra := make(map[string]json.RawMessage, len(raw))
			for k, v := range raw {
				switch k {
				case "lineItemId", "sku", "quantity", "cost", "price", "status", "quantityShipped", "quantityCancelled", "quantityReturned":
				default:
					extra[k] = v
				}
			}
			li.extra = toExtra(extra)
			if li.id == "" {
				li.id = oi.OrderID + "-" + strconv.Itoa(j+1)
			}
			if seen[li.id] {
				errs.add("INVALID_FIELD", lf("lineItemId"), "duplicate lineItemId %q", li.id)
			}
			seen[li.id] = true
			if li.sku == "" {
				errs.add("REQUIRED", lf("sku"), "sku is required")
			}
			switch {
			case quantity == nil:
				errs.add("REQUIRED", lf("quantity"), "quantity is required")
			case *quantity <= 0:
				errs.add("INVALID_FIELD", lf("quantity"), "quantity must be positive")
			default:
				li.quantity = *quantity
			}
			if li.cost == nil && oi.OrderType == "Dropship" {
				errs.add("REQUIRED", lf("cost"), "Dropship order items need a cost")
			}
			if li.cost != nil && li.cost.negative() {
				errs.add("INVALID_FIELD", lf("cost"), "cost must not be negative")
			}
			if li.price != nil && li.price.negative() {
				errs.add("INVALID_FIELD", lf("price"), "price must not be negative")
			}
			o.items = append(o.items, li)
		}
		out[i] = o
	}
	return out, errs
}

// applyOrders creates orders and counts them as applied by op (none when
// op is empty: generated orders); callers hold s.mu.
func (s *Sandbox) applyOrders(op string, orders []*order) fieldErrors {
	var errs fieldErrors
	for i, o := range orders {
		if s.orderExists(o.id) {
			errs.add("ORDER_EXISTS", itemPath("orders", i, "orderId"), "order %s already exists", o.id)
			continue
		}
		s.st.orders[o.id] = o
		s.st.byStatus[o.status]++
		s.st.orderRefs = append(s.st.orderRefs, orderRef{id: o.id})
		if op != "" {
			s.st.countApplied(op, o.id)
		}
		s.emit(ObjectOrder, "order.created", o.id, o)
	}
	return errs
}

func (s *Sandbox) handleGetOrder(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.RLock()
	o := s.peekOrder(req.params["orderId"])
	var b []byte
	var err error
	if o != nil {
		b, err = json.Marshal(o)
	}
	s.mu.RUnlock()
	if o == nil {
		writeError(w, http.StatusNotFound, "ORDER_NOT_FOUND", "no order "+req.params["orderId"], "orderId")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL", "encoding the order", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Sandbox) handleListOrders(w http.ResponseWriter, r *http.Request, req *request) {
	limit, ok := s.pageLimit(w, r, "supplierListOrders")
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	s.mu.RLock()
	var page []*order
	total := 0
	for _, r := range s.st.orderRefs {
		if status != "" && s.refStatus(r) != status {
			continue
		}
		total++
		if len(page) < limit {
			page = append(page, s.refOrder(r))
		}
	}
	out := struct {
		Orders     []json.RawMessage `json:"orders"`
		TotalCount int               `json:"totalCount"`
		HasMore    bool              `json:"hasMore"`
	}{Orders: make([]json.RawMessage, 0, len(page)), TotalCount: total, HasMore: total > len(page)}
	for _, o := range page {
		b, _ := json.Marshal(o)
		out.Orders = append(out.Orders, b)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

// ---- acknowledge ----

func (s *Sandbox) handleAcknowledge(w http.ResponseWriter, r *http.Request, req *request) {
	ids, ok := decodeBatch[string](w, req.body, "orderIds")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, id := range ids {
		if id == "" {
			errs.add("REQUIRED", itemPath("orderIds", i, ""), "orderId must not be empty")
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(ids), func() fieldErrors {
		for i, id := range ids {
			o := s.orderFor(id)
			switch {
			case o == nil:
				errs.add("ORDER_NOT_FOUND", itemPath("orderIds", i, ""), "order %s not found", id)
			case o.status == StatusAcknowledged:
				// Acknowledging twice is harmless, and counted: the count shows
				// how often an acknowledgement was applied.
				s.st.countApplied(req.op, id)
			case o.status != StatusCreated:
				errs.add("INVALID_STATE", itemPath("orderIds", i, ""), "order %s is %s and cannot be acknowledged", id, o.status)
			default:
				s.st.setStatus(o, StatusAcknowledged)
				s.st.countApplied(req.op, id)
				o.updatedAt = s.now()
				for _, li := range o.items {
					if li.status == LineOpen {
						s.emit(ObjectOrderItemChange, "orderitem.acknowledged", o.id, itemChange(o, li, "acknowledged"))
					}
				}
				s.emit(ObjectOrder, "order.acknowledged", o.id, o)
			}
		}
		return errs
	})
}

func itemChange(o *order, li *lineItem, change string) map[string]any {
	return map[string]any{
		"orderId": o.id, "lineItemId": li.id, "sku": li.sku, "quantity": li.quantity,
		"status": li.status, "changeType": change,
	}
}

// ---- shipments ----

type shipmentIn struct {
	OrderID        string  `json:"orderId"`
	LineItemID     string  `json:"lineItemId"`
	TrackingNumber string  `json:"trackingNumber"`
	Carrier        string  `json:"carrier"`
	ShippedAt      *string `json:"shippedAt"`
	// Quantity is an extension: ship part of a line; default all that is open.
	Quantity *int `json:"quantity"`
}

func (s *Sandbox) handleShipments(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[shipmentIn](w, req.body, "shipments")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, sh := range in {
		f := func(field string) string { return itemPath("shipments", i, field) }
		if sh.OrderID == "" {
			errs.add("REQUIRED", f("orderId"), "orderId is required")
		}
		if sh.LineItemID == "" {
			errs.add("REQUIRED", f("lineItemId"), "lineItemId is required")
		}
		if sh.TrackingNumber == "" {
			errs.add("REQUIRED", f("trackingNumber"), "trackingNumber is required")
		}
		switch {
		case sh.Carrier == "":
			errs.add("REQUIRED", f("carrier"), "carrier is required")
		case !slices.Contains(Carriers, sh.Carrier):
			errs.add("INVALID_FIELD", f("carrier"), "unknown carrier %q; accepted: %v", sh.Carrier, Carriers)
		}
		if sh.Quantity != nil && *sh.Quantity <= 0 {
			errs.add("INVALID_FIELD", f("quantity"), "quantity must be positive")
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		var touched []*order
		for i, sh := range in {
			f := func(field string) string { return itemPath("shipments", i, field) }
			o := s.orderFor(sh.OrderID)
			if o == nil {
				errs.add("ORDER_NOT_FOUND", f("orderId"), "order %s not found", sh.OrderID)
				continue
			}
			li := o.line(sh.LineItemID)
			if li == nil {
				errs.add("LINE_NOT_FOUND", f("lineItemId"), "order %s has no line %s", sh.OrderID, sh.LineItemID)
				continue
			}
			open := li.open()
			if open == 0 {
				errs.add("INVALID_STATE", f("lineItemId"), "line %s of order %s is %s with nothing left to ship", li.id, o.id, li.status)
				continue
			}
			qty := open
			if sh.Quantity != nil {
				if *sh.Quantity > open {
					errs.add("OVER_SHIPPED", f("quantity"), "quantity %d exceeds the %d still open on line %s", *sh.Quantity, open, li.id)
					continue
				}
				qty = *sh.Quantity
			}
			li.shipped += qty
			s.st.recompute(o)
			o.updatedAt = s.now()
			s.st.shipments++
			s.st.countApplied(req.op, LineKey(o.id, li.id))
			ch := itemChange(o, li, "shipped")
			ch["quantityShipped"] = li.shipped
			ch["trackingNumber"] = sh.TrackingNumber
			ch["carrier"] = sh.Carrier
			s.emit(ObjectOrderItemChange, "orderitem.shipped", o.id, ch)
			if !slices.Contains(touched, o) {
				touched = append(touched, o)
			}
		}
		for _, o := range touched {
			if o.status == StatusShipped {
				s.emit(ObjectOrder, "order.shipped", o.id, o)
			} else {
				s.emit(ObjectOrder, "order.partially_shipped", o.id, o)
			}
		}
		return errs
	})
}

// ---- cancellations ----

type cancelIn struct {
	OrderID    string `json:"orderId"`
	LineItemID string `json:"lineItemId"`
	Reason     string `json:"reason"`
}

// handleCancel serves supplier cancellations and retailer cancel requests
// (which the sandbox accepts at once). Without lineItemId every open line
// of the order is cancelled.
func (s *Sandbox) handleCancel(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[cancelIn](w, req.body, "cancellations")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, c := range in {
		if c.OrderID == "" {
			errs.add("REQUIRED", itemPath("cancellations", i, "orderId"), "orderId is required")
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		var touched []*order
		for i, c := range in {
			f := func(field string) string { return itemPath("cancellations", i, field) }
			o := s.orderFor(c.OrderID)
			if o == nil {
				errs.add("ORDER_NOT_FOUND", f("orderId"), "order %s not found", c.OrderID)
				continue
			}
			var lines []*lineItem
			if c.LineItemID != "" {
				li := o.line(c.LineItemID)
				if li == nil {
					errs.add("LINE_NOT_FOUND", f("lineItemId"), "order %s has no line %s", c.OrderID, c.LineItemID)
					continue
				}
				if li.open() == 0 {
					errs.add("INVALID_STATE", f("lineItemId"), "line %s of order %s is %s with nothing left to cancel", li.id, o.id, li.status)
					continue
				}
				lines = []*lineItem{li}
			} else {
				for _, li := range o.items {
					if li.open() > 0 {
						lines = append(lines, li)
					}
				}
				if len(lines) == 0 {
					errs.add("INVALID_STATE", f("orderId"), "order %s is %s with nothing left to cancel", o.id, o.status)
					continue
				}
			}
			for _, li := range lines {
				li.cancelled += li.open()
			}
			s.st.recompute(o)
			o.updatedAt = s.now()
			for _, li := range lines {
				s.st.cancels++
				s.st.countApplied(req.op, LineKey(o.id, li.id))
				ch := itemChange(o, li, "cancelled")
				ch["quantityCancelled"] = li.cancelled
				if c.Reason != "" {
					ch["reason"] = c.Reason
				}
				s.emit(ObjectOrderItemChange, "orderitem.cancelled", o.id, ch)
			}
			if !slices.Contains(touched, o) {
				touched = append(touched, o)
			}
		}
		for _, o := range touched {
			switch o.status {
			case StatusCancelled:
				s.emit(ObjectOrder, "order.cancelled", o.id, o)
			case StatusShipped:
				s.emit(ObjectOrder, "order.shipped", o.id, o)
			}
		}
		return errs
	})
}

// ---- returns ----

type returnIn struct {
	OrderID      string `json:"orderId"`
	LineItemID   string `json:"lineItemId"`
	ReturnReason string `json:"returnReason"`
	Quantity     *int   `json:"quantity"`
}

func (s *Sandbox) handleReturns(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[returnIn](w, req.body, "returns")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, rt := range in {
		f := func(field string) string { return itemPath("returns", i, field) }
		if rt.OrderID == "" {
			errs.add("REQUIRED", f("orderId"), "orderId is required")
		}
		if rt.LineItemID == "" {
			errs.add("REQUIRED", f("lineItemId"), "lineItemId is required")
		}
		switch {
		case rt.Quantity == nil:
			errs.add("REQUIRED", f("quantity"), "quantity is required")
		case *rt.Quantity <= 0:
			errs.add("INVALID_FIELD", f("quantity"), "quantity must be positive")
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	initiatedBy := req.role.String()
	s.applyBatch(w, req, len(in), func() fieldErrors {
		for i, rt := range in {
			f := func(field string) string { return itemPath("returns", i, field) }
			o := s.orderFor(rt.OrderID)
			if o == nil {
				errs.add("ORDER_NOT_FOUND", f("orderId"), "order %s not found", rt.OrderID)
				continue
			}
			li := o.line(rt.LineItemID)
			if li == nil {
				errs.add("LINE_NOT_FOUND", f("lineItemId"), "order %s has no line %s", rt.OrderID, rt.LineItemID)
				continue
			}
			if li.returnd+*rt.Quantity > li.shipped {
				errs.add("INVALID_QUANTITY", f("quantity"), "line %s has %d shipped and %d returned; cannot return %d more",
					li.id, li.shipped, li.returnd, *rt.Quantity)
				continue
			}
			li.returnd += *rt.Quantity
			s.st.recompute(o)
			o.updatedAt = s.now()
			s.st.returns++
			s.st.countApplied(req.op, LineKey(o.id, li.id))
			s.st.returnSeq++
			s.emit(ObjectReturn, "return.created", o.id, map[string]any{
				"orderId": o.id, "lineItemId": li.id, "returnReason": rt.ReturnReason, "quantity": *rt.Quantity,
				"returnId": fmt.Sprintf("RET-%08d", s.st.returnSeq), "initiatedBy": initiatedBy,
			})
			ch := itemChange(o, li, "returned")
			ch["quantityReturned"] = li.returnd
			if rt.ReturnReason != "" {
				ch["reason"] = rt.ReturnReason
			}
			s.emit(ObjectOrderItemChange, "orderitem.returned", o.id, ch)
			s.emit(ObjectOrder, "order.returned", o.id, o)
		}
		return errs
	})
}

// ---- invoices ----

type invoiceIn struct {
	OrderID       string `json:"orderId"`
	InvoiceNumber string `json:"invoiceNumber"`
	Amount        *money `json:"amount"`
	InvoiceDate   string `json:"invoiceDate"`
}

func (s *Sandbox) handleInvoices(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[invoiceIn](w, req.body, "invoices")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, iv := range in {
		f := func(field string) string { return itemPath("invoices", i, field) }
		if iv.OrderID == "" {
			errs.add("REQUIRED", f("orderId"), "orderId is required")
		}
		if iv.InvoiceNumber == "" {
			errs.add("REQUIRED", f("invoiceNumber"), "invoiceNumber is required")
		}
		switch {
		case iv.Amount == nil:
			errs.add("REQUIRED", f("amount"), "amount is required")
		case iv.Amount.negative():
			errs.add("INVALID_FIELD", f("amount"), "amount must not be negative")
		}
		if iv.InvoiceDate != "" {
			if _, err := time.Parse(time.DateOnly, iv.InvoiceDate); err != nil {
				errs.add("INVALID_FIELD", f("invoiceDate"), "invoiceDate must be YYYY-MM-DD")
			}
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		for i, iv := range in {
			f := func(field string) string { return itemPath("invoices", i, field) }
			o := s.orderFor(iv.OrderID)
			switch {
			case o == nil:
				errs.add("ORDER_NOT_FOUND", f("orderId"), "order %s not found", iv.OrderID)
				continue
			case o.status == StatusCancelled:
				errs.add("INVALID_STATE", f("orderId"), "order %s is cancelled", iv.OrderID)
				continue
			case s.st.invoices[iv.InvoiceNumber]:
				errs.add("DUPLICATE_INVOICE", f("invoiceNumber"), "invoice %s already exists", iv.InvoiceNumber)
				continue
			}
			s.st.invoices[iv.InvoiceNumber] = true
			s.st.countApplied(req.op, iv.InvoiceNumber)
			date := iv.InvoiceDate
			if date == "" {
				date = s.now().Format(time.DateOnly)
			}
			s.emit(ObjectInvoice, "invoice.created", o.id, map[string]any{
				"orderId": o.id, "invoiceNumber": iv.InvoiceNumber, "amount": *iv.Amount, "invoiceDate": date,
			})
		}
		return errs
	})
}

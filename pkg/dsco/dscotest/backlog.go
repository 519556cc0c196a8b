package dscotest

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Generated orders are kept as the seed of their contents, not as objects:
// a genOrder is the state of the generator's random source before the
// order's draws, and the order (and its order.created event) is built again
// from it whenever it is read. A generated order becomes an ordinary order
// in state.orders the first time a write touches it. This keeps a backlog
// of a million orders, each with its event in every stream, at about a
// hundred bytes per order instead of 2.4 KB, while every page serves the
// very bytes the eagerly built order would have given.

// genOrder is one generated order.
type genOrder struct {
	state   [2]uint64 // PCG state before the order's draws
	created int64     // unix nanoseconds: createdAt, updatedAt and the event's timestamp
	num     uint32    // the order number: the id is genID(num)
	catLen  uint32    // catalog size when it was drawn
	shape   uint32    // index in state.shapes
}

// genShape is a shape orders were generated with.
type genShape struct {
	share float64
	shape OrderShape
}

// orderRef is one order in creation order: an order of state.orders (id
// set) or a generated one (gen is its index in state.gen).
type orderRef struct {
	id  string
	gen int32
}

// shapeIndex returns the index of (share, shape) in st.shapes, adding it.
func (st *state) shapeIndex(share float64, shape OrderShape) uint32 {
	for i, s := range st.shapes {
		if s.share == share && s.shape == shape {
			return uint32(i)
		}
	}
	st.shapes = append(st.shapes, genShape{share: share, shape: shape})
	return uint32(len(st.shapes) - 1)
}

// generateOrder creates the next generated order, drawing again while the
// id is taken by an order sent through the API, and emits its
// order.created event. Callers hold s.mu for writing.
func (s *Sandbox) generateOrder(share float64, shape OrderShape) uint32 {
	st := s.st
	shapeIdx := st.shapeIndex(share, shape)
	for {
		num, state, catLen := s.gen.next(shape)
		var idBuf [24]byte
		id := appendGenID(idBuf[:0], num)
		if _, taken := st.orders[string(id)]; taken { // no allocation for the look-up
			continue
		}
		now := s.now()
		st.gen = append(st.gen, genOrder{state: state, created: now.UnixNano(), num: num, catLen: uint32(catLen), shape: shapeIdx})
		i := int32(len(st.gen) - 1)
		st.orderRefs = append(st.orderRefs, orderRef{gen: i})
		st.byStatus[StatusCreated]++
		st.eventSeq++
		s.record(ObjectOrder, &event{ts: now.UnixNano(), hash: keyHash(id), seq: st.eventSeq, gen: i + 1})
		return num
	}
}

// genIndex returns the index in st.gen of the generated order id, or -1.
func (st *state) genIndex(id string) int {
	if len(id) < 11 || id[:3] != "PO-" {
		return -1
	}
	n, err := strconv.ParseUint(id[3:], 10, 32)
	if err != nil {
		return -1
	}
	num := uint32(n)
	i := sort.Search(len(st.gen), func(i int) bool { return st.gen[i].num >= num })
	if i == len(st.gen) || st.gen[i].num != num || genID(num) != id {
		return -1
	}
	return i
}

// buildGenerated builds generated order i as it was created.
func (s *Sandbox) buildGenerated(i int) *order {
	g := s.st.gen[i]
	sh := s.st.shapes[g.shape]
	return s.gen.build(g.num, g.state, int(g.catLen), sh.share, sh.shape, time.Unix(0, g.created).UTC())
}

// orderFor returns the order id for a write, making a generated order an
// ordinary one the first time; nil if there is none. Callers hold s.mu for
// writing.
func (s *Sandbox) orderFor(id string) *order {
	if o := s.st.orders[id]; o != nil {
		return o
	}
	i := s.st.genIndex(id)
	if i < 0 {
		return nil
	}
	o := s.buildGenerated(i)
	s.st.orders[id] = o
	return o
}

// peekOrder returns the order id for a read without keeping a generated
// order that no write touched; nil if there is none. Callers hold s.mu.
func (s *Sandbox) peekOrder(id string) *order {
	if o := s.st.orders[id]; o != nil {
		return o
	}
	if i := s.st.genIndex(id); i >= 0 {
		return s.buildGenerated(i)
	}
	return nil
}

// orderExists reports whether an order id exists. Callers hold s.mu.
func (s *Sandbox) orderExists(id string) bool {
	_, ok := s.st.orders[id]
	return ok || s.st.genIndex(id) >= 0
}

// refStatus returns the status of the order r without building an
// untouched generated order (which is created). Callers hold s.mu.
func (s *Sandbox) refStatus(r orderRef) string {
	if r.id != "" {
		return s.st.orders[r.id].status
	}
	if o := s.st.orders[genID(s.st.gen[r.gen].num)]; o != nil {
		return o.status
	}
	return StatusCreated
}

// refOrder returns the order r for a read. Callers hold s.mu.
func (s *Sandbox) refOrder(r orderRef) *order {
	if r.id != "" {
		return s.st.orders[r.id]
	}
	id := genID(s.st.gen[r.gen].num)
	if o := s.st.orders[id]; o != nil {
		return o
	}
	return s.buildGenerated(int(r.gen))
}

// appendEvent appends the StreamEvent JSON of e. Callers hold s.mu.
func (s *Sandbox) appendEvent(b []byte, e *event) []byte {
	if e.raw != nil {
		return append(b, e.raw...)
	}
	g := s.st.gen[e.gen-1]
	sh := s.st.shapes[g.shape]
	ts := time.Unix(0, e.ts).UTC()
	b = appendEnvelopeHead(b, s.st.instance, e.seq, "order.created", ObjectOrder, ts)
	b = s.gen.appendGenerated(b, g, sh, ts)
	return append(b, '}')
}

// eventData decodes the top-level members of e's data, for stream queries.
func (s *Sandbox) eventData(e *event) map[string]any {
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(s.appendEvent(nil, e), &env)
	return env.Data
}

// appendEnvelope appends a StreamEvent around data (the JSON of the
// object); eventId, eventType, objectType and timestamp never need
// escaping.
func appendEnvelope(b []byte, instance string, seq uint64, eventType, objectType string, ts time.Time, data []byte) []byte {
	b = appendEnvelopeHead(b, instance, seq, eventType, objectType, ts)
	b = append(b, data...)
	return append(b, '}')
}

// appendEnvelopeHead appends a StreamEvent up to its data.
func appendEnvelopeHead(b []byte, instance string, seq uint64, eventType, objectType string, ts time.Time) []byte {
	b = append(b, `{"eventId":"evt-`...)
	b = append(b, instance...)
	b = append(b, '-')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","eventType":"`...)
	b = append(b, eventType...)
	b = append(b, `","objectType":"`...)
	b = append(b, objectType...)
	b = append(b, `","timestamp":"`...)
	b = ts.AppendFormat(b, timeLayout)
	return append(b, `","data":`...)
}

// appendGenerated appends the JSON of generated order g as it was created:
// the bytes (*order).appendJSON writes for the order buildOrder makes
// (TestGeneratedOrderEncoding holds them equal), written directly because
// every page of a generated backlog is encoded this way. Nothing in a
// generated order needs JSON escaping except the fixed text of its extra
// attributes.
func (gen *generator) appendGenerated(b []byte, g genOrder, sh genShape, ts time.Time) []byte {
	var pcg rand.PCG
	pcg.Seed(g.state[0], g.state[1])
	var itemBuf [8]itemDraw
	d := orderDraws{items: itemBuf[:0]}
	draw(rand.New(&pcg), int(g.catLen), sh.shape.Items, &d)
	catalog := (*gen.published.Load())[:g.catLen]

	b = append(b, `{"orderId":"`...)
	b = appendGenID(b, g.num)
	if d.typ < sh.share {
		b = append(b, `","orderType":"Dropship`...)
	} else {
		b = append(b, `","orderType":"Marketplace`...)
	}
	var tsBuf [32]byte
	tsText := ts.AppendFormat(tsBuf[:0], timeLayout)
	b = append(b, `","status":"created","createdAt":"`...)
	b = append(b, tsText...)
	b = append(b, `","updatedAt":"`...)
	b = append(b, tsText...)
	b = append(b, `","shippingAddress":{"name":"`...)
	b = append(b, genFirst[d.first]...)
	b = append(b, ' ')
	b = append(b, genLast[d.last]...)
	b = append(b, `","street1":"`...)
	b = strconv.AppendInt(b, int64(d.streetNo), 10)
	b = append(b, ' ')
	b = append(b, genStreets[d.street]...)
	if d.apt > 0 {
		b = append(b, `","street2":"Apt `...)
		b = strconv.AppendInt(b, int64(d.apt), 10)
	}
	c := genCities[d.city]
	b = append(b, `","city":"`...)
	b = append(b, c.city...)
	b = append(b, `","state":"`...)
	b = append(b, c.state...)
	b = append(b, `","postalCode":"`...)
	b = append(b, c.zip...)
	b = append(b, `","country":"US","phone":"+1-555-`...)
	b = appendPadded(b, d.phoneA, 3)
	b = append(b, '-')
	b = appendPadded(b, d.phoneB, 4)
	b = append(b, `"},"items":[`...)
	for j, it := range d.items {
		p := &catalog[it.sku]
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"lineItemId":"`...)
		b = appendGenID(b, g.num)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(j+1), 10)
		b = append(b, `","sku":"`...)
		b = append(b, p.sku...)
		b = append(b, `","quantity":`...)
		b = strconv.AppendInt(b, int64(it.qty), 10)
		b = append(b, `,"cost":`...)
		b = append(b, p.cost...)
		b = append(b, `,"price":`...)
		b = append(b, p.price...)
		b = append(b, `,"status":"open","quantityShipped":0,"quantityCancelled":0,"quantityReturned":0,"retailerItemId":"R-`...)
		b = append(b, p.sku...)
		b = append(b, '"')
		b = appendExtraAttributes(b, sh.shape.ExtraAttributes, g.num, j+1)
		b = append(b, '}')
	}
	b = append(b, `],"channel":"web","consumerOrderNumber":"C`...)
	b = appendPadded(b, d.consumerOrder, 9)
	b = append(b, `","requestedShipMethod":"`...)
	b = append(b, genShipMethods[d.shipMethod]...)
	b = append(b, '"')
	b = appendExtraAttributes(b, sh.shape.ExtraAttributes, g.num, 0)
	return append(b, '}')
}

// appendPadded appends n ≥ 0 with leading zeros to at least width digits.
func appendPadded(b []byte, n, width int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(n), 10)
	for range width - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

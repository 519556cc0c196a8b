// Hand-written for now in exactly the shape the generator (internal/dscojsongen, to come) will emit.

package schemas

// dscoEventDecoders maps a Dsco object type to the decoder of its stream
// events.
var dscoEventDecoders = map[string]func(*dscoDecoder) StreamEvent{
	"order": func(d *dscoDecoder) StreamEvent {
		r := dscoTake(&d.records.OrderEvent)
		r.decodeDscoJSON(d)
		return r
	},
}

// dscoArenas holds one arena per record type.
type dscoArenas struct {
	OrderEvent []OrderEvent
	Order      []Order
	OrderItem  []OrderItem
	Address    []Address
}

func (a *dscoArenas) reset() {
	a.OrderEvent = a.OrderEvent[:0]
	a.Order = a.Order[:0]
	a.OrderItem = a.OrderItem[:0]
	a.Address = a.Address[:0]
}

// decodeDscoJSON decodes a Dsco stream event into r.
func (r *OrderEvent) decodeDscoJSON(d *dscoDecoder) {
	s := &d.s
	if !s.BeginObject() {
		return
	}
	mark := s.ExtraMark()
	var seen uint64
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case "eventId":
			r.EventID = s.String()
			seen |= 1 << 0
		case "eventType":
			r.EventType = s.String()
			seen |= 1 << 1
		case "objectType":
			r.ObjectType = s.String()
			seen |= 1 << 2
		case "timestamp":
			r.Timestamp = s.Time()
			seen |= 1 << 3
		case "position":
			r.Position = s.String()
			d.ownPosition = true
		case "data":
			r.Order = Order{}
			r.Order.decodeDscoJSON(d)
			seen |= 1 << 4
		default:
			s.SkipMember()
		}
		if s.Failed() {
			s.Within(key)
			return
		}
	}
	if s.Failed() {
		return
	}
	r.StreamID = d.streamID
	r.Extra = d.extra(mark)
	switch {
	case seen&(1<<0) == 0:
		d.missing("eventId")
	case seen&(1<<1) == 0:
		d.missing("eventType")
	case seen&(1<<2) == 0:
		d.missing("objectType")
	case seen&(1<<3) == 0:
		d.missing("timestamp")
	case seen&(1<<4) == 0:
		d.missing("data")
	}
}

// decodeDscoJSON decodes a Dsco JSON object into r.
func (r *Order) decodeDscoJSON(d *dscoDecoder) {
	s := &d.s
	if !s.BeginObject() {
		return
	}
	mark := s.ExtraMark()
	var seen uint64
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case "orderId":
			r.OrderID = s.String()
			seen |= 1 << 0
		case "orderType":
			r.OrderType = d.optString()
		case "status":
			r.Status = d.optString()
		case "createdAt":
			r.CreatedAt = d.optTime()
		case "updatedAt":
			r.UpdatedAt = d.optTime()
		case "items":
			r.Items = d.arrayOrderItem()
		case "shippingAddress":
			r.ShippingAddress = d.optAddress()
		default:
			s.SkipMember()
		}
		if s.Failed() {
			s.Within(key)
			return
		}
	}
	if s.Failed() {
		return
	}
	r.Extra = d.extra(mark)
	switch {
	case seen&(1<<0) == 0:
		d.missing("orderId")
	}
}

// decodeDscoJSON decodes a Dsco JSON object into r.
func (r *OrderItem) decodeDscoJSON(d *dscoDecoder) {
	s := &d.s
	if !s.BeginObject() {
		return
	}
	mark := s.ExtraMark()
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case "lineItemId":
			r.LineItemID = d.optString()
		case "sku":
			r.SKU = d.optString()
		case "quantity":
			r.Quantity = d.optInt32()
		case "cost":
			r.Cost = d.optDecimal(4, 18)
		case "price":
			r.Price = d.optDecimal(4, 18)
		case "status":
			r.Status = d.optString()
		case "quantityShipped":
			r.QuantityShipped = d.optInt32()
		case "quantityCancelled":
			r.QuantityCancelled = d.optInt32()
		default:
			s.SkipMember()
		}
		if s.Failed() {
			s.Within(key)
			return
		}
	}
	if s.Failed() {
		return
	}
	r.Extra = d.extra(mark)
}

// decodeDscoJSON decodes a Dsco JSON object into r.
func (r *Address) decodeDscoJSON(d *dscoDecoder) {
	s := &d.s
	if !s.BeginObject() {
		return
	}
	mark := s.ExtraMark()
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case "name":
			r.Name = d.optString()
		case "street1":
			r.Street1 = d.optString()
		case "street2":
			r.Street2 = d.optString()
		case "city":
			r.City = d.optString()
		case "state":
			r.State = d.optString()
		case "postalCode":
			r.PostalCode = d.optString()
		case "country":
			r.Country = d.optString()
		case "phone":
			r.Phone = d.optString()
		default:
			s.SkipMember()
		}
		if s.Failed() {
			s.Within(key)
			return
		}
	}
	if s.Failed() {
		return
	}
	r.Extra = d.extra(mark)
}

// arrayOrderItem reads an array of OrderItem records into the arena.
func (d *dscoDecoder) arrayOrderItem() []OrderItem {
	s := &d.s
	if s.Null() || !s.BeginArray() {
		return nil
	}
	start := len(d.records.OrderItem)
	for i := 0; s.NextElem(i); i++ {
		dscoTake(&d.records.OrderItem).decodeDscoJSON(d)
		if s.Failed() {
			s.WithinIndex(i)
			return nil
		}
	}
	a := d.records.OrderItem
	return a[start:len(a):len(a)]
}

// optAddress reads a nullable Address record from the arena.
func (d *dscoDecoder) optAddress() *Address {
	if d.s.Null() {
		return nil
	}
	r := dscoTake(&d.records.Address)
	r.decodeDscoJSON(d)
	return r
}

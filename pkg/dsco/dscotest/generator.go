package dscotest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// GeneratorConfig configures RunGenerator.
type GeneratorConfig struct {
	// OrdersPerSecond is the sustained rate of new retailer orders
	// (default 1).
	OrdersPerSecond float64
	// Burst is how many orders may be created at once after a quiet spell
	// (default 1).
	Burst int
	// CatalogSize is how many skus the generator lists in the catalog (with
	// inventory) before the first order (default 50).
	CatalogSize int
	// DropshipShare is the fraction of orders that are Dropship, the rest
	// being Marketplace (default 0.7; negative means none).
	DropshipShare float64
	// Shape shapes the orders: line items per order, attributes unknown
	// to the contract.
	Shape OrderShape
}

func (c *GeneratorConfig) setDefaults() {
	if c.OrdersPerSecond == 0 {
		c.OrdersPerSecond = 1
	}
	if c.Burst == 0 {
		c.Burst = 1
	}
	if c.CatalogSize == 0 {
		c.CatalogSize = 50
	}
	if c.DropshipShare == 0 {
		c.DropshipShare = 0.7
	}
}

// Validate reports a configuration the generator cannot run with.
func (c *GeneratorConfig) Validate() error {
	if c.OrdersPerSecond < 0 || c.Burst < 0 || c.CatalogSize < 0 {
		return errors.New("dscotest: OrdersPerSecond, Burst and CatalogSize must not be negative")
	}
	if c.DropshipShare > 1 {
		return errors.New("dscotest: DropshipShare must be at most 1")
	}
	return c.Shape.validate()
}

// generator makes realistic data from the sandbox's seed. Order ids and
// contents depend only on the seed and how many orders were generated
// before, so the same seed yields the same orders.
//
// An order is not kept as an object: the sandbox keeps the state of the
// random source before the order's draws (a genOrder) and builds the order
// from it again whenever it is read, so a backlog of a million generated
// orders costs tens of bytes each (see backlog.go).
type generator struct {
	mu      sync.Mutex
	pcg     *rand.PCG
	rng     *rand.Rand // draws from pcg
	orders  int
	catalog []genSKU
	// published is catalog for readers that do not hold mu: entries below
	// its length never change.
	published atomic.Pointer[[]genSKU]
	scratch   orderDraws
	stateBuf  [20]byte
}

type genSKU struct {
	sku   string
	title string
	cost  money
	price money
}

var (
	genFirst   = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Mia", "Lucas", "Harper", "Mateo", "Amelia", "Ethan", "Chloe"}
	genLast    = []string{"Smith", "Johnson", "Garcia", "Martinez", "Brown", "Nguyen", "Lee", "Patel", "Kim", "Wilson", "Lopez", "Clark", "Young", "Hall"}
	genStreets = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Lakeview Blvd", "Sunset Way", "Park Pl", "Hillcrest Rd"}
	genCities  = []struct{ city, state, zip string }{
		{"Salt Lake City", "UT", "84101"}, {"Lehi", "UT", "84043"}, {"Denver", "CO", "80202"}, {"Austin", "TX", "78701"},
		{"Portland", "OR", "97205"}, {"Columbus", "OH", "43215"}, {"Raleigh", "NC", "27601"}, {"Madison", "WI", "53703"},
		{"Boise", "ID", "83702"}, {"Tampa", "FL", "33602"},
	}
	genProducts = []string{"Cotton Crew T-Shirt", "Ceramic Mug", "Trail Running Shoe", "Stainless Water Bottle", "Wool Beanie",
		"LED Desk Lamp", "Yoga Mat", "Cast Iron Skillet", "Bluetooth Speaker", "Canvas Backpack", "Throw Pillow", "Garden Hose"}
	genShipMethods = []string{"Ground", "2-Day", "Next Day", "Standard", "Economy"}
)

func newGenerator(seed int64) *generator {
	pcg := rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)
	g := &generator{pcg: pcg, rng: rand.New(pcg)}
	g.published.Store(&[]genSKU{})
	return g
}

// ensureCatalog lists n skus; callers hold g.mu.
func (g *generator) ensureCatalog(n int) []genSKU {
	if len(g.catalog) >= n {
		return g.catalog
	}
	for len(g.catalog) < n {
		i := len(g.catalog)
		// Amounts are whole cents as 2-decimal text, never float64: a cost
		// of 2.00 to 80.00 and a price 40% to 139% above it.
		cost := 200 + g.rng.IntN(7801)
		markup := 140 + g.rng.IntN(100)
		g.catalog = append(g.catalog, genSKU{
			sku:   fmt.Sprintf("SKU-%05d", i+1),
			title: genProducts[i%len(genProducts)] + " " + strconv.Itoa(i/len(genProducts)+1),
			cost:  cents(cost),
			price: cents((cost*markup + 50) / 100),
		})
	}
	c := g.catalog
	g.published.Store(&c)
	return g.catalog
}

type genAddress struct {
	Name       string `json:"name"`
	Street1    string `json:"street1"`
	Street2    string `json:"street2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
	Phone      string `json:"phone"`
}

// OrderShape shapes generated orders. The zero value gives the default
// orders: 1 to 5 line items at random and no attributes beyond the
// Dsco-style ones (consumerOrderNumber, requestedShipMethod, channel and
// retailerItemId).
type OrderShape struct {
	// Items is the number of line items of every order (1..100); 0 draws
	// 1 to 5.
	Items int
	// ExtraAttributes adds this many attributes that neither the contract
	// nor the sandbox knows to the order and to every line item (0..1000),
	// after the others: "ext01", "ext02", ... with values of every JSON
	// kind but null (strings with escapes and non-ASCII text, integers,
	// decimals with trailing zeros or exponents, booleans, objects,
	// arrays), fixed by the
	// order number, the object and the attribute, so that a consumer can
	// check that it carries them byte-exact. Twenty of them make an order
	// event of five lines about 5 KB.
	ExtraAttributes int
}

func (sh OrderShape) validate() error {
	if sh.Items < 0 || sh.Items > maxShapeItems {
		return fmt.Errorf("dscotest: OrderShape.Items %d is outside 0..%d", sh.Items, maxShapeItems)
	}
	if sh.ExtraAttributes < 0 || sh.ExtraAttributes > maxShapeExtra {
		return fmt.Errorf("dscotest: OrderShape.ExtraAttributes %d is outside 0..%d", sh.ExtraAttributes, maxShapeExtra)
	}
	return nil
}

const (
	maxShapeItems = 100
	maxShapeExtra = 1000
)

// orderDraws is every random number of one generated order, in the order
// they are drawn: drawing them again from the same state gives the same
// order.
type orderDraws struct {
	typ                       float64
	items                     []itemDraw
	first, last, city         int
	streetNo, street          int
	phoneA, phoneB            int
	apt                       int // 0: no street2
	consumerOrder, shipMethod int
}

type itemDraw struct{ sku, qty int }

// draw takes an order's random numbers from rng; items > 0 fixes the
// number of line items (the count is drawn anyway, so that the numbers that
// follow do not depend on the shape).
func draw(rng *rand.Rand, catLen, items int, d *orderDraws) {
	d.typ = rng.Float64()
	n := 1 + rng.IntN(5)
	if items > 0 {
		n = items
	}
	d.items = d.items[:0]
	for range n {
		sku := rng.IntN(catLen)
		d.items = append(d.items, itemDraw{sku: sku, qty: 1 + rng.IntN(3)})
	}
	d.first = rng.IntN(len(genFirst))
	d.last = rng.IntN(len(genLast))
	d.city = rng.IntN(len(genCities))
	d.streetNo = 100 + rng.IntN(9800)
	d.street = rng.IntN(len(genStreets))
	d.phoneA = rng.IntN(1000)
	d.phoneB = rng.IntN(10000)
	d.apt = 0
	if rng.IntN(4) == 0 {
		d.apt = 1 + rng.IntN(400)
	}
	d.consumerOrder = rng.IntN(1e9)
	d.shipMethod = rng.IntN(len(genShipMethods))
}

// genID is the id of generated order number num.
func genID(num uint32) string { return string(appendGenID(nil, num)) }

func appendGenID(b []byte, num uint32) []byte {
	b = append(b, "PO-"...)
	var d [10]byte
	n := strconv.AppendUint(d[:0], uint64(num), 10)
	for range 8 - len(n) {
		b = append(b, '0')
	}
	return append(b, n...)
}

// buildOrder makes the order that d describes, as a retailer would send it,
// directly in the sandbox's representation (the generator's orders are
// valid by construction; the API path validates what clients send).
func buildOrder(num uint32, share float64, shape OrderShape, d *orderDraws, catalog []genSKU, now time.Time) *order {
	id := genID(num)
	typ := "Marketplace"
	if d.typ < share {
		typ = "Dropship"
	}
	o := &order{id: id, orderType: typ, status: StatusCreated, createdAt: now, updatedAt: now}
	o.items = make([]*lineItem, len(d.items))
	for j, it := range d.items {
		p := &catalog[it.sku] // entries never change: their fields can be shared
		extra := append(make([]byte, 0, 64), `"retailerItemId":"R-`...)
		extra = append(extra, p.sku...)
		extra = append(extra, '"')
		o.items[j] = &lineItem{
			id: id + "-" + strconv.Itoa(j+1), sku: p.sku, quantity: it.qty,
			cost: &p.cost, price: &p.price, status: LineOpen,
			extra: appendExtraAttributes(extra, shape.ExtraAttributes, num, j+1),
		}
	}
	c := genCities[d.city]
	addr := genAddress{
		Name:       genFirst[d.first] + " " + genLast[d.last],
		Street1:    fmt.Sprintf("%d %s", d.streetNo, genStreets[d.street]),
		City:       c.city,
		State:      c.state,
		PostalCode: c.zip,
		Country:    "US",
		Phone:      fmt.Sprintf("+1-555-%03d-%04d", d.phoneA, d.phoneB),
	}
	if d.apt > 0 {
		addr.Street2 = fmt.Sprintf("Apt %d", d.apt)
	}
	o.address, _ = json.Marshal(addr)
	o.extra = fmt.Appendf(nil, `"channel":"web","consumerOrderNumber":"C%09d","requestedShipMethod":%q`,
		d.consumerOrder, genShipMethods[d.shipMethod])
	o.extra = appendExtraAttributes(o.extra, shape.ExtraAttributes, num, 0)
	return o
}

// appendExtraAttributes appends n attributes unknown to the contract to the
// members in b (not empty): their values depend on the order number, the
// object (0 for the order, j for line j) and the attribute's number only.
func appendExtraAttributes(b []byte, n int, num uint32, obj int) []byte {
	for k := 1; k <= n; k++ {
		b = append(b, extNames[k]...)
		v := int64(num%1000) + int64(obj)*10 + int64(k)
		switch k % 8 {
		case 1:
			b = append(b, `"value `...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, ` of object `...)
			b = strconv.AppendInt(b, int64(obj), 10)
			b = append(b, '"')
		case 2:
			b = strconv.AppendInt(b, v*7919, 10)
		case 3: // a decimal with a trailing zero, kept as sent
			b = strconv.AppendInt(b, v, 10)
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(k%10), 10)
			b = append(b, '0')
		case 4:
			b = strconv.AppendBool(b, v%2 == 0)
		case 5: // not null: the contract checks treat any null as a violation
			b = append(b, "-1.5e-7"...)
		case 6:
			b = append(b, `{"code":"C`...)
			b = appendPadded(b, int(v), 3)
			b = append(b, `","weight":1.250,"tags":[]}`...)
		case 7:
			b = append(b, `["x",`...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, `,-0.5,1E3]`...)
		default:
			b = append(b, `"caf\u00e9 \"`...)
			b = strconv.AppendInt(b, v, 10)
			b = append(b, `\" \\ é"`...)
		}
	}
	return b
}

// extNames[k] is the member prefix of extra attribute k: `,"ext07":`.
var extNames = func() []string {
	names := make([]string, maxShapeExtra+1)
	for k := 1; k <= maxShapeExtra; k++ {
		names[k] = fmt.Sprintf(`,"ext%02d":`, k)
	}
	return names
}()

// next draws the next generated order of shape, advancing the random
// source, and returns its number and the state to build it from again.
// It builds nothing: seeding a backlog costs the draws only.
func (g *generator) next(shape OrderShape) (num uint32, state [2]uint64, catLen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ensureCatalog(1)
	b, _ := g.pcg.AppendBinary(g.stateBuf[:0]) // "pcg:" + hi + lo, big-endian
	state = [2]uint64{binary.BigEndian.Uint64(b[4:12]), binary.BigEndian.Uint64(b[12:20])}
	g.orders++
	draw(g.rng, len(g.catalog), shape.Items, &g.scratch)
	return uint32(g.orders), state, len(g.catalog)
}

// build makes generated order num again from the state next returned.
// It is safe for concurrent use (it does not touch the generator's own
// random source).
func (g *generator) build(num uint32, state [2]uint64, catLen int, share float64, shape OrderShape, now time.Time) *order {
	var d orderDraws
	d.items = make([]itemDraw, 0, 8)
	draw(rand.New(rand.NewPCG(state[0], state[1])), catLen, shape.Items, &d)
	return buildOrder(num, share, shape, &d, (*g.published.Load())[:catLen], now)
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// seedCatalog lists the generator's first n skus in the catalog with
// inventory, once each.
func (s *Sandbox) seedCatalog(n int) {
	s.gen.mu.Lock()
	skus := append([]genSKU(nil), s.gen.ensureCatalog(n)[:n]...)
	qty := make([]int, n)
	for i := range qty {
		qty[i] = s.gen.rng.IntN(200)
	}
	s.gen.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range skus {
		if s.st.catalog[p.sku] != nil {
			continue
		}
		title, cost := p.title, p.cost
		s.upsertCatalog(catalogIn{SKU: p.sku, Title: &title, Cost: &cost,
			RetailModelRules: raw(map[string]any{"allowedModels": []string{"dropship", "marketplace"}}),
			Attributes:       map[string]json.RawMessage{"brand": raw("Sandbox Co"), "msrp": raw(p.price)}})
		s.setInventory(p.sku, DefaultWarehouse, qty[i])
	}
}

// SeedOrders creates n realistic retailer orders (1-5 lines with skus from
// a catalog it lists first, Dropship or Marketplace, and Dsco-style extra
// attributes such as consumerOrderNumber and requestedShipMethod) and
// returns their ids. Each order emits the same events as a retailer
// order-in call.
func (s *Sandbox) SeedOrders(n int) ([]string, error) {
	ids := make([]string, 0, max(n, 0))
	err := s.seedOrders(n, OrderShape{}, func(num uint32) { ids = append(ids, genID(num)) })
	return ids, err
}

// SeedOrderBacklog is SeedOrders for backlogs of any size, with orders
// shaped by shape, without returning the ids (they are PO-00000001 and on,
// in creation order, skipping ids taken by orders sent through the API).
// A generated order is kept as the seed of its contents and its events are
// encoded when read (see docs/dsco-sandbox.md): a million orders take
// seconds and well under 200 MB, and the pages served are the same bytes
// as for orders created one by one. Readers wait for at most one chunk of
// orders at a time.
func (s *Sandbox) SeedOrderBacklog(n int, shape OrderShape) error {
	return s.seedOrders(n, shape, nil)
}

// seedChunk is how many orders seedOrders creates per lock of the state.
const seedChunk = 1024

func (s *Sandbox) seedOrders(n int, shape OrderShape, created func(num uint32)) error {
	if n < 0 {
		return errors.New("dscotest: seeding needs n >= 0")
	}
	if err := shape.validate(); err != nil {
		return err
	}
	s.seedCatalog(50)
	for done := 0; done < n; {
		k := min(seedChunk, n-done)
		s.mu.Lock()
		for range k {
			num := s.generateOrder(defaultDropshipShare, shape)
			if created != nil {
				created(num)
			}
		}
		s.mu.Unlock()
		done += k
	}
	return nil
}

const defaultDropshipShare = 0.7

// RunGenerator creates retailer orders at cfg.OrdersPerSecond on average,
// cfg.Burst at a time, until ctx is done or the sandbox is closed; it then
// returns nil. It first lists cfg.CatalogSize skus with inventory. The orders
// depend only on the seed and how many were generated before.
func (s *Sandbox) RunGenerator(ctx context.Context, cfg GeneratorConfig) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.seedCatalog(cfg.CatalogSize)
	shape := cfg.Shape
	share := cfg.DropshipShare
	if share < 0 {
		share = 0
	}
	lim := rate.NewLimiter(rate.Limit(cfg.OrdersPerSecond), cfg.Burst)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		if err := lim.WaitN(ctx, cfg.Burst); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dscotest: generator: %w", err)
		}
		s.mu.Lock()
		for range cfg.Burst {
			s.generateOrder(share, shape)
		}
		s.mu.Unlock()
	}
}

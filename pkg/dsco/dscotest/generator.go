package dscotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
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
	return nil
}

// generator makes realistic data from the sandbox's seed. Order ids and
// contents depend only on the seed and how many orders were generated
// before, so the same seed yields the same orders.
type generator struct {
	mu      sync.Mutex
	rng     *rand.Rand
	orders  int
	catalog []genSKU
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
	return &generator{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

// ensureCatalog lists n skus; callers hold g.mu.
func (g *generator) ensureCatalog(n int) []genSKU {
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

// nextOrder builds the next order as a retailer would send it, directly in
// the sandbox's representation (the generator's orders are valid by
// construction; the API path validates what clients send).
func (g *generator) nextOrder(dropshipShare float64, now time.Time) *order {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ensureCatalog(1)
	g.orders++
	id := fmt.Sprintf("PO-%08d", g.orders)
	typ := "Marketplace"
	if g.rng.Float64() < dropshipShare {
		typ = "Dropship"
	}
	o := &order{id: id, orderType: typ, status: StatusCreated, createdAt: now, updatedAt: now}
	o.items = make([]*lineItem, 1+g.rng.IntN(5))
	for j := range o.items {
		p := &g.catalog[g.rng.IntN(len(g.catalog))] // entries never change: their fields can be shared
		o.items[j] = &lineItem{
			id: id + "-" + strconv.Itoa(j+1), sku: p.sku, quantity: 1 + g.rng.IntN(3),
			cost: &p.cost, price: &p.price, status: LineOpen,
			extra: extraFields(`"retailerItemId":"R-` + p.sku + `"`),
		}
	}
	first, last := genFirst[g.rng.IntN(len(genFirst))], genLast[g.rng.IntN(len(genLast))]
	c := genCities[g.rng.IntN(len(genCities))]
	addr := genAddress{
		Name:       first + " " + last,
		Street1:    fmt.Sprintf("%d %s", 100+g.rng.IntN(9800), genStreets[g.rng.IntN(len(genStreets))]),
		City:       c.city,
		State:      c.state,
		PostalCode: c.zip,
		Country:    "US",
		Phone:      fmt.Sprintf("+1-555-%03d-%04d", g.rng.IntN(1000), g.rng.IntN(10000)),
	}
	if g.rng.IntN(4) == 0 {
		addr.Street2 = fmt.Sprintf("Apt %d", 1+g.rng.IntN(400))
	}
	o.address, _ = json.Marshal(addr)
	o.extra = fmt.Appendf(nil, `"channel":"web","consumerOrderNumber":"C%09d","requestedShipMethod":%q`,
		g.rng.IntN(1e9), genShipMethods[g.rng.IntN(len(genShipMethods))])
	return o
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
	if n < 0 {
		return nil, errors.New("dscotest: SeedOrders needs n >= 0")
	}
	s.seedCatalog(50)
	ids := make([]string, 0, n)
	for range n {
		id, err := s.generateOrder(0.7)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Sandbox) generateOrder(dropshipShare float64) (string, error) {
	for {
		o := s.gen.nextOrder(dropshipShare, s.now())
		s.mu.Lock()
		errs := s.applyOrders("", []*order{o})
		s.mu.Unlock()
		if len(errs) == 0 {
			return o.id, nil
		}
		// The id was taken by an order sent through the API: draw the next.
	}
}

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
		for range cfg.Burst {
			if _, err := s.generateOrder(share); err != nil {
				return err
			}
		}
	}
}

package dscotest

import (
	"encoding/json"
	"net/http"
)

type catalogIn struct {
	SKU              string                     `json:"sku"`
	Title            *string                    `json:"title"`
	Description      *string                    `json:"description"`
	Cost             *money                     `json:"cost"`
	RetailModelRules json.RawMessage            `json:"retailModelRules"`
	Attributes       map[string]json.RawMessage `json:"attributes"`
	extra            map[string]json.RawMessage
}

func (c *catalogIn) UnmarshalJSON(b []byte) error {
	type plain catalogIn
	return unmarshalKeepingExtra(b, (*plain)(c), &c.extra,
		"sku", "title", "description", "cost", "retailModelRules", "attributes")
}

// unmarshalKeepingExtra decodes b into v and every member of b not named in
// known into extra, so that attributes the sandbox does not model are stored
// and returned as Dsco does. v must not have an UnmarshalJSON method of its
// own (pass a conversion to a plain type), or this would recurse.
func unmarshalKeepingExtra(b []byte, v any, extra *map[string]json.RawMessage, known ...string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if err := json.Unmarshal(b, extra); err != nil {
		return err
	}
	for _, k := range known {
		delete(*extra, k)
	}
	return nil
}

func checkCatalog(in []catalogIn) fieldErrors {
	var errs fieldErrors
	for i, c := range in {
		if c.SKU == "" {
			errs.add("REQUIRED", itemPath("items", i, "sku"), "sku is required")
		}
		if c.Cost != nil && c.Cost.negative() {
			errs.add("INVALID_FIELD", itemPath("items", i, "cost"), "cost must not be negative")
		}
	}
	return errs
}

// handleSupplierCatalog creates or updates catalog items: attributes given
// replace the stored ones, attributes left out are kept.
func (s *Sandbox) handleSupplierCatalog(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[catalogIn](w, req.body, "items")
	if !ok {
		return
	}
	if errs := checkCatalog(in); len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		for _, c := range in {
			s.upsertCatalog(c)
			s.st.countApplied(req.op, c.SKU)
		}
		return nil
	})
}

// upsertCatalog applies one supplier catalog item; callers hold s.mu.
func (s *Sandbox) upsertCatalog(c catalogIn) {
	it := s.st.catalog[c.SKU]
	if it == nil {
		it = &catalogItem{sku: c.SKU, attributes: map[string]json.RawMessage{}, extra: map[string]json.RawMessage{}}
		s.st.catalog[c.SKU] = it
	}
	if c.Title != nil {
		it.title = *c.Title
	}
	if c.Description != nil {
		it.description = *c.Description
	}
	if c.Cost != nil {
		v := *c.Cost
		it.cost = &v
	}
	if len(c.RetailModelRules) > 0 {
		it.rules = c.RetailModelRules
	}
	for k, v := range c.Attributes {
		it.attributes[k] = v
	}
	for k, v := range c.extra {
		it.extra[k] = v
	}
	it.updated = s.now()
	s.emit(ObjectCatalog, "catalog.updated", it.sku, it)
}

// handleRetailerCatalog merges the retailer's attribution (attributes and
// extra fields) into items the supplier has listed.
func (s *Sandbox) handleRetailerCatalog(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[catalogIn](w, req.body, "items")
	if !ok {
		return
	}
	errs := checkCatalog(in)
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		for i, c := range in {
			it := s.st.catalog[c.SKU]
			if it == nil {
				errs.add("SKU_NOT_FOUND", itemPath("items", i, "sku"), "sku %s is not in the supplier's catalog", c.SKU)
				continue
			}
			for k, v := range c.Attributes {
				it.attributes[k] = v
			}
			for k, v := range c.extra {
				it.extra[k] = v
			}
			it.updated = s.now()
			s.st.countApplied(req.op, c.SKU)
			s.emit(ObjectCatalog, "catalog.attribution_updated", it.sku, it)
		}
		return errs
	})
}

type inventoryIn struct {
	SKU         string `json:"sku"`
	Quantity    *int   `json:"quantity"`
	WarehouseID string `json:"warehouseId"`
}

// DefaultWarehouse is the warehouse of inventory updates that name none.
const DefaultWarehouse = "WH1"

// handleInventory sets the quantity of a sku in a warehouse. The sku must
// be in the catalog.
func (s *Sandbox) handleInventory(w http.ResponseWriter, r *http.Request, req *request) {
	in, ok := decodeBatch[inventoryIn](w, req.body, "items")
	if !ok {
		return
	}
	var errs fieldErrors
	for i, it := range in {
		if it.SKU == "" {
			errs.add("REQUIRED", itemPath("items", i, "sku"), "sku is required")
		}
		switch {
		case it.Quantity == nil:
			errs.add("REQUIRED", itemPath("items", i, "quantity"), "quantity is required")
		case *it.Quantity < 0:
			errs.add("INVALID_FIELD", itemPath("items", i, "quantity"), "quantity must not be negative")
		}
	}
	if len(errs) > 0 {
		writeBatchErrors(w, http.StatusBadRequest, errs)
		return
	}
	s.applyBatch(w, req, len(in), func() fieldErrors {
		for i, it := range in {
			if s.st.catalog[it.SKU] == nil {
				errs.add("SKU_NOT_FOUND", itemPath("items", i, "sku"), "sku %s is not in the catalog", it.SKU)
				continue
			}
			s.setInventory(it.SKU, it.WarehouseID, *it.Quantity)
			wh := it.WarehouseID
			if wh == "" {
				wh = DefaultWarehouse
			}
			s.st.countApplied(req.op, InventoryKey(it.SKU, wh))
		}
		return errs
	})
}

// setInventory records one inventory change; callers hold s.mu.
func (s *Sandbox) setInventory(sku, warehouse string, qty int) {
	if warehouse == "" {
		warehouse = DefaultWarehouse
	}
	inv := s.st.inventory[sku]
	if inv == nil {
		inv = &invItem{sku: sku, warehouses: map[string]int{}}
		s.st.inventory[sku] = inv
	}
	inv.warehouses[warehouse] = qty
	now := s.now()
	inv.updated = now
	s.emit(ObjectInventory, "inventory.updated", sku, map[string]any{"sku": sku, "quantity": qty, "warehouseId": warehouse})
	raw, _ := json.Marshal(inv.view())
	s.st.invLog.append(invChange{ts: now.UnixNano(), sku: sku, raw: raw}, now.Add(-s.cfg.Retention).UnixNano())
}

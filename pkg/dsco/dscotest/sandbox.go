package dscotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/dscokafka/connector/api"
)

// The sandbox's default accounts: one supplier and one retailer with a
// trading relationship between them.
const (
	SupplierClientID     = "sandbox-supplier"
	SupplierClientSecret = "sandbox-supplier-secret"
	RetailerClientID     = "sandbox-retailer"
	RetailerClientSecret = "sandbox-retailer-secret"
)

// BasePath is the path prefix under which the sandbox serves the API.
const BasePath = "/api/v3"

// Operation names of the extension endpoints, used as keys of Config.Faults
// and Stats.Calls beside the operationIds of the OpenAPI document.
const (
	OpGetItemInventory = "getItemInventory"
	OpGetInventoryFile = "getInventoryFile"
	// AllOperations as a fault key applies to every operation that has no
	// fault of its own.
	AllOperations = "*"
)

// SupplierID is the dscoSupplierId of the sandbox's supplier account.
const SupplierID = 1001

// maxBodyBytes bounds a request body.
const maxBodyBytes = 32 << 20

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// Account credentials; defaults are the package constants.
	SupplierClientID, SupplierClientSecret string
	RetailerClientID, RetailerClientSecret string

	// TokenTTL is the lifetime of an access token (default 1h).
	TokenTTL time.Duration
	// Retention is how long stream events and inventory changes are kept
	// (default 90 days). Older ones are pruned lazily.
	Retention time.Duration
	// FileTTL is how long a GetItemInventory file can be downloaded
	// (default 1h).
	FileTTL time.Duration
	// Seed makes faults and generated data deterministic.
	Seed int64
	// Faults by operationId of the OpenAPI document, OpGetItemInventory,
	// OpGetInventoryFile or AllOperations.
	Faults map[string]Fault
	// Now is the sandbox's clock (default time.Now). Tests move it to expire
	// tokens, events and files.
	Now func() time.Time
	// Logger receives file callback outcomes and internal errors; nil
	// discards. Secrets and tokens are never logged.
	Logger *slog.Logger
	// Queue answers batch writes as queued and applies them later.
	Queue QueueConfig
}

func (c *Config) setDefaults() {
	if c.SupplierClientID == "" {
		c.SupplierClientID = SupplierClientID
	}
	if c.SupplierClientSecret == "" {
		c.SupplierClientSecret = SupplierClientSecret
	}
	if c.RetailerClientID == "" {
		c.RetailerClientID = RetailerClientID
	}
	if c.RetailerClientSecret == "" {
		c.RetailerClientSecret = RetailerClientSecret
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 90 * 24 * time.Hour
	}
	if c.FileTTL == 0 {
		c.FileTTL = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Queue.setDefaults()
}

// Validate reports a configuration the sandbox cannot run with.
func (c *Config) Validate() error {
	if c.SupplierClientID != "" && c.SupplierClientID == c.RetailerClientID {
		return errors.New("dscotest: supplier and retailer client ids must differ")
	}
	if c.TokenTTL < 0 || c.Retention < 0 || c.FileTTL < 0 {
		return errors.New("dscotest: TokenTTL, Retention and FileTTL must not be negative")
	}
	for op, f := range c.Faults {
		if err := checkFaultOperation(op); err != nil {
			return fmt.Errorf("dscotest: %w", err)
		}
		if err := f.validate(); err != nil {
			return fmt.Errorf("dscotest: fault for %q: %w", op, err)
		}
	}
	return c.Queue.Validate()
}

type role int

const (
	roleNone role = iota
	roleSupplier
	roleRetailer
)

func (r role) String() string {
	switch r {
	case roleSupplier:
		return "supplier"
	case roleRetailer:
		return "retailer"
	}
	return "none"
}

type token struct {
	role    role
	expires time.Time
}

// Sandbox is a stateful Dsco API v3. It is an http.Handler serving the API
// under BasePath and the sandbox's own /_sandbox endpoints. All methods are
// safe for concurrent use.
type Sandbox struct {
	cfg    Config
	log    *slog.Logger
	router routers.Router
	now    func() time.Time

	tokMu  sync.Mutex
	tokens map[string]token

	faults faultSet

	calls sync.Map // operation -> *atomic.Int64

	mu sync.RWMutex // guards st
	st *state

	gen *generator

	q queue

	bg     sync.WaitGroup // callbacks, the queue
	closed chan struct{}
	once   sync.Once
}

// New builds a Sandbox from cfg.
func New(cfg Config) (*Sandbox, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	router, err := newRouter(context.Background())
	if err != nil {
		return nil, err
	}
	s := &Sandbox{
		cfg:    cfg,
		log:    cfg.Logger,
		router: router,
		now:    func() time.Time { return cfg.Now().UTC() },
		tokens: make(map[string]token),
		closed: make(chan struct{}),
	}
	s.faults.init(cfg.Seed, cfg.Faults)
	s.st = newState(cfg.Seed)
	s.gen = newGenerator(cfg.Seed)
	s.q.outcomes = make(map[string]*BatchOutcome)
	s.q.wake = make(chan struct{}, 1)
	if cfg.Queue.Enabled && cfg.Queue.Delay > 0 {
		s.bg.Add(1)
		go s.runQueue()
	}
	return s, nil
}

// newRouter loads the contract and routes it under the relative BasePath,
// so that requests to any host match.
func newRouter(ctx context.Context) (routers.Router, error) {
	doc, err := api.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("dscotest: %w", err)
	}
	doc.Servers = openapi3.Servers{{URL: BasePath}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("dscotest: building the router: %w", err)
	}
	return router, nil
}

// Close stops the sandbox's background work (file callbacks, applying
// queued batches) and waits for it; batches still queued are never applied.
// It is idempotent.
func (s *Sandbox) Close() {
	s.once.Do(func() { close(s.closed) })
	s.bg.Wait()
}

// ExpireTokens revokes every access token issued so far, as if they had all
// expired: the next request with any of them gets 401.
func (s *Sandbox) ExpireTokens() {
	s.tokMu.Lock()
	clear(s.tokens)
	s.tokMu.Unlock()
}

func (s *Sandbox) countCall(op string) {
	c, ok := s.calls.Load(op)
	if !ok {
		c, _ = s.calls.LoadOrStore(op, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// request is one API call as the handlers see it.
type request struct {
	op     string
	role   role
	body   []byte
	params map[string]string
	route  *routers.Route
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, req *request)

// ServeHTTP serves the API. Requests are routed with the contract, counted,
// subjected to the operation's faults, authenticated, authorised by role,
// validated against the contract and then handled.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/_sandbox/stats" || path == BasePath+"/_sandbox/stats":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET", "")
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
		return
	case path == "/_sandbox/faults" || path == BasePath+"/_sandbox/faults":
		s.serveFaults(w, r)
		return
	case strings.HasPrefix(path, "/_sandbox/queue") || strings.HasPrefix(path, "/_sandbox/batches/") ||
		strings.HasPrefix(path, BasePath+"/_sandbox/queue") || strings.HasPrefix(path, BasePath+"/_sandbox/batches/"):
		s.serveQueue(w, r, strings.TrimPrefix(path, BasePath))
		return
	case path == BasePath+"/inventory":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET", "")
			return
		}
		s.serveOp(w, r, &request{op: OpGetItemInventory}, true, s.handleGetItemInventory)
		return
	case strings.HasPrefix(path, BasePath+"/inventory/files/"):
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET", "")
			return
		}
		id := strings.TrimPrefix(path, BasePath+"/inventory/files/")
		s.serveOp(w, r, &request{op: OpGetInventoryFile, params: map[string]string{"requestId": id}}, false, s.handleInventoryFile)
		return
	}
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		switch {
		case errors.Is(err, routers.ErrMethodNotAllowed):
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed on "+path, "")
		default:
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no operation at "+path, "")
		}
		return
	}
	op := route.Operation.OperationID
	h, ok := s.handlers()[op]
	if !ok {
		writeError(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", op+" is not implemented", "")
		return
	}
	s.serveOp(w, r, &request{op: op, params: params, route: route}, op != "getAccessToken", h)
}

// checkFaultOperation refuses a fault key that names no operation of the
// sandbox: its fault would never apply, and nothing would say so.
func checkFaultOperation(op string) error {
	if op == AllOperations || op == OpGetItemInventory || op == OpGetInventoryFile {
		return nil
	}
	ops := slices.Sorted(maps.Keys((*Sandbox)(nil).handlers()))
	if !slices.Contains(ops, op) {
		return fmt.Errorf("fault operation %q is no operation of the sandbox; want %q, %s, %s or %s",
			op, AllOperations, strings.Join(ops, ", "), OpGetItemInventory, OpGetInventoryFile)
	}
	return nil
}

// handlers are the contract's operations the sandbox serves, by operationId.
// Its keys do not depend on s, which may be nil.
func (s *Sandbox) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"getAccessToken":                   s.handleToken,
		"supplierUpdateCatalog":            s.handleSupplierCatalog,
		"supplierUpdateInventory":          s.handleInventory,
		"supplierCreateShipment":           s.handleShipments,
		"supplierCancelOrderItem":          s.handleCancel,
		"supplierAcknowledgeOrder":         s.handleAcknowledge,
		"supplierCreateReturn":             s.handleReturns,
		"supplierCreateInvoice":            s.handleInvoices,
		"supplierGetOrder":                 s.handleGetOrder,
		"supplierListOrders":               s.handleListOrders,
		"retailerCreateOrder":              s.handleCreateOrders,
		"retailerCreateReturn":             s.handleReturns,
		"retailerRequestCancel":            s.handleCancel,
		"retailerUpdateCatalogAttribution": s.handleRetailerCatalog,
		"createStream":                     s.handleCreateStream,
		"listStreams":                      s.handleListStreams,
		"getStreamEvents":                  s.handleStreamEvents,
		"updateStreamPosition":             s.handleUpdatePosition,
	}
}

func (s *Sandbox) serveOp(w http.ResponseWriter, r *http.Request, req *request, auth bool, h handlerFunc) {
	s.countCall(req.op)
	s.faults.serve(w, r, req.op, func(w http.ResponseWriter, r *http.Request) {
		if auth {
			role, ok := s.authenticate(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dsco-sandbox"`)
				writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "missing, invalid or expired bearer token", "")
				return
			}
			req.role = role
			if want := requiredRole(r.URL.Path); want != roleNone && want != role {
				writeError(w, http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("this operation needs a %s account", want), "")
				return
			}
		}
		if r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
			if err != nil {
				writeError(w, http.StatusBadRequest, "INVALID_BODY", "reading the body: "+err.Error(), "")
				return
			}
			if len(body) > maxBodyBytes {
				writeError(w, http.StatusRequestEntityTooLarge, "TOO_LARGE", "request body too large", "")
				return
			}
			req.body = body
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if req.route != nil && req.op != "getAccessToken" {
			if errs := validateRequest(r, req.route, req.params); len(errs) > 0 {
				writeBatchErrors(w, http.StatusBadRequest, errs)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(req.body))
		}
		h(w, r, req)
	})
}

func requiredRole(path string) role {
	switch {
	case strings.HasPrefix(path, BasePath+"/supplier/"):
		return roleSupplier
	case strings.HasPrefix(path, BasePath+"/retailer/"):
		return roleRetailer
	}
	return roleNone
}

func (s *Sandbox) authenticate(r *http.Request) (role, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return roleNone, false
	}
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	t, ok := s.tokens[tok]
	if !ok {
		return roleNone, false
	}
	if !s.now().Before(t.expires) {
		delete(s.tokens, tok)
		return roleNone, false
	}
	return t.role, true
}

// accessToken is the contract's AccessToken.
type accessToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Sandbox) handleToken(w http.ResponseWriter, r *http.Request, req *request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" {
		// RFC 6749 2.3.1 also allows HTTP Basic client authentication.
		id, secret, _ = r.BasicAuth()
	}
	var ro role
	switch {
	case id == s.cfg.SupplierClientID && secret == s.cfg.SupplierClientSecret:
		ro = roleSupplier
	case id == s.cfg.RetailerClientID && secret == s.cfg.RetailerClientSecret:
		ro = roleRetailer
	default:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	now := s.now()
	s.tokMu.Lock()
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.tokens[tok] = token{role: ro, expires: now.Add(s.cfg.TokenTTL)}
	s.tokMu.Unlock()
	ttl := int64(s.cfg.TokenTTL / time.Second)
	if ttl < 1 {
		ttl = 1
	}
	writeJSON(w, http.StatusOK, accessToken{AccessToken: tok, TokenType: "Bearer", ExpiresIn: ttl})
}

// batchError is the contract's BatchError.
type batchError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// batchResponse is the contract's BatchResponse.
type batchResponse struct {
	BatchID string       `json:"batchId"`
	Status  string       `json:"status"`
	Errors  []batchError `json:"errors"`
}

var batchSeq atomic.Uint64

func newBatchID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("batch-%s-%d", hex.EncodeToString(b[:]), batchSeq.Add(1))
}

func writeBatchErrors(w http.ResponseWriter, status int, errs []batchError) {
	if errs == nil {
		errs = []batchError{}
	}
	writeJSON(w, status, batchResponse{BatchID: newBatchID(), Status: "failed", Errors: errs})
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeBatchErrors(w, status, []batchError{{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"status":"failed","errors":[{"code":"INTERNAL","message":"encoding the response"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// requestOptions is the one request validation configuration of the
// sandbox and the Validator: authentication is checked separately, and every
// violation is reported, not only the first.
var requestOptions = &openapi3filter.Options{
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	MultiError:         true,
}

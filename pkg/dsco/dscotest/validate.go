package dscotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// validateRequest checks r against its route in the contract and returns
// one BatchError per violation, each naming the offending field as a path
// such as "shipments[3].trackingNumber". r.Body must be re-readable by the
// caller afterwards (the caller holds the bytes).
func validateRequest(r *http.Request, route *routers.Route, params map[string]string) []batchError {
	err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    requestOptions,
	})
	if err == nil {
		return nil
	}
	var out []batchError
	flattenValidation(err, "", &out)
	if len(out) == 0 {
		out = append(out, batchError{Code: "INVALID_REQUEST", Message: err.Error()})
	}
	return out
}

func flattenValidation(err error, prefix string, out *[]batchError) {
	var me openapi3.MultiError
	if errors.As(err, &me) && !isSchemaError(err) {
		for _, e := range me {
			flattenValidation(e, prefix, out)
		}
		return
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		switch {
		case re.Parameter != nil:
			prefix = re.Parameter.Name
		case re.RequestBody != nil:
			prefix = ""
		}
		if re.Err == nil {
			*out = append(*out, batchError{Code: "INVALID_REQUEST", Message: re.Reason, Field: prefix})
			return
		}
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) || errors.As(re.Err, &me) {
			flattenValidation(re.Err, prefix, out)
			return
		}
		code := "INVALID_REQUEST"
		if re.RequestBody != nil {
			code = "INVALID_BODY"
		}
		*out = append(*out, batchError{Code: code, Message: re.Error(), Field: prefix})
		return
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		field := joinField(prefix, FieldPath(se.JSONPointer()))
		code := "INVALID_FIELD"
		if se.SchemaField == "required" {
			code = "REQUIRED"
		}
		*out = append(*out, batchError{Code: code, Message: se.Reason, Field: field})
		return
	}
	*out = append(*out, batchError{Code: "INVALID_REQUEST", Message: err.Error(), Field: prefix})
}

func isSchemaError(err error) bool {
	_, ok := err.(*openapi3.SchemaError)
	return ok
}

func joinField(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// FieldPath turns the segments of a JSON pointer (as returned by
// openapi3.SchemaError.JSONPointer) into the field path used in BatchError:
// ["shipments","3","trackingNumber"] becomes "shipments[3].trackingNumber".
func FieldPath(pointer []string) string {
	var b strings.Builder
	for _, seg := range pointer {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// Validator is an http.RoundTripper that checks every request it sends and
// every response it receives against the Dsco OpenAPI contract and records
// each violation. Traffic on the sandbox's extension paths (GetItemInventory,
// inventory files, /_sandbox) is not in the contract and is passed through
// unchecked. A Validator is safe for concurrent use.
type Validator struct {
	base   http.RoundTripper
	router routers.Router

	// responsesOnly skips request checks, for tests that send invalid
	// requests on purpose.
	responsesOnly bool

	mu         sync.Mutex
	violations []string
}

// NewValidator wraps base (nil means http.DefaultTransport).
func NewValidator(base http.RoundTripper) (*Validator, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	router, err := newRouter(context.Background())
	if err != nil {
		return nil, err
	}
	return &Validator{base: base, router: router}, nil
}

// ValidatingTransport returns a Validator around base for the test t: when
// the test ends, every recorded violation is reported with t.Errorf.
func ValidatingTransport(t testing.TB, base http.RoundTripper) *Validator {
	t.Helper()
	v, err := NewValidator(base)
	if err != nil {
		t.Fatalf("dscotest.ValidatingTransport: %v", err)
	}
	t.Cleanup(func() {
		for _, msg := range v.Violations() {
			t.Errorf("Dsco contract violation: %s", msg)
		}
	})
	return v
}

// ResponseValidatingTransport is ValidatingTransport that checks only the
// responses, for tests that send invalid requests on purpose.
func ResponseValidatingTransport(t testing.TB, base http.RoundTripper) *Validator {
	t.Helper()
	v := ValidatingTransport(t, base)
	v.responsesOnly = true
	return v
}

// Violations returns the violations recorded so far, in order.
func (v *Validator) Violations() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.violations...)
}

func (v *Validator) record(format string, args ...any) {
	v.mu.Lock()
	v.violations = append(v.violations, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

func isExtensionPath(path string) bool {
	i := strings.Index(path, BasePath)
	if i >= 0 {
		path = path[i+len(BasePath):]
	}
	return path == "/inventory" || strings.HasPrefix(path, "/inventory/") || strings.HasPrefix(path, "/_sandbox/")
}

// RoundTrip implements http.RoundTripper.
func (v *Validator) RoundTrip(req *http.Request) (*http.Response, error) {
	if isExtensionPath(req.URL.Path) {
		return v.base.RoundTrip(req)
	}
	name := req.Method + " " + req.URL.Path
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if !v.responsesOnly {
			v.record("%s: no operation in the contract: %v", name, err)
		}
		return v.base.RoundTrip(req)
	}
	op := route.Operation.OperationID
	// Validate a copy so that the request sent keeps its body.
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: requestOptions}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil && !v.responsesOnly {
		v.record("%s request (%s): %v", op, name, err)
	}
	if !v.responsesOnly && (route.Operation.Security == nil || len(*route.Operation.Security) > 0) {
		if op != "getAccessToken" && !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
			v.record("%s request (%s): no bearer token", op, name)
		}
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // the caller sees the truncated body; nothing to validate
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		// Faults are outside the contract on purpose.
		return resp, nil
	}
	in.Request = req
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{MultiError: true},
	}
	rin.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), rin); err != nil {
		v.record("%s response %d (%s): %v", op, resp.StatusCode, name, err)
	}
	if len(body) > 0 && resp.StatusCode != http.StatusNoContent {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			v.record("%s response %d (%s): Content-Type %q, want application/json", op, resp.StatusCode, name, ct)
		}
		if bytes.Contains(body, []byte(":null")) {
			v.record("%s response %d (%s): JSON null in body", op, resp.StatusCode, name)
		}
	}
	return resp, nil
}

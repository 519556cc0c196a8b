package dsco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Extra holds the JSON attributes of an object that its Go type does not
// declare, keyed by attribute name, each with its exact JSON text. Decoding
// fills it; encoding writes its attributes after the declared ones, sorted by
// name, skipping any name the type declares (the declared field wins).
type Extra map[string]json.RawMessage

// knownFieldsCache maps a struct type to the set of JSON names its fields
// declare. It is filled once per type, so decoding does no per-call
// reflection beyond a map look-up.
var knownFieldsCache sync.Map // reflect.Type -> map[string]struct{}

func knownFields(t reflect.Type) map[string]struct{} {
	if v, ok := knownFieldsCache.Load(t); ok {
		return v.(map[string]struct{})
	}
	known := make(map[string]struct{}, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		known[name] = struct{}{}
	}
	v, _ := knownFieldsCache.LoadOrStore(t, known)
	return v.(map[string]struct{})
}

// unmarshalObject is the one mechanism behind every model's UnmarshalJSON: it
// decodes data into v (a method-less copy of the model type, so that the call
// does not recurse) and collects the attributes v's type does not declare
// into extra.
func unmarshalObject[T any](data []byte, v *T, extra *Extra) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil // leave v alone, as encoding/json does
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	known := knownFields(reflect.TypeFor[T]())
	*extra = nil
	m := members{data: data}
	for {
		key, raw, ok, err := m.next()
		if err != nil || !ok {
			return err
		}
		if _, declared := known[string(key)]; declared { // no allocation for the look-up
			continue
		}
		if *extra == nil {
			*extra = make(Extra)
		}
		// data belongs to the caller: keep a copy.
		(*extra)[string(key)] = append(json.RawMessage(nil), raw...)
	}
}

// marshalObject is the one mechanism behind every model's MarshalJSON: it
// encodes v (a method-less copy of the model type) and appends the attributes
// of extra that v's type does not declare.
func marshalObject[T any](v *T, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	known := knownFields(reflect.TypeFor[T]())
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, ok := known[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b, nil
	}
	slices.Sort(keys)
	out := bytes.NewBuffer(make([]byte, 0, len(b)+32*len(keys)))
	out.Write(b[:len(b)-1]) // drop the closing brace
	first := len(b) == 2    // "{}"
	for _, k := range keys {
		raw := extra[k]
		if !json.Valid(raw) {
			return nil, fmt.Errorf("extra attribute %q: invalid JSON", k)
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(k)
		out.Write(name)
		out.WriteByte(':')
		out.Write(raw)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

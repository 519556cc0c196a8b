package dsco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Extra holds the JSON attributes of an object that its Go type does not
// declare, keyed by attribute name, each with its exact JSON text. Decoding
// fills it; encoding writes its attributes after the declared ones, sorted by
// name, skipping any name the type declares (the declared field wins).
type Extra map[string]json.RawMessage

// typeInfo is what unmarshalObject needs to know about a model type, worked
// out once per type so that decoding does no per-call reflection beyond a
// map look-up.
type typeInfo struct {
	// known is the set of JSON names the type's fields declare.
	known map[string]struct{}
	// lenient is the type with every time.Time field replaced by timeJSON,
	// so that its timestamps are read with ParseTime; nil when the type has
	// no time.Time field.
	lenient reflect.Type
}

var typeInfoCache sync.Map // reflect.Type -> *typeInfo

func typeInfoOf(t reflect.Type) *typeInfo {
	if v, ok := typeInfoCache.Load(t); ok {
		return v.(*typeInfo)
	}
	info := &typeInfo{known: make(map[string]struct{}, t.NumField()), lenient: lenientType(t)}
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
		info.known[name] = struct{}{}
	}
	v, _ := typeInfoCache.LoadOrStore(t, info)
	return v.(*typeInfo)
}

var (
	timeJSONType    = reflect.TypeFor[timeJSON]()
	timePtrType     = reflect.TypeFor[*time.Time]()
	timeJSONPtrType = reflect.TypeFor[*timeJSON]()
)

// lenientType returns a struct type with the memory layout of t whose
// time.Time (and *time.Time) fields are timeJSON (and *timeJSON), with the
// same names and tags, or nil if t has no such field. timeJSON is defined
// as time.Time, so both types have the same size, alignment and pointer
// layout and a *t may be viewed as a pointer to the lenient type (the
// unsafe.Pointer conversion rule (1)); the offsets are checked to be sure.
func lenientType(t reflect.Type) reflect.Type {
	fields := make([]reflect.StructField, 0, t.NumField())
	changed := false
	for f := range t.Fields() {
		if !f.IsExported() || f.Anonymous {
			return nil // reflect.StructOf cannot copy these; keep the strict decoder
		}
		switch f.Type {
		case timeType:
			f.Type, changed = timeJSONType, true
		case timePtrType:
			f.Type, changed = timeJSONPtrType, true
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
	}
	if !changed {
		return nil
	}
	l := reflect.StructOf(fields)
	if l.Size() != t.Size() || l.Align() != t.Align() {
		return nil
	}
	for i := range fields {
		if l.Field(i).Offset != t.Field(i).Offset {
			return nil
		}
	}
	return l
}

// unmarshalObject is the one mechanism behind every model's UnmarshalJSON: it
// decodes data into v (a method-less copy of the model type named model, so
// that the call does not recurse) and collects the attributes v's type does
// not declare into extra. Timestamps are read with ParseTime. A value that
// does not fit its field is a *json.UnmarshalTypeError naming model and the
// field's path, which the client turns into a *FieldError.
func unmarshalObject[T any](data []byte, model string, v *T, extra *Extra) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil // leave v alone, as encoding/json does
	}
	info := typeInfoOf(reflect.TypeFor[T]())
	var target any = v
	if info.lenient != nil {
		target = reflect.NewAt(info.lenient, unsafe.Pointer(v)).Interface()
	}
	if err := json.Unmarshal(data, target); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			// encoding/json names the struct it was decoding: the plain
			// copy or the lenient type. Name the model instead; an outer
			// model's decoder prefixes its own path and name.
			te.Struct = model
		}
		return err
	}
	*extra = nil
	m := members{data: data}
	for {
		key, raw, ok, err := m.next()
		if err != nil || !ok {
			return err
		}
		if _, declared := info.known[string(key)]; declared { // no allocation for the look-up
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
	known := typeInfoOf(reflect.TypeFor[T]()).known
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

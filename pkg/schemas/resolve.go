package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/hamba/avro/v2"
)

// Schema resolution for values written with a foreign writer schema: any
// registered schema of one of our records whose canonical form (which keeps
// logical types, precision and scale) differs from the schema this build
// reads: another version, or the same record as another producer's tooling
// wrote it.
//
// A plan is compiled once per (writer schema, reader schema) pair and cached
// with the writer's schema id. Compiling it is the compatibility check: the
// registry-time check (Serde.Check, Serde.Register) and decoding use the very
// same compile, so a schema the check accepts is a schema whose values
// decode, and one it refuses is refused by decoding with the same field and
// reason. Running a plan walks the writer's bytes with the Avro resolution
// rules (fields matched by name or alias, added fields filled with their
// defaults, removed fields skipped, reordered fields put back in order,
// int→long→float→double and string↔bytes promotions, unions resolved on
// either side, enum symbols mapped, decimals rescaled exactly) and writes the
// same value as our reader schema encodes it. The records are then filled by
// the one decoder that reads our own schema (fastdecode.go), so a value
// reads the same whatever wrote it.
//
// hamba/avro's decoding path never sees a foreign writer's bytes: its array
// decoder crashes the process on a block count of math.MinInt64, and its
// resolution reads a decimal of another scale as ours without error. Every
// length and block count is checked here before anything is allocated or
// looped over, and the bytes written are canonical Avro (positive block
// counts, minimal varints) that the reader-side decoders accept.

// opKind says what one step of a plan does.
type opKind uint8

const (
	// Resolving ops: read a writer value, write the reader's.
	opNull          opKind = iota // nothing on either side
	opBool                        // one byte, 0 or 1
	opInt                         // int → int
	opLong                        // long → long
	opIntToLong                   // int → long
	opIntToFloat                  // int → float
	opIntToDouble                 // int → double
	opLongToFloat                 // long → float
	opLongToDouble                // long → double
	opFloat                       // float → float
	opFloatToDouble               // float → double
	opDouble                      // double → double
	opString                      // string or bytes → string: must be UTF-8
	opBytes                       // string or bytes → bytes
	opFixed                       // fixed → fixed of the same size
	opEnum                        // symbol index mapped through enum
	opArray                       // blocks of sub
	opMap                         // blocks of string keys and sub
	opRecord                      // fields
	opUnion                       // a writer union: branches[index]
	opBranch                      // a reader union: write index, then sub
	opDecimal                     // a decimal, rescaled exactly

	// Skipping ops: read a writer value the reader has no field for.
	skipNone   // null
	skipN      // n bytes (boolean, float, double, fixed)
	skipVarint // int, long
	skipEnum   // an int below n
	skipBytes  // bytes, string
	skipArray  // blocks of sub
	skipMap    // blocks of a string and sub
	skipRecord // fields
	skipUnion  // branches[index]
)

// maxResolveDepth bounds the nesting of records a value may have: a recursive
// writer schema cannot make the resolver exhaust the stack.
const maxResolveDepth = 64

// op is one node of a plan. Plans of recursive schemas are cyclic graphs.
type op struct {
	kind opKind
	path string // the reader field it fills, for errors ("order.items[].cost")

	n        int     // skipN, opFixed: bytes; skipEnum: symbols; opBranch: reader union index
	sub      *op     // array items, map values, reader union branch
	minItem  int     // arrays and maps: least bytes a writer item (and key) takes
	branches []*op   // unions, by writer index
	enum     []int32 // opEnum: reader index by writer index
	fields   []fieldStep
	tail     []byte // opRecord, in order: defaults after the last writer field
	reorder  bool   // opRecord: the writer's fields come in another order
	nFields  int    // opRecord with reorder: the reader's field count
	defaults []fieldDefault
	dec      decimalPlan
}

// fieldStep reads one writer field: into reader field reader (skipped when
// reader is -1), after writing pre (the defaults of reader fields the writer
// does not have, which come before it).
type fieldStep struct {
	op     *op
	reader int
	pre    []byte
}

// fieldDefault is the encoded default of a reader field the writer lacks.
type fieldDefault struct {
	reader int
	value  []byte
}

// decimalPlan rescales a writer decimal into the reader's.
type decimalPlan struct {
	writerScale, writerFixed int // writerFixed: 0 for bytes
	readerScale, readerFixed int
	readerPrecision          int
}

// plan is the compiled resolution of one writer schema into one reader
// schema. It is immutable and shared by all goroutines.
type plan struct {
	root *op
}

// compileError is why a writer schema cannot be read as the reader schema:
// the path of the field and the reason.
type compileError struct {
	path, reason string
}

func (e *compileError) Error() string {
	if e.path == "" {
		return e.reason
	}
	return "field " + e.path + ": " + e.reason
}

type compiler struct {
	ops   map[[2]avro.Schema]*op // records being compiled, by (reader, writer)
	skips map[avro.Schema]*op
	sizes map[avro.Schema]int // writer records: least encoded size (-1 while computing)
}

// compilePlan compiles the resolution of writer into reader. Its error, a
// *compileError, is the incompatibility of the two schemas.
func compilePlan(reader, writer avro.Schema) (*plan, error) {
	c := &compiler{ops: map[[2]avro.Schema]*op{}, skips: map[avro.Schema]*op{}, sizes: map[avro.Schema]int{}}
	root, err := c.compile(reader, writer, "")
	if err != nil {
		return nil, err
	}
	return &plan{root: root}, nil
}

func compileFail(path, format string, args ...any) error {
	return &compileError{path: path, reason: fmt.Sprintf(format, args...)}
}

func (c *compiler) compile(reader, writer avro.Schema, path string) (*op, error) {
	r, w := deref(reader), deref(writer)
	if wu, ok := w.(*avro.UnionSchema); ok {
		// Every branch the writer may pick must be readable: whether a value
		// reads must not depend on which branch it happens to take.
		u := &op{kind: opUnion, path: path}
		for _, wb := range wu.Types() {
			b, err := c.compile(r, wb, path)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, b)
		}
		return u, nil
	}
	if ru, ok := r.(*avro.UnionSchema); ok {
		return c.compileBranch(ru, w, path)
	}
	if rd, ok := decimalOf(r); ok {
		wd, ok := decimalOf(w)
		if !ok {
			return nil, compileFail(path, "a decimal(%d,%d) cannot be read from %s: the number's scale would be a guess", rd.Precision(), rd.Scale(), describeType(w))
		}
		return &op{kind: opDecimal, path: path, dec: decimalPlan{
			writerScale: wd.Scale(), writerFixed: decimalFixedSize(w),
			readerScale: rd.Scale(), readerFixed: decimalFixedSize(r), readerPrecision: rd.Precision(),
		}}, nil
	}
	if wd, ok := decimalOf(w); ok {
		return nil, compileFail(path, "a decimal(%d,%d) cannot be read as %s", wd.Precision(), wd.Scale(), describeType(r))
	}
	switch r.Type() {
	case avro.Record:
		return c.compileRecord(r.(*avro.RecordSchema), w, path)
	case avro.Enum:
		return compileEnum(r.(*avro.EnumSchema), w, path)
	case avro.Array:
		wa, ok := w.(*avro.ArraySchema)
		if !ok {
			break
		}
		items, err := c.compile(r.(*avro.ArraySchema).Items(), wa.Items(), path+"[]")
		if err != nil {
			return nil, err
		}
		return &op{kind: opArray, path: path, sub: items, minItem: c.minSize(wa.Items())}, nil
	case avro.Map:
		wm, ok := w.(*avro.MapSchema)
		if !ok {
			break
		}
		values, err := c.compile(r.(*avro.MapSchema).Values(), wm.Values(), path+"{}")
		if err != nil {
			return nil, err
		}
		return &op{kind: opMap, path: path, sub: values, minItem: 1 + c.minSize(wm.Values())}, nil
	case avro.Fixed:
		rf := r.(*avro.FixedSchema)
		wf, ok := w.(*avro.FixedSchema)
		if !ok {
			break
		}
		if !namesMatch(rf, wf) {
			return nil, compileFail(path, "fixed %s replaced by %s", wf.FullName(), rf.FullName())
		}
		if rf.Size() != wf.Size() {
			return nil, compileFail(path, "fixed %s changed size from %d to %d", rf.FullName(), wf.Size(), rf.Size())
		}
		return &op{kind: opFixed, path: path, n: rf.Size()}, nil
	default:
		if k, ok := promotion(r, w); ok {
			if err := sameLogical(r, w, path); err != nil {
				return nil, err
			}
			return &op{kind: k, path: path}, nil
		}
	}
	return nil, compileFail(path, "type changed from %s to %s", describeType(w), describeType(r))
}

// compileBranch resolves a writer type into a reader union: the first
// branch of the same type (or, for named types, the same name), else the
// first the writer's type can be promoted to.
func (c *compiler) compileBranch(ru *avro.UnionSchema, w avro.Schema, path string) (*op, error) {
	branches := ru.Types()
	for i, rb := range branches {
		if sameKind(rb, w) {
			sub, err := c.compile(rb, w, path)
			if err != nil {
				return nil, err
			}
			return &op{kind: opBranch, path: path, n: i, sub: sub}, nil
		}
	}
	for i, rb := range branches {
		if rb.Type() == avro.Union {
			continue
		}
		if sub, err := c.compile(rb, w, path); err == nil {
			return &op{kind: opBranch, path: path, n: i, sub: sub}, nil
		}
	}
	return nil, compileFail(path, "type %s can no longer be read as %s", describeType(w), describeType(ru))
}

func (c *compiler) compileRecord(rr *avro.RecordSchema, writer avro.Schema, path string) (*op, error) {
	wr, ok := writer.(*avro.RecordSchema)
	if !ok {
		return nil, compileFail(path, "type changed from %s to record %s", describeType(writer), rr.FullName())
	}
	if !namesMatch(rr, wr) {
		return nil, compileFail(path, "record %s replaced by %s", wr.FullName(), rr.FullName())
	}
	// A record type met again inside itself (a recursive schema) reuses
	// the op being compiled, which makes the plan a cyclic graph; met again
	// elsewhere, it is compiled again so that its errors name that path.
	key := [2]avro.Schema{rr, wr}
	if o, ok := c.ops[key]; ok {
		return o, nil
	}
	o := &op{kind: opRecord, path: path}
	c.ops[key] = o
	defer delete(c.ops, key)

	readerOf := make([]int, len(wr.Fields())) // reader field by writer field
	for i := range readerOf {
		readerOf[i] = -1
	}
	var missing []fieldDefault
	for i, f := range rr.Fields() {
		fp := join(path, f.Name())
		j := slices.IndexFunc(wr.Fields(), func(w *avro.Field) bool {
			return w.Name() == f.Name() || slices.Contains(f.Aliases(), w.Name())
		})
		if j >= 0 && readerOf[j] >= 0 {
			return nil, compileFail(fp, "fields %s and %s would both be read from the writer's field %s",
				rr.Fields()[readerOf[j]].Name(), f.Name(), wr.Fields()[j].Name())
		}
		if j >= 0 {
			readerOf[j] = i
			continue
		}
		if !f.HasDefault() {
			return nil, compileFail(fp, "new field without a default: data written with the registered schema has no value for it")
		}
		def, err := appendDefault(nil, f.Type(), f.Default())
		if err != nil {
			return nil, compileFail(fp, "default cannot be encoded: %v", err)
		}
		missing = append(missing, fieldDefault{reader: i, value: def})
	}

	last := -1
	for j, wf := range wr.Fields() {
		step := fieldStep{reader: readerOf[j]}
		var err error
		if step.reader < 0 {
			step.op = c.compileSkip(wf.Type())
		} else {
			rf := rr.Fields()[step.reader]
			if step.op, err = c.compile(rf.Type(), wf.Type(), join(path, rf.Name())); err != nil {
				return nil, err
			}
			if step.reader < last {
				o.reorder = true
			}
			last = step.reader
		}
		o.fields = append(o.fields, step)
	}
	if o.reorder {
		o.nFields = len(rr.Fields())
		o.defaults = missing
		return o, nil
	}
	// In order: each default goes before the first writer field read into a
	// later reader field, or at the end.
	for _, d := range missing {
		k := slices.IndexFunc(o.fields, func(s fieldStep) bool { return s.reader > d.reader })
		if k < 0 {
			o.tail = append(o.tail, d.value...)
			continue
		}
		o.fields[k].pre = append(o.fields[k].pre, d.value...)
	}
	return o, nil
}

func compileEnum(re *avro.EnumSchema, writer avro.Schema, path string) (*op, error) {
	we, ok := writer.(*avro.EnumSchema)
	if !ok {
		return nil, compileFail(path, "type changed from %s to enum %s", describeType(writer), re.FullName())
	}
	if !namesMatch(re, we) {
		return nil, compileFail(path, "enum %s replaced by %s", we.FullName(), re.FullName())
	}
	o := &op{kind: opEnum, path: path}
	for _, s := range we.Symbols() {
		i := slices.Index(re.Symbols(), s)
		if i < 0 && re.HasDefault() {
			i = slices.Index(re.Symbols(), re.Default())
		}
		if i < 0 {
			return nil, compileFail(path, "enum %s lost symbol %s (and has no default)", re.FullName(), s)
		}
		o.enum = append(o.enum, int32(i))
	}
	return o, nil
}

// promotion returns the op reading primitive writer type w as primitive
// reader type r, if the Avro rules allow it.
func promotion(r, w avro.Schema) (opKind, bool) {
	if _, ok := w.(*avro.PrimitiveSchema); !ok {
		if w.Type() != avro.Null {
			return 0, false
		}
	}
	type pair struct{ r, w avro.Type }
	k, ok := map[pair]opKind{
		{avro.Null, avro.Null}:       opNull,
		{avro.Boolean, avro.Boolean}: opBool,
		{avro.Int, avro.Int}:         opInt,
		{avro.Long, avro.Long}:       opLong,
		{avro.Long, avro.Int}:        opIntToLong,
		{avro.Float, avro.Int}:       opIntToFloat,
		{avro.Float, avro.Long}:      opLongToFloat,
		{avro.Float, avro.Float}:     opFloat,
		{avro.Double, avro.Int}:      opIntToDouble,
		{avro.Double, avro.Long}:     opLongToDouble,
		{avro.Double, avro.Float}:    opFloatToDouble,
		{avro.Double, avro.Double}:   opDouble,
		{avro.String, avro.String}:   opString,
		{avro.String, avro.Bytes}:    opString,
		{avro.Bytes, avro.Bytes}:     opBytes,
		{avro.Bytes, avro.String}:    opBytes,
	}[pair{r.Type(), w.Type()}]
	return k, ok
}

// sameLogical refuses a reader logical type (timestamp-millis, date, ...)
// read from a writer value of another or no logical type: a
// timestamp-micros read as timestamp-millis is a date centuries away, and a
// plain long says nothing about its unit.
func sameLogical(r, w avro.Schema, path string) error {
	rl, wl := logicalTypeOf(r), logicalTypeOf(w)
	if rl == "" || rl == wl {
		return nil
	}
	if wl == "" {
		return compileFail(path, "a %s cannot be read from a plain %s", rl, w.Type())
	}
	return compileFail(path, "a %s cannot be read from a %s", rl, wl)
}

func logicalTypeOf(s avro.Schema) avro.LogicalType {
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		return l.Logical().Type()
	}
	return ""
}

func decimalFixedSize(s avro.Schema) int {
	if f, ok := s.(*avro.FixedSchema); ok {
		return f.Size()
	}
	return 0
}

// namesMatch applies Avro's rule for named types: the same unqualified
// name, or a reader alias naming the writer's type.
func namesMatch(r, w avro.NamedSchema) bool {
	return r.Name() == w.Name() || slices.Contains(r.Aliases(), w.FullName())
}

// compileSkip compiles reading past a value of writer type w.
func (c *compiler) compileSkip(writer avro.Schema) *op {
	w := deref(writer)
	if o, ok := c.skips[w]; ok {
		return o
	}
	switch w.Type() {
	case avro.Null:
		return &op{kind: skipNone}
	case avro.Boolean:
		return &op{kind: skipN, n: 1}
	case avro.Int, avro.Long:
		return &op{kind: skipVarint}
	case avro.Float:
		return &op{kind: skipN, n: 4}
	case avro.Double:
		return &op{kind: skipN, n: 8}
	case avro.Bytes, avro.String:
		return &op{kind: skipBytes}
	case avro.Fixed:
		return &op{kind: skipN, n: w.(*avro.FixedSchema).Size()}
	case avro.Enum:
		return &op{kind: skipEnum, n: len(w.(*avro.EnumSchema).Symbols())}
	case avro.Array:
		items := w.(*avro.ArraySchema).Items()
		return &op{kind: skipArray, sub: c.compileSkip(items), minItem: c.minSize(items)}
	case avro.Map:
		values := w.(*avro.MapSchema).Values()
		return &op{kind: skipMap, sub: c.compileSkip(values), minItem: 1 + c.minSize(values)}
	case avro.Union:
		o := &op{kind: skipUnion}
		for _, b := range w.(*avro.UnionSchema).Types() {
			o.branches = append(o.branches, c.compileSkip(b))
		}
		return o
	case avro.Record:
		o := &op{kind: skipRecord}
		c.skips[w] = o
		for _, f := range w.(*avro.RecordSchema).Fields() {
			o.fields = append(o.fields, fieldStep{op: c.compileSkip(f.Type()), reader: -1})
		}
		return o
	}
	// Every Avro type is listed above; a schema hamba parsed has no other.
	panic(fmt.Sprintf("schemas: no skip for Avro type %s", w.Type()))
}

// minSize returns the least number of bytes a value of writer type w takes,
// so that a block count can be checked against the bytes that remain.
func (c *compiler) minSize(writer avro.Schema) int {
	w := deref(writer)
	switch w.Type() {
	case avro.Null:
		return 0
	case avro.Float:
		return 4
	case avro.Double:
		return 8
	case avro.Fixed:
		return w.(*avro.FixedSchema).Size()
	case avro.Union:
		return 1
	case avro.Record:
		if n, ok := c.sizes[w]; ok {
			return max(n, 0) // recursive: count what is known
		}
		c.sizes[w] = -1
		n := 0
		for _, f := range w.(*avro.RecordSchema).Fields() {
			n = min(n+c.minSize(f.Type()), 1<<20)
		}
		c.sizes[w] = n
		return n
	}
	return 1 // boolean, int, long, bytes, string, enum, array, map
}

// appendDefault appends the encoding of a field default as hamba/avro
// parsed it (Field.Default: the value for the first branch of a union).
func appendDefault(dst []byte, schema avro.Schema, v any) ([]byte, error) {
	s := deref(schema)
	switch s.Type() {
	case avro.Null:
		return dst, nil
	case avro.Union:
		dst = resolveAppendLong(dst, 0)
		return appendDefault(dst, s.(*avro.UnionSchema).Types()[0], v)
	case avro.Boolean:
		if b, ok := v.(bool); ok {
			if b {
				return append(dst, 1), nil
			}
			return append(dst, 0), nil
		}
	case avro.Int, avro.Long:
		switch n := v.(type) {
		case int:
			return resolveAppendLong(dst, int64(n)), nil
		case int64:
			return resolveAppendLong(dst, n), nil
		}
	case avro.Float:
		if f, ok := v.(float32); ok {
			return resolveAppendFloat(dst, f), nil
		}
	case avro.Double:
		if f, ok := v.(float64); ok {
			return resolveAppendDouble(dst, f), nil
		}
	case avro.String:
		if str, ok := v.(string); ok {
			return append(resolveAppendLong(dst, int64(len(str))), str...), nil
		}
	case avro.Bytes:
		if b, ok := v.([]byte); ok {
			return append(resolveAppendLong(dst, int64(len(b))), b...), nil
		}
	case avro.Fixed:
		if b, ok := fixedDefaultBytes(v); ok && len(b) == s.(*avro.FixedSchema).Size() {
			return append(dst, b...), nil
		}
	case avro.Enum:
		if sym, ok := v.(string); ok {
			if i := slices.Index(s.(*avro.EnumSchema).Symbols(), sym); i >= 0 {
				return resolveAppendLong(dst, int64(i)), nil
			}
		}
	case avro.Array:
		items, ok := v.([]any)
		if !ok {
			break
		}
		if len(items) > 0 {
			dst = resolveAppendLong(dst, int64(len(items)))
			for _, it := range items {
				var err error
				if dst, err = appendDefault(dst, s.(*avro.ArraySchema).Items(), it); err != nil {
					return nil, err
				}
			}
		}
		return resolveAppendLong(dst, 0), nil
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			dst = resolveAppendLong(dst, int64(len(keys)))
			for _, k := range keys {
				dst = append(resolveAppendLong(dst, int64(len(k))), k...)
				var err error
				if dst, err = appendDefault(dst, s.(*avro.MapSchema).Values(), m[k]); err != nil {
					return nil, err
				}
			}
		}
		return resolveAppendLong(dst, 0), nil
	case avro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		for _, f := range s.(*avro.RecordSchema).Fields() {
			var err error
			if dst, err = appendDefault(dst, f.Type(), m[f.Name()]); err != nil {
				return nil, err
			}
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%v is not a %s", v, describeType(s))
}

func fixedDefaultBytes(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	case string:
		return []byte(b), true
	}
	// hamba/avro holds a fixed default as a byte array of the fixed's size.
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Array || rv.Type().Elem().Kind() != reflect.Uint8 {
		return nil, false
	}
	out := make([]byte, rv.Len())
	for i := range out {
		out[i] = byte(rv.Index(i).Uint())
	}
	return out, true
}

// errors of the resolver, wrapped in *MalformedError.
var (
	errResolveBlockCount    = errors.New("avro: array or map block count out of range")
	errResolveBlockTooLarge = errors.New("avro: block count exceeds the bytes that remain")
	errResolveBlockSize     = errors.New("avro: block byte size does not match its items")
	errResolveBadLength     = errors.New("avro: negative bytes or string length")
	errResolveLengthLimit   = errors.New("avro: bytes or string longer than Config.MaxBytes")
	errResolveItemLimit     = errors.New("avro: array or map longer than Config.MaxItems")
	errResolveVarint        = errors.New("avro: varint longer than 10 bytes")
	errResolveIntRange      = errors.New("avro: int out of 32-bit range")
	errResolveUnionIndex    = errors.New("avro: union branch index out of range")
	errResolveEnumIndex     = errors.New("avro: enum symbol index out of range")
	errResolveBadBool       = errors.New("avro: boolean byte neither 0 nor 1")
	errResolveBadUTF8       = errors.New("avro: string is not valid UTF-8")
	errResolveTooDeep       = errors.New("avro: records nested too deep")
	errResolveTrailing      = errors.New("trailing bytes after the record")
)

package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Var is the environment variable at fault.
	Var string
	// Message says what it expects (and, for values that are not secret,
	// what it got).
	Message string
}

// String returns "VAR: message".
func (p Problem) String() string { return p.Var + ": " + p.Message }

// Error is an invalid configuration: every problem found, in the order of
// the variables in Config. It never contains a secret's value.
type Error struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems, at most one per variable: the first found is
// the one reported, so that a value that failed to decode is not reported
// again by the checks that would have read it.
type problems struct {
	list []Problem
	seen map[string]bool
}

func (p *problems) add(name, format string, args ...any) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[name] {
		return
	}
	p.seen[name] = true
	p.list = append(p.list, Problem{Var: name, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) has(name string) bool { return p.seen[name] }

// err returns the problems sorted in the order of Fields, or nil if none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	order := map[string]int{}
	for i, f := range Fields() {
		order[f.Var] = i
	}
	sorted := make([]Problem, 0, len(p.list))
	for _, f := range Fields() {
		for _, pr := range p.list {
			if pr.Var == f.Var {
				sorted = append(sorted, pr)
			}
		}
	}
	for _, pr := range p.list { // problems about names outside Fields: none expected, but keep them
		if _, ok := order[pr.Var]; !ok {
			sorted = append(sorted, pr)
		}
	}
	return &Error{Problems: sorted}
}

// Load reads the configuration through l (envconfig.OsLookuper() for the
// process environment; tests use envconfig.MapLookuper) and validates it.
// On failure the error is an *Error listing every problem at once.
//
// Each variable is decoded on its own with go-envconfig, which stops at the
// first failure of a struct, so that one bad value does not hide the others.
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var cfg Config
	var p problems
	root := reflect.ValueOf(&cfg).Elem()
	for _, f := range Fields() {
		// A one-field struct with the field's own type and env tag.
		st := reflect.StructOf([]reflect.StructField{{
			Name: "V", Type: f.typ, Tag: reflect.StructTag("env:" + strconv.Quote(f.tag)),
		}})
		one := reflect.New(st)
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: one.Interface(), Lookuper: l}); err != nil {
			p.add(f.Var, "%s", decodeMessage(f, l, err))
			continue
		}
		root.FieldByIndex(f.index).Set(one.Elem().Field(0))
	}
	cfg.validate(&p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// decodeMessage words a go-envconfig failure for the variable f.
func decodeMessage(f Field, l envconfig.Lookuper, err error) string {
	if errors.Is(err, envconfig.ErrMissingRequired) {
		return "required; want " + f.Want
	}
	want, why := f.Want, ""
	if we, ok := errors.AsType[*wantError](err); ok {
		want = we.want
		if we.why != "" {
			why = ": " + we.why
		}
	}
	if f.Secret {
		return "want " + want
	}
	val, _ := l.Lookup(f.Var)
	return fmt.Sprintf("want %s, got %s%s", want, quote(val), why)
}

// quote quotes a value for a message, cut to a readable length.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

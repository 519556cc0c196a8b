package config

import (
	"reflect"
	"strings"
	"time"
)

// Field describes one environment variable of Config, as its struct tags
// declare it.
type Field struct {
	// Var is the environment variable's name.
	Var string
	// Default is the value used when the variable is not set ("" for none).
	Default string
	// Required reports whether the variable must be set.
	Required bool
	// Secret reports whether the value is a Secret, never shown.
	Secret bool
	// Desc says what the variable means (the desc tag).
	Desc string
	// Want says what a valid value looks like, for error messages.
	Want string

	tag   string       // the env tag, verbatim
	index []int        // path of the field in Config
	typ   reflect.Type // the field's type
}

// Fields returns every environment variable of Config, in declaration order.
func Fields() []Field {
	var out []Field
	walk(reflect.TypeFor[Config](), nil, &out)
	return out
}

// Lookup returns the Field of the environment variable name.
func Lookup(name string) (Field, bool) {
	for _, f := range Fields() {
		if f.Var == name {
			return f, true
		}
	}
	return Field{}, false
}

func walk(t reflect.Type, index []int, out *[]Field) {
	for i := range t.NumField() {
		sf := t.Field(i)
		path := append(append([]int(nil), index...), i)
		tag, ok := sf.Tag.Lookup("env")
		if !ok {
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, path, out)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := Field{
			Var:    strings.TrimSpace(name),
			Secret: sf.Type == reflect.TypeFor[Secret](),
			Desc:   sf.Tag.Get("desc"),
			Want:   sf.Tag.Get("want"),
			tag:    tag,
			index:  path,
			typ:    sf.Type,
		}
		for opts != "" {
			var opt string
			opt, opts, _ = strings.Cut(opts, ",")
			opt = strings.TrimSpace(opt)
			if d, ok := strings.CutPrefix(opt, "default="); ok {
				// go-envconfig's default takes the rest of the tag, commas included.
				f.Default = d
				if opts != "" {
					f.Default += "," + opts
				}
				break
			}
			if opt == "required" {
				f.Required = true
			}
		}
		if f.Want == "" {
			f.Want = wantOf(sf.Type)
		}
		*out = append(*out, f)
	}
}

// wantOf says what a valid value of a type looks like, for the types whose
// decoders do not say it themselves.
func wantOf(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 500ms, 30s or 2m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "a whole number"
	}
	return "a value"
}

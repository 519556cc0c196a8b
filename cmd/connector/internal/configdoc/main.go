package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
)

// The markers around the generated table in README.md.
const (
	beginMarker = "<!-- config:begin -->"
	endMarker   = "<!-- config:end -->"
)

func main() {
	readme := flag.String("readme", "README.md", "the README to update in place")
	flag.Parse()
	if err := update(*readme); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

func update(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := splice(old, table())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(out, old) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}

// splice returns readme with the text between the markers replaced by body.
func splice(readme []byte, body string) ([]byte, error) {
	s := string(readme)
	begin := strings.Index(s, beginMarker)
	end := strings.Index(s, endMarker)
	switch {
	case begin < 0 || end < 0:
		return nil, errors.New("markers " + beginMarker + " and " + endMarker + " not found")
	case strings.Count(s, beginMarker) != 1 || strings.Count(s, endMarker) != 1:
		return nil, errors.New("each marker must appear exactly once")
	case end < begin:
		return nil, errors.New(endMarker + " comes before " + beginMarker)
	}
	return []byte(s[:begin+len(beginMarker)] + "\n" + body + s[end:]), nil
}

// table is the generated Markdown: a note and one row per variable.
func table() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from cmd/connector/internal/config by `go generate ./cmd/connector`. DO NOT EDIT. -->\n")
	b.WriteString("| variable | default | required | meaning |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
	for _, f := range config.Fields() {
		def := ""
		if f.Default != "" {
			def = "`" + f.Default + "`"
		}
		req := ""
		if f.Required {
			req = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Var, def, req, escape(f.Desc))
	}
	return b.String()
}

// escape keeps a description's text literal in a Markdown table cell.
func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/dscokafka/connector/pkg/schemas"
)

func runSchemas(ctx context.Context, e *env, args []string) error {
	const sub = "print|register|check"
	if len(args) == 0 {
		return &usageError{msg: "schemas: want a subcommand: " + sub}
	}
	switch args[0] {
	case "print":
		return schemasPrint(ctx, e, args[1:])
	case "register":
		return schemasRegister(ctx, e, args[1:])
	case "check":
		return schemasCheck(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(e.stderr, "Usage: connector schemas "+sub)
		return flag.ErrHelp
	}
	return &usageError{msg: fmt.Sprintf("schemas: unknown subcommand %q (want %s)", args[0], sub)}
}

// schemasPrint lists the records the configuration uses with their topics
// and subjects, or with -schemas their schema texts as one JSON document.
func schemasPrint(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "schemas print", "[-schemas]")
	texts := fs.Bool("schemas", false, "print each record's subject and schema text as JSON instead of a table")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	serde, err := schemas.NewSerde(cfg.SerdeConfig())
	if err != nil {
		return err
	}
	records := cfg.Records()
	if *texts {
		type entry struct {
			Subject string          `json:"subject"`
			Topic   string          `json:"topic"`
			Record  string          `json:"record"`
			Schema  json.RawMessage `json:"schema"`
		}
		out := make([]entry, len(records))
		for i, d := range records {
			out[i] = entry{Subject: serde.Subject(d), Topic: serde.Topic(d), Record: d.RecordName, Schema: json.RawMessage(d.Text)}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tTOPIC\tSUBJECT\tRECORD")
	for _, d := range records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Kind, d.Name, serde.Topic(d), serde.Subject(d), d.RecordName)
	}
	return tw.Flush()
}

// schemasRegister registers every schema of the configuration (or, with
// SCHEMA_REGISTRY_LOOKUP_ONLY, looks them up) after the local compatibility
// check, printing each subject's schema id.
func schemasRegister(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "schemas register", "")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	serde, err := schemas.NewSerde(cfg.SerdeConfig())
	if err != nil {
		return err
	}
	regErr := serde.Register(ctx)
	failed := map[string]error{}
	for _, err := range unjoin(regErr) {
		if ie, ok := errors.AsType[*schemas.IncompatibleError](err); ok {
			failed[ie.Subject] = err
		}
	}
	for _, d := range cfg.Records() {
		subject := serde.Subject(d)
		if id, ok := serde.SchemaID(d); ok {
			printLine(e.stdout, true, fmt.Sprintf("%s: schema id %d", subject, id))
		} else if err := failed[subject]; err != nil {
			printLine(e.stdout, false, err.Error())
		} else {
			printLine(e.stdout, false, subject+": not registered")
		}
	}
	if regErr != nil {
		var buf bytes.Buffer
		for _, err := range unjoin(regErr) {
			if _, ok := errors.AsType[*schemas.IncompatibleError](err); !ok {
				fmt.Fprintf(&buf, "\n  %v", err)
			}
		}
		if buf.Len() > 0 {
			return fmt.Errorf("schemas register:%s", buf.String())
		}
		return errReported
	}
	return nil
}

// schemasCheck checks every schema of the configuration against the latest
// version registered under its subject, without registering anything.
func schemasCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "schemas check", "")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	serde, err := schemas.NewSerde(cfg.SerdeConfig())
	if err != nil {
		return err
	}
	checkErr := serde.Check(ctx)
	failed := map[string]error{}
	var other []error
	for _, err := range unjoin(checkErr) {
		if ie, ok := errors.AsType[*schemas.IncompatibleError](err); ok {
			failed[ie.Subject] = err
		} else {
			other = append(other, err)
		}
	}
	for _, d := range cfg.Records() {
		subject := serde.Subject(d)
		if err := failed[subject]; err != nil {
			printLine(e.stdout, false, err.Error())
		} else if len(other) == 0 {
			printLine(e.stdout, true, subject+": compatible")
		}
	}
	if len(other) > 0 {
		return fmt.Errorf("schemas check: %w", errors.Join(other...))
	}
	if len(failed) > 0 {
		return errReported
	}
	return nil
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

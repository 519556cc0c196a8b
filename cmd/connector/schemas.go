package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/dscokafka/connector/pkg/schemas"
)

// runSchemas is `connector schemas print|register|check`.
func runSchemas(ctx context.Context, e *env, args []string) error {
	return runSubcommand(ctx, e, "schemas", schemasCommands, args)
}

// schemasCommands are schemas' subcommands, in the order its usage lists them.
var schemasCommands = []command{
	{name: "print", summary: "list the configuration's records with their topics and subjects (-schemas: their schema texts)", run: schemasPrint},
	{name: "register", summary: "register each schema under its subject, after checking it against the latest version there", run: func(ctx context.Context, e *env, args []string) error {
		return schemasApply(ctx, e, args, true)
	}},
	{name: "check", summary: "check each schema against the latest version under its subject, registering nothing", run: func(ctx context.Context, e *env, args []string) error {
		return schemasApply(ctx, e, args, false)
	}},
}

// schemasPrint lists the records the configuration uses with their topics
// and subjects, or with -schemas their schema texts as one JSON document.
func schemasPrint(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "schemas print", "")
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
	defer serde.Close()
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

// schemasApply registers (register) or checks every schema of the
// configuration, printing one line per subject. Register registers each schema
// after the local compatibility check and prints its schema id, also with
// SCHEMA_REGISTRY_LOOKUP_ONLY (which only keeps `run` from registering); check
// compares each with the latest version registered under its subject without
// registering anything, and with SCHEMA_REGISTRY_LOOKUP_ONLY also requires it
// registered, as `run` then does.
func schemasApply(ctx context.Context, e *env, args []string, register bool) error {
	name := "schemas check"
	if register {
		name = "schemas register"
	}
	fs := newFlagSet(e, name, "")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	sc := cfg.SerdeConfig()
	if register {
		// An operator's explicit request: SCHEMA_REGISTRY_LOOKUP_ONLY keeps
		// the running connector from registering, not this command.
		sc.LookupOnly = false
	}
	serde, err := schemas.NewSerde(sc)
	if err != nil {
		return err
	}
	defer serde.Close()
	if register {
		err = serde.Register(ctx)
	} else {
		err = serde.Check(ctx)
	}
	failed := map[string]error{}
	var other []error
	notRegistered := 0
	for _, err := range unjoin(err) {
		if ie, ok := errors.AsType[*schemas.IncompatibleError](err); ok {
			failed[ie.Subject] = err
		} else if nr, ok := errors.AsType[*schemas.NotRegisteredError](err); ok {
			failed[nr.Subject] = err
			notRegistered++
		} else {
			other = append(other, err)
		}
	}
	for _, d := range cfg.Records() {
		subject := serde.Subject(d)
		id, registered := serde.SchemaID(d)
		switch {
		case failed[subject] != nil:
			printLine(e.stdout, false, failed[subject].Error())
		case register && registered:
			printLine(e.stdout, true, fmt.Sprintf("%s: schema id %d", subject, id))
		case register && !registrySilent(errors.Join(other...)): // else the error says none was tried
			printLine(e.stdout, false, subject+": not registered")
		case len(other) == 0:
			printLine(e.stdout, true, subject+": compatible")
		}
	}
	if len(other) > 0 {
		return withRegistryAdvice(fmt.Errorf("%s: %w", name, errors.Join(other...)))
	}
	if notRegistered > 0 {
		return fmt.Errorf("%s: %s not registered (%s)", name, count(notRegistered, "schema"), lookupOnlyHint)
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

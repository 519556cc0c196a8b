package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
)

func main() {
	// Signals are handled here only: every command gets a context that ends on
	// the first SIGINT or SIGTERM and shuts down within its own bound. The
	// default handling is then restored, so a second signal kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := dispatch(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, lookup: envconfig.OsLookuper()})
	stop()
	os.Exit(code)
}

// env is what a command gets from the process: its output streams and the
// environment to read the configuration from (a map in tests).
type env struct {
	stdout, stderr io.Writer
	lookup         envconfig.Lookuper
}

// loadConfig reads and validates the configuration; the error is a
// *config.Error listing every problem.
func (e *env) loadConfig(ctx context.Context) (*config.Config, error) {
	return config.Load(ctx, e.lookup)
}

// command is one subcommand. run parses its own flags (flag.ContinueOnError,
// output to e.stderr) from args, which exclude the command's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands are the subcommands, in the order the usage text lists them. The
// pipelines' commands (run, demo, poison) are added here when they exist.
var commands = []command{
	{name: "run", summary: "run both directions per configuration until SIGTERM or SIGINT (the default)", run: runRun},
	{name: "demo", summary: "run everything embedded (Kafka, registry, Dsco sandbox, a sample warehouse) and show the loop", run: runDemo},
	{name: "poison", summary: "list poisoned records with their reasons, or replay them to their source topics (poison list|replay)", run: runPoison},
	{name: "check", summary: "validate the configuration and reach Kafka, the Schema Registry and Dsco", run: runCheck},
	{name: "schemas", summary: "print, register or check the Avro schemas (schemas print|register|check)", run: runSchemas},
	{name: "probe", summary: "GET a URL, succeed on 2xx (container health checks: the image has no curl)", run: runProbe},
	{name: "version", summary: "print the module version and VCS information", run: runVersion},
}

// defaultCommand runs when no command is named (only flags, or nothing).
const defaultCommand = "run"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // a command failed: a check, a registration, a run
	exitUsage   = 2 // an unknown command, bad flags or an invalid configuration
)

// usageError is a mistake in the command line.
type usageError struct {
	msg      string
	reported bool // printed already (the flag package prints its own errors, with the usage)
}

func (e *usageError) Error() string { return e.msg }

// helpArgs ask for the usage in place of a command or a subcommand.
var helpArgs = []string{"help", "-h", "-help", "--help"}

// dispatch runs the command args name and returns the exit status.
func dispatch(ctx context.Context, args []string, e *env) int {
	if len(args) > 0 && slices.Contains(helpArgs, args[0]) {
		usage(e.stdout)
		return exitOK
	}
	name := defaultCommand
	if len(args) > 0 && slices.Contains([]string{"-version", "--version"}, args[0]) {
		// What other tools answer to it; run, the default command, has no such flag.
		name, args = "version", args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if i := slices.IndexFunc(args, isCommand); i > 0 {
		// Flags before the command: the default command, run, has no flags,
		// so they were meant for the command named after them.
		fmt.Fprintf(e.stderr, "connector: flags %q come before the command %s: give them after it (\"connector %s -h\" lists them)\n",
			args[:i], args[i], args[i])
		return exitUsage
	}
	for _, c := range commands {
		if c.name == name {
			return exitStatus(e, c.run(ctx, e, args))
		}
	}
	if len(args) > 0 || name != defaultCommand {
		fmt.Fprintf(e.stderr, "connector: unknown command %q\n\n", name)
	}
	usage(e.stderr)
	return exitUsage
}

// isCommand reports whether name is a command's name.
func isCommand(name string) bool {
	return slices.ContainsFunc(commands, func(c command) bool { return c.name == name })
}

// exitStatus reports err on stderr and maps it to an exit status.
func exitStatus(e *env, err error) int {
	var cfgErr *config.Error
	var uErr *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK // the flag set printed its usage
	case errors.As(err, &cfgErr):
		fmt.Fprintf(e.stderr, "connector: %v\n", err)
		fmt.Fprintln(e.stderr, "connector: \"connector run -h\" lists every variable, its default and what it means")
		return exitUsage
	case errors.As(err, &uErr):
		if !uErr.reported {
			fmt.Fprintf(e.stderr, "connector: %v\n", err)
		}
		return exitUsage
	case errors.Is(err, errReported):
		return exitFailure
	default:
		fmt.Fprintf(e.stderr, "connector: %v\n", err)
		return exitFailure
	}
}

// errReported is a failure the command has already reported in its output.
var errReported = errors.New("failure already reported")

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: connector <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	printCommands(w, commands)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration is read from environment variables: \"connector run -h\" lists them.")
	fmt.Fprintln(w, "Run \"connector <command> -h\" for a command's flags.")
}

// printCommands writes one line per command of cmds: its name and summary.
func printCommands(w io.Writer, cmds []command) {
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

// runSubcommand runs the subcommand of the command name that args start with, one of
// subs, with the rest of args. -h (or help) there prints name's usage, which lists subs
// with their summaries as the top-level usage lists the commands; no subcommand, an
// unknown one or flags before it is a usage error naming subs.
func runSubcommand(ctx context.Context, e *env, name string, subs []command, args []string) error {
	names := make([]string, len(subs))
	for i, c := range subs {
		names[i] = c.name
	}
	want := strings.Join(names, "|")
	if len(args) == 0 {
		return &usageError{msg: fmt.Sprintf("%s: want a subcommand: %s", name, want)}
	}
	for _, c := range subs {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	switch {
	case slices.Contains(helpArgs, args[0]):
		fmt.Fprintf(e.stderr, "Usage: connector %s <subcommand> [flags]\n\nSubcommands:\n", name)
		printCommands(e.stderr, subs)
		fmt.Fprintf(e.stderr, "\nRun \"connector %s <subcommand> -h\" for a subcommand's flags.\n", name)
		return flag.ErrHelp
	case strings.HasPrefix(args[0], "-"):
		return &usageError{msg: fmt.Sprintf("%s: want a subcommand before flags: %s", name, want)}
	}
	return &usageError{msg: fmt.Sprintf("%s: unknown subcommand %q (want %s)", name, args[0], want)}
}

// printVariables writes every environment variable of the configuration,
// whether it is required, its default and what it means, as config.Fields
// declares them (the README's table is generated from the same), in the
// layout of flag.PrintDefaults.
func printVariables(w io.Writer) {
	for _, f := range config.Fields() {
		var notes []string
		if f.Required {
			notes = append(notes, "required")
		}
		if f.Default != "" {
			notes = append(notes, "default "+strconv.Quote(f.Default))
		}
		line := "  " + f.Var
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, f.Desc)
	}
}

// newFlagSet returns a flag set for a command that reports to e.stderr and
// returns errors instead of exiting. Its usage is "Usage: connector name
// [flags] args" and the flags' defaults: args names the positional
// arguments (or says something of the command), and the flags are the ones
// defined on the set, which a synopsis kept by hand would miss.
func newFlagSet(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		line := "Usage: connector " + name
		flags := 0
		fs.VisitAll(func(*flag.Flag) { flags++ })
		if flags > 0 {
			line += " [flags]"
		}
		if args != "" {
			line += " " + args
		}
		fmt.Fprintln(e.stderr, line)
		fs.PrintDefaults()
	}
	return fs
}

// positive refuses a duration flag that is not above zero (a time limit of
// 0 would fail every call, and blame the service it called).
func positive(command, name string, d time.Duration) error {
	if d <= 0 {
		return &usageError{msg: fmt.Sprintf("%s: -%s %v must be above zero", command, name, d)}
	}
	return nil
}

// parseFlags parses args into fs and refuses positional arguments beyond
// maxArgs; flag errors become usage errors (flag.ErrHelp passes through).
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err), reported: true}
	}
	if fs.NArg() > maxArgs {
		return &usageError{msg: fmt.Sprintf("%s: unexpected arguments %q", fs.Name(), fs.Args()[maxArgs:])}
	}
	return nil
}

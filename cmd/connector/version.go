package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// buildInfo is what the binary knows about its build.
type buildInfo struct {
	Module   string // main module path
	Version  string // module version, "(devel)" for a build from a work tree
	Go       string // Go version that built the binary
	Revision string // VCS revision, if stamped
	Time     string // VCS commit time, if stamped
	Modified bool   // the work tree had uncommitted changes
}

// stampedRevision is the VCS revision given at link time where the build has
// no VCS information of its own (the Dockerfile's REVISION build argument:
// -ldflags "-X main.stampedRevision=...").
var stampedRevision string

// readBuildInfo reads the build information runtime/debug embeds.
func readBuildInfo() buildInfo {
	out := embeddedBuildInfo()
	if out.Revision == "" {
		out.Revision = stampedRevision
	}
	return out
}

func embeddedBuildInfo() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildInfo{Module: "github.com/dscokafka/connector", Version: "unknown"}
	}
	out := buildInfo{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	if out.Version == "" {
		out.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// String is a one-word version: the module version, or for a development
// build the short VCS revision (with "+dirty" for uncommitted changes).
func (b buildInfo) String() string {
	if b.Version != "(devel)" || b.Revision == "" {
		return b.Version
	}
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if b.Modified {
		rev += "+dirty"
	}
	return rev
}

func (b buildInfo) print(w io.Writer) {
	fmt.Fprintf(w, "connector %s\n", b)
	fmt.Fprintf(w, "module    %s %s\n", b.Module, b.Version)
	if b.Go != "" {
		fmt.Fprintf(w, "go        %s\n", b.Go)
	}
	if b.Revision != "" {
		mod := ""
		if b.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(w, "revision  %s%s\n", b.Revision, mod)
	}
	if b.Time != "" {
		fmt.Fprintf(w, "time      %s\n", b.Time)
	}
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	readBuildInfo().print(e.stdout)
	return nil
}

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	dir := flag.String("schemas", "avro", "directory of the .avsc files")
	out := flag.String("out", ".", "directory to write the generated files to")
	flag.Parse()
	files, err := generate(os.DirFS(filepath.Dir(*dir)), filepath.Base(*dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "avrogen:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(*out, name), files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "avrogen:", err)
			os.Exit(1)
		}
	}
}

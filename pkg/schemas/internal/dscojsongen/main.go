package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	dir := flag.String("avro", "avro", "directory of the .avsc files")
	out := flag.String("out", "", "file to write (default: standard output)")
	flag.Parse()
	src, err := generate(os.DirFS(*dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dscojsongen:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(src)
	} else {
		err = os.WriteFile(*out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dscojsongen:", err)
		os.Exit(1)
	}
}

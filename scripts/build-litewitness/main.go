// Command build-litewitness builds litewitness, the C2SP tlog-witness of
// filippo.io/torchwood that trialog's tests and benchmark run as an
// independent witness, at the version they expect.
//
//	go run ./scripts/build-litewitness -o bin/litewitness
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/trialog/trialog/internal/witnesstest"
)

func main() {
	out := flag.String("o", "bin/litewitness", "output path")
	flag.Parse()
	if err := witnesstest.Build(*out); err != nil {
		fmt.Fprintln(os.Stderr, "build-litewitness:", err)
		os.Exit(1)
	}
}

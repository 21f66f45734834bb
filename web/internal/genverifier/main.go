// Command genverifier builds the pages' verifier into web/assets; `go
// generate ./web` runs it (from web/), and `make build` runs that.
package main

import (
	"fmt"
	"os"

	"github.com/trialog/trialog/web/internal/wasmbuild"
)

func main() {
	// go generate runs in web/; the module root is its parent.
	if err := wasmbuild.Build("..", "assets"); err != nil {
		fmt.Fprintf(os.Stderr, "genverifier: %v\n", err)
		os.Exit(1)
	}
}

// Command fakeinit stands in for shoal-init in TestInitRedirect: it only leaves a
// mark that it ran in the init's place, and exits.
package main

import "os"

var marker string // set with -ldflags -X main.marker=PATH

func main() {
	_ = os.WriteFile(marker, []byte(os.Args[1]), 0o644)
	os.Exit(3)
}

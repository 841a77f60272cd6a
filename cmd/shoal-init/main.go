// Command shoal-init is the init of Shoal's containers: libcontainer's container-side
// code and nothing else, so that a container's init boots in about a millisecond
// rather than the several the whole peer binary takes (exec/containerinit).
//
// It is not installed on its own: `make build` (scripts/build-peer.sh) attaches it to
// the peer binary,
//
//	shoal-init attach bin/peer
//
// and the peer hands it to libcontainer at start (exec.UseAttachedInit).
package main

import (
	"fmt"
	"os"

	"github.com/shoal-sched/shoal/exec/containerinit"
)

func main() {
	if containerinit.Is() {
		containerinit.Run() // never returns
	}
	if len(os.Args) == 3 && os.Args[1] == "attach" {
		self, err := os.Executable()
		if err == nil {
			err = containerinit.Attach(os.Args[2], self)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "shoal-init attach:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintln(os.Stderr, `shoal-init is the init of Shoal's containers, started by the peer; it is not run by hand.
usage: shoal-init attach PEER-BINARY   (append this init to the peer binary, as make build does)`)
	os.Exit(2)
}

// Package containerinit is the container side of package exec: the code that runs as
// a container's init, from the moment libcontainer starts it until the task's command
// replaces it. It links libcontainer's init and nothing of Shoal's, so that
// cmd/shoal-init, the small binary a peer runs as its containers' init, boots its Go
// runtime in about a millisecond instead of the peer's five or six (the peer
// initialises some 200 packages: serf, HCL, cty, Prometheus, protobuf, cobra).
//
// The peer binary carries shoal-init attached to its end (Attach, Attached): one
// file to install, and an init that can never be of another build than the peer.
package containerinit

import (
	"os"

	// The device cgroup rules (deny all but the standard /dev nodes) need this.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime starts and, in a process
	// started as "<binary> init" by libcontainer, joins and sets up the namespaces.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Arg is the argument libcontainer starts the init binary with (`<binary> init`).
const Arg = "init"

// Is reports whether this process was started by libcontainer as a container's init:
// `<binary> init` with libcontainer's pipes in its environment. A person typing
// `peer init` gets false (and the CLI's own answer).
func Is() bool {
	return len(os.Args) > 1 && os.Args[1] == Arg && os.Getenv("_LIBCONTAINER_INITPIPE") != ""
}

// Run is the init itself: it sets up the container and execs the task's command. It
// never returns. Call it first thing in main when Is reports true, before anything
// else runs (no flag parsing, no goroutines).
func Run() {
	libcontainer.Init()
}

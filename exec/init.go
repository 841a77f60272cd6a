package exec

import (
	"os"

	// The device cgroup rules (deny all but the standard /dev nodes) need this.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime starts and, in a process
	// started as "<binary> init" by libcontainer, joins and sets up the namespaces.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// InitArg is the argument libcontainer starts the binary with (/proc/self/exe init)
// to become a container's init.
const InitArg = "init"

// Init is the container-side entry point: a binary that uses Driver must call it
// when started as `<binary> init`, before doing anything else (no flag parsing, no
// goroutines), e.g. first thing in main:
//
//	if exec.IsInit() { exec.Init() }
//
// It never returns: it sets up the container and execs the task's command.
func Init() {
	libcontainer.Init()
}

// IsInit reports whether this process was started by libcontainer as a container's
// init: `<binary> init` with libcontainer's pipes in its environment. A person typing
// `peer init` gets false (and the CLI's own answer).
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == InitArg && os.Getenv("_LIBCONTAINER_INITPIPE") != ""
}

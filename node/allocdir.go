package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoal-sched/shoal/exec"
)

// The shared allocation directory (Nomad's alloc/): one directory per allocation on
// its peer, <data_dir>/allocs/<alloc id>, bound read-write at /alloc into every task
// of the allocation, with NOMAD_ALLOC_DIR set to /alloc. A prestart task leaves
// files there for the main task; it outlives restarts of its tasks and of the peer,
// and goes when the allocation is forgotten (its job purged).
//
// Only groups of two or more tasks get one: a lone task has no one to share with,
// and an exec task with a mount of its own needs a view of the host root of its
// own (exec.Mount), which would cost every single-task start for nothing.
const allocDirInTask = "/alloc"

// allocDirPath is the host path of an allocation's shared directory.
func allocDirPath(dataDir, allocID string) string {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		dir = dataDir
	}
	return filepath.Join(dir, "allocs", allocID)
}

// wantsAllocDir reports whether an allocation of a group of n tasks gets one.
func wantsAllocDir(n int) bool { return n > 1 }

// allocDirMount makes the directory (and its data/ and tmp/, as Nomad's) if it is
// not there yet and returns its mount. Every task may write: they run as any user
// (exec tasks as nobody), so the directories are world-writable and sticky, like /tmp.
func allocDirMount(dir string) (exec.Mount, error) {
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return exec.Mount{}, fmt.Errorf("making the shared allocation directory: %w", err)
		}
		if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
			return exec.Mount{}, fmt.Errorf("making the shared allocation directory: %w", err)
		}
	}
	return exec.Mount{Source: dir, Destination: allocDirInTask}, nil
}

package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-sched/shoal/exec"
)

// The shared allocation directory (Nomad's alloc/): one directory per allocation on
// its peer, <data_dir>/allocs/<alloc id>, with data/ and tmp/ as in Nomad, bound
// read-write at /alloc into every task of the allocation, with NOMAD_ALLOC_DIR set
// to /alloc. A prestart task leaves files there for the main task; it outlives
// restarts of its tasks and of the peer, and goes when the allocation is forgotten
// (collected, or its job purged).
//
// Every allocation gets one, a lone task too (scripts written for Nomad write to
// $NOMAD_ALLOC_DIR/data). Under the exec driver it costs a bind mount only: the
// shared view of the host root has an empty /alloc mount point (exec's
// containerMountPoints), so the task needs no view of its own.
const allocDirInTask = "/alloc"

// allocDirPath is the host path of an allocation's shared directory.
func allocDirPath(dataDir, allocID string) string {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		dir = dataDir
	}
	return filepath.Join(dir, "allocs", allocID)
}

// makeAllocDir makes the directory and its data/ and tmp/, once per allocation (a
// restarted peer finds them there). Every task may write: they run as any user (exec
// tasks as nobody), so the directories are world-writable and sticky, like /tmp.
// What is inside the directory is the tasks': data/ and tmp/ are reached inside it
// (os.Root), so that a link a task left in their place cannot have the peer change
// the mode of a host directory.
func makeAllocDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making the shared allocation directory: %w", err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		return fmt.Errorf("making the shared allocation directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("making the shared allocation directory: %w", err)
	}
	defer root.Close()
	for _, sub := range []string{"data", "tmp"} {
		if err := root.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("making the shared allocation directory: %w", err)
		}
		if err := root.Chmod(sub, 0o777|os.ModeSticky); err != nil {
			return fmt.Errorf("making the shared allocation directory: %s: %w", sub, err)
		}
	}
	return nil
}

// allocDirMount is the mount of the directory into a task.
func allocDirMount(dir string) exec.Mount {
	return exec.Mount{Source: dir, Destination: allocDirInTask}
}

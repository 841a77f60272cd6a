package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Propagation modes of a Mount, as Nomad's volume_mount names them.
const (
	PropagationPrivate       = "private"       // no mount made later on either side is seen (rprivate)
	PropagationHostToTask    = "host-to-task"  // the host's later mounts under Source show in the task (rslave)
	PropagationBidirectional = "bidirectional" // and the task's show on the host (rshared)
)

var propagationOptions = map[string]string{
	"": "rprivate", PropagationPrivate: "rprivate", PropagationHostToTask: "rslave", PropagationBidirectional: "rshared",
}

// Mount binds a host directory into a task (a host volume). The bind is recursive,
// nosuid and nodev; ReadOnly makes it read-only.
type Mount struct {
	Source      string // absolute path of a directory on the host
	Destination string // absolute path inside the task's root
	ReadOnly    bool
	Propagation string // PropagationPrivate (default), PropagationHostToTask or PropagationBidirectional
}

// validateMounts checks s.Mounts, naming each bad one.
func (s *TaskSpec) validateMounts(bad func(field string, value any, msg string)) {
	seen := map[string]bool{}
	for i, m := range s.Mounts {
		f := func(name string) string { return fmt.Sprintf("mounts[%d].%s", i, name) }
		if !filepath.IsAbs(m.Source) {
			bad(f("source"), strconv.Quote(m.Source), "must be an absolute path on the host")
		} else if st, err := os.Stat(m.Source); err != nil || !st.IsDir() {
			bad(f("source"), strconv.Quote(m.Source), "must be an existing directory on the host")
		}
		dest := filepath.Clean(m.Destination)
		switch {
		case !filepath.IsAbs(m.Destination) || dest == "/" || slices.Contains(strings.Split(m.Destination, "/"), ".."):
			bad(f("destination"), strconv.Quote(m.Destination), `must be an absolute path below "/" without ".."`)
		case under(dest, "/proc", "/sys", "/dev"):
			bad(f("destination"), strconv.Quote(m.Destination), "must be outside /proc, /sys and /dev")
		case seen[dest]:
			bad(f("destination"), strconv.Quote(m.Destination), "is mounted twice")
		}
		seen[dest] = true
		if _, ok := propagationOptions[m.Propagation]; !ok {
			bad(f("propagation"), strconv.Quote(m.Propagation), `must be "private", "host-to-task" or "bidirectional"`)
		}
	}
}

// under reports whether p is one of dirs or below one.
func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// volumeMounts are the OCI mounts of s.Mounts, after the task's own. runc creates
// each destination inside the container's root (resolving symlinks there, never
// outside it) before it binds the source.
func volumeMounts(ms []Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		out = append(out, bindMount(m.Source, filepath.Clean(m.Destination), mode, "nosuid", "nodev", propagationOptions[m.Propagation]))
	}
	return out
}

// execMountPoints plans where an exec task's mounts go in its view of the host's
// root (view, e.g. HostRootDir), which is read-only: nothing can be created in it.
// A destination that is a directory of the view, or that lies under the task's
// own writable /local, /secrets or /tmp, needs nothing. Any other destination gets
// a view of its own for the task (see buildHostRoot), in which the destination's
// top-level directory is an empty directory of the view's tmpfs rather than the
// host's (hiding the host's, e.g. /srv, from that task), and the destination is
// created there. The host's system directories (/usr, /etc, ...) are never hidden
// so: a destination missing below one of them is an error.
//
// It returns the top-level names to leave unbound and the directories to create
// (relative to the view); both empty when the shared view does.
func execMountPoints(view string, ms []Mount) (unbound map[string]bool, mkdirs []string, err error) {
	for _, m := range ms {
		rel := strings.TrimPrefix(filepath.Clean(m.Destination), "/")
		top, _, _ := strings.Cut(rel, "/")
		switch {
		case top == "tmp" || top == "local" || top == "secrets":
			continue // writable binds of the task's directory: runc creates the destination there
		case top == "run":
			mkdirs = append(mkdirs, rel) // an empty directory of the view
			continue
		}
		if st, err := os.Stat(filepath.Join(view, rel)); err == nil && st.IsDir() {
			continue
		}
		lst, lerr := os.Lstat(filepath.Join("/", top))
		switch {
		case slices.Contains(hostSystemDirs, "/"+top):
			return nil, nil, fmt.Errorf("mount destination %q: the exec driver shows the host's /%s read-only and %s is not a directory there; choose a destination outside the host's system directories, e.g. /srv/NAME", m.Destination, top, "/"+rel)
		case lerr == nil && !lst.IsDir():
			return nil, nil, fmt.Errorf("mount destination %q: /%s is not a directory on the host (the exec driver shows the host's root); choose another destination", m.Destination, top)
		case lerr != nil && !errors.Is(lerr, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("mount destination %q: %w", m.Destination, lerr)
		}
		if unbound == nil {
			unbound = map[string]bool{}
		}
		unbound[top] = true
		mkdirs = append(mkdirs, rel)
	}
	return unbound, mkdirs, nil
}

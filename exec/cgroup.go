package exec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
)

// firstRun makes the process's first container start run alone. On cgroup v1 the
// blkio controller of opencontainers/cgroups (v0.1.0, fs/blkio.go
// detectWeightFilenames) detects its file names on its first Set and stores them
// in a package-level value without a lock: two containers started at once by a
// fresh peer race on it (-race reports it). Once one start has set it, later ones
// only read it.
var firstRun struct {
	mu   sync.Mutex
	done bool // a container started: the detection has run
}

// runContainer is c.Run(p), alone until one container has started.
func runContainer(c *libcontainer.Container, p *libcontainer.Process) error {
	firstRun.mu.Lock()
	if firstRun.done {
		firstRun.mu.Unlock()
		return c.Run(p)
	}
	defer firstRun.mu.Unlock()
	err := c.Run(p)
	firstRun.done = err == nil
	return err
}

// cgroupPath is the container's cgroup. On cgroup v1 a relative path is resolved by
// libcontainer against the peer's own cgroup in each hierarchy, except the v2 mount of
// a hybrid host (controllers on v1, an empty v2 at /sys/fs/cgroup/unified), where
// libcontainer puts it at the top of the mount (cgroups.GetOwnCgroupPath("") is the
// mount point): that directory holds no controller, and Destroy removes it. On v2 libcontainer
// resolves a relative path against the *parent* of the peer's cgroup, so the driver
// builds the absolute path itself (see prepareCgroupV2).
func (d *Driver) cgroupPath(id string) string {
	if d.v2Base != "" {
		return filepath.Join(d.v2Base, d.cfg.CgroupParent, id)
	}
	return filepath.Join(d.cfg.CgroupParent, id)
}

// prepareCgroupV2 makes the peer's own cgroup able to hold child cgroups with
// controllers: v2 forbids processes in a cgroup whose controllers are delegated to
// children, so the peer moves itself into a "peer" leaf beside the containers.
// It returns the cgroup under which containers go ("" on v1), and a warning when
// memory or pids limits will not work there.
func prepareCgroupV2() (base, warning string, err error) {
	if !cgroups.IsCgroup2UnifiedMode() {
		return "", "", nil
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	own := ""
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	if own == "" {
		return "", "", fmt.Errorf("no cgroup v2 entry in /proc/self/cgroup")
	}
	if filepath.Base(own) == "peer" {
		return filepath.Dir(own), "", nil // already moved (a re-exec'd or nested peer)
	}
	dir := filepath.Join("/sys/fs/cgroup", own)
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return "", "", err
	}
	if own == "/" || len(bytes.TrimSpace(procs)) == 0 {
		return own, "", nil
	}
	leaf := filepath.Join(dir, "peer")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return "", "", fmt.Errorf("creating the peer's leaf cgroup: %w", err)
	}
	// Move every process of our cgroup (normally just us) into the leaf.
	for _, pid := range strings.Fields(string(procs)) {
		_ = os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(pid), 0o644)
	}
	// Delegate every controller we have to our children, one by one: one that
	// cannot be enabled (e.g. cpuset without cpus) must not keep the others off.
	ctrl, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	for _, c := range strings.Fields(string(ctrl)) {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0o644)
	}
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if !strings.Contains(string(sub), "memory") || !strings.Contains(string(sub), "pids") {
		warning = fmt.Sprintf("memory or pids controller not delegated to %s (subtree_control %q): tasks with those limits will fail to start", dir, strings.TrimSpace(string(sub)))
	}
	return own, warning, nil
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// container, from memory.events (v2) or memory.oom_control (v1).
func oomKilled(paths map[string]string) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		return readKeyed(filepath.Join(paths[""], "memory.events"), "oom_kill") > 0
	}
	if p, ok := paths["memory"]; ok {
		return readKeyed(filepath.Join(p, "memory.oom_control"), "oom_kill") > 0
	}
	return false
}

// readKeyed reads "key value" from a flat-keyed cgroup file; 0 if absent.
func readKeyed(path, key string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

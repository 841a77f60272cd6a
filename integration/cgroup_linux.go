package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-sched/shoal/node"
)

// cgroupRoot is where every cgroup of the harness lives, below each hierarchy's mount point:
// <mount>/shoal-it/<run>/h<i>.
const cgroupRoot = "shoal-it"

// hostCgroup is one host's cgroup: the same relative path in every hierarchy (cgroup v1) or
// one directory (v2). The peer process is put in it before it execs, so every container the
// peer starts nests below it and KillHost can find every process of the host.
//
// A hostCgroup is not safe for concurrent use; the Cluster serialises calls per host.
type hostCgroup struct {
	rel     string   // e.g. shoal-it/12/h3
	dirs    []string // one absolute directory per hierarchy
	freezer string   // absolute directory in the freezer hierarchy (v1) or the v2 directory
	v2      bool
}

// cgroupMounts returns the mount points of the cgroup hierarchies on this host, and whether
// the host is on the unified (v2 only) hierarchy. In a hybrid v1 setup the v2 mount
// (/sys/fs/cgroup/unified) is included too, so that a peer is in the same place in every
// hierarchy libcontainer may look at.
func cgroupMounts() (mounts []string, v2 bool, err error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}, true, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// mountinfo: id parent maj:min root mountpoint opts ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if t := fields[sep+1]; (t == "cgroup" || t == "cgroup2") && fields[3] == "/" {
			mounts = append(mounts, unescapeMount(fields[4]))
		}
	}
	if len(mounts) == 0 {
		return nil, false, errors.New("no cgroup hierarchy is mounted")
	}
	return mounts, false, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// newHostCgroup creates rel (e.g. shoal-it/12/h3) in every hierarchy.
func newHostCgroup(rel string) (*hostCgroup, error) {
	mounts, v2, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	cg := &hostCgroup{rel: rel, v2: v2}
	for _, m := range mounts {
		dir := filepath.Join(m, rel)
		if err := mkdirCgroup(m, rel, v2); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		cg.dirs = append(cg.dirs, dir)
		if v2 || filepath.Base(m) == "freezer" {
			cg.freezer = dir
		}
	}
	if cg.freezer == "" {
		return nil, errors.New("cgroup v1 without a freezer hierarchy: cannot freeze a host before killing it")
	}
	return cg, nil
}

// mkdirCgroup creates each level of rel below mount. cpuset (v1) needs cpus and mems copied
// from the parent before a task may join; v2 needs the controllers enabled on the way down.
func mkdirCgroup(mount, rel string, v2 bool) error {
	dir := mount
	for _, part := range strings.Split(rel, "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		if v2 {
			// Best effort: a controller the parent lacks is simply not delegated.
			for _, c := range []string{"+cpu", "+memory", "+pids"} {
				_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte(c), 0o644)
			}
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if cur, err := os.ReadFile(filepath.Join(dir, f)); err == nil && strings.TrimSpace(string(cur)) == "" {
				if p, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if err := os.WriteFile(filepath.Join(dir, f), p, 0o644); err != nil {
						return fmt.Errorf("copying %s from %s: %w", f, parent, err)
					}
				}
			}
		}
	}
	return nil
}

// procsFiles lists the cgroup.procs files a shell must write its pid into to join the host's
// cgroup in every hierarchy.
func (cg *hostCgroup) procsFiles() []string {
	out := make([]string, 0, len(cg.dirs))
	for _, d := range cg.dirs {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// cgroupProc is one process found in a host's cgroup tree.
type cgroupProc struct {
	PID  int
	Rel  string // cgroup directory relative to the host's cgroup ("" for the host's own)
	Comm string
}

// procs returns every process in the host's cgroup tree, in any hierarchy (a container might
// have been put in a different path in one of them), without duplicates. Where a process is
// in a sub-cgroup in one hierarchy and at the top in another, the deeper path is kept.
func (cg *hostCgroup) procs() ([]cgroupProc, error) {
	seen := map[int]int{}
	var out []cgroupProc
	for _, root := range cg.dirs {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking
				}
				return err
			}
			if !d.IsDir() {
				return nil
			}
			pids, err := readPids(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "." {
				rel = ""
			}
			for _, pid := range pids {
				if i, ok := seen[pid]; ok {
					if len(rel) > len(out[i].Rel) {
						out[i].Rel = rel
					}
					continue
				}
				seen[pid] = len(out)
				out = append(out, cgroupProc{PID: pid, Rel: rel, Comm: procComm(pid)})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walking cgroup %s: %w", root, err)
		}
	}
	return out, nil
}

func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// killAll kills every process in the host's cgroup tree, as a power loss would: the tree is
// frozen first so no process can fork or exit-and-respawn between listing and killing, then
// every process gets SIGKILL, then the tree is thawed so the kills take effect. It returns
// once the tree is empty, or an error after timeout.
//
// A tree does not always freeze: a task in a killable but unfreezable sleep (a peer
// thread waiting for a container init it spawned, say) keeps it FREEZING. So each
// round tries to freeze for at most freezeWait, kills whatever it lists, frozen or
// not, and a round that leaves processes (a child forked while unfrozen) is followed
// by another until timeout. A freeze that took the whole timeout left no time to kill.
func (cg *hostCgroup) killAll(timeout time.Duration) error {
	const freezeWait, roundWait = 2 * time.Second, time.Second
	deadline := time.Now().Add(timeout)
	for {
		frozen := cg.freeze(earliest(deadline, time.Now().Add(freezeWait))) == nil
		ps, err := cg.procs()
		if err != nil {
			cg.thaw()
			return err
		}
		for _, p := range ps {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		cg.thaw()
		if len(ps) == 0 {
			return nil
		}
		if err := waitEmpty(cg, earliest(deadline, time.Now().Add(roundWait))); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("killing every process of cgroup %s (frozen first: %v): %w", cg.rel, frozen, err)
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func waitEmpty(cg *hostCgroup, deadline time.Time) error {
	for {
		ps, err := cg.procs()
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes remain, e.g. pid %d (%s) in %q", len(ps), ps[0].PID, ps[0].Comm, ps[0].Rel)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeze freezes the whole tree and waits until the kernel reports it frozen.
func (cg *hostCgroup) freeze(deadline time.Time) error {
	if cg.v2 {
		if err := os.WriteFile(filepath.Join(cg.freezer, "cgroup.freeze"), []byte("1"), 0o644); err != nil {
			return err
		}
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(cg.freezer, "cgroup.events"))
			if strings.Contains(string(b), "frozen 1") {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return errors.New("cgroup did not freeze")
	}
	state := filepath.Join(cg.freezer, "freezer.state")
	for time.Now().Before(deadline) {
		if err := os.WriteFile(state, []byte("FROZEN"), 0o644); err != nil {
			return err
		}
		b, _ := os.ReadFile(state)
		if strings.TrimSpace(string(b)) == "FROZEN" {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("cgroup did not freeze")
}

func (cg *hostCgroup) thaw() {
	if cg.v2 {
		_ = os.WriteFile(filepath.Join(cg.freezer, "cgroup.freeze"), []byte("0"), 0o644)
		return
	}
	_ = os.WriteFile(filepath.Join(cg.freezer, "freezer.state"), []byte("THAWED"), 0o644)
}

// removeChildren removes every cgroup below the host's own (the containers' cgroups), as a
// reboot would; the host's cgroup itself stays for the next start.
func (cg *hostCgroup) removeChildren() error {
	var errs []error
	for _, root := range cg.dirs {
		if err := rmdirTree(root, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remove kills everything in the tree and removes it in every hierarchy.
func (cg *hostCgroup) remove() error {
	err := cg.killAll(10 * time.Second)
	for _, root := range cg.dirs {
		err = errors.Join(err, rmdirTree(root, true))
	}
	return err
}

// rmdirTree removes the cgroup directories below root, deepest first (cgroupfs allows only
// rmdir of empty cgroups), and root itself when self is set. A missing root is not an error.
func rmdirTree(root string, self bool) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && (self || p != root) {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdirRetry(dirs[i]); err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// rmdirRetry retries EBUSY for a moment: a killed process leaves its cgroup only once it has
// been reaped.
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hybridV2Mount is where a hybrid host (controllers on cgroup v1) mounts cgroup v2.
const hybridV2Mount = "/sys/fs/cgroup/unified"

// hybridV2Cgroups lists the cgroup v2 directories, on a hybrid host, of the containers of
// the peer whose data dir is dataDir, that exist. libcontainer makes a container's v2
// cgroup at the top of the v2 mount (cgroups.GetOwnCgroupPath("") is the mount point),
// not below the peer's own cgroup as it does the v1 ones, so they are outside the host's
// tree. The containers are named by their libcontainer state directories.
func hybridV2Cgroups(dataDir string) []string {
	if _, err := os.Stat(filepath.Join(hybridV2Mount, "cgroup.procs")); err != nil {
		return nil // not hybrid
	}
	cfg := node.DriverConfig(node.Config{DataDir: dataDir})
	states, _ := os.ReadDir(filepath.Join(cfg.DataDir, "state"))
	var out []string
	for _, st := range states {
		if dir := filepath.Join(hybridV2Mount, cfg.CgroupParent, st.Name()); st.IsDir() && dirExists(dir) {
			out = append(out, dir)
		}
	}
	return out
}

// removeHybridV2 removes hybridV2Cgroups(dataDir), as a reboot would: the host's tree
// held every other cgroup of its containers.
func removeHybridV2(dataDir string) error {
	var errs []error
	for _, dir := range hybridV2Cgroups(dataDir) {
		errs = append(errs, rmdirRetry(dir))
	}
	return errors.Join(errs...)
}

package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Where a run keeps its lock (owner pid) and its files. /run is tmpfs: a reboot clears the
// locks, and then every resource of an old run is a leftover.
const (
	lockDir = "/run/shoal-it"
	baseDir = "/tmp/shoal-it"
	maxRun  = 250 // run ids are 1..maxRun: the third octet of 10.77.<run>.<i>
)

func runDir(r int) string { return filepath.Join(baseDir, strconv.Itoa(r)) }

// claimRun reserves a run id that no live process owns, starting near the process id so that
// concurrent test processes rarely probe the same ids. A run id whose owner has died is swept
// and reused.
func claimRun(logf func(string, ...any)) (int, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return 0, err
	}
	start := os.Getpid() % maxRun
	for k := 0; k < maxRun; k++ {
		r := (start+k)%maxRun + 1
		dir := filepath.Join(lockDir, strconv.Itoa(r))
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			if ownerAlive(r) {
				continue
			}
			logf("integration: removing leftovers of run %d (owner gone)", r)
			if err := sweepRun(r); err != nil {
				logf("integration: leftovers of run %d: %v", r, err)
				continue
			}
			err = os.Mkdir(dir, 0o755)
		}
		if err != nil {
			continue // lost a race for this id; try the next
		}
		// Written aside and renamed into place: another process sweeping leftovers
		// must never read a half-written owner (os.WriteFile creates the file empty
		// first), which it would take for a dead one.
		if err := os.WriteFile(filepath.Join(dir, "owner.tmp"), []byte(selfOwner()), 0o644); err != nil {
			return 0, err
		}
		if err := os.Rename(filepath.Join(dir, "owner.tmp"), filepath.Join(dir, "owner")); err != nil {
			return 0, err
		}
		if linkExists(bridgeName(r)) || dirExists(runDir(r)) {
			// Resources without a lock: an earlier run that lost its lock (or a reboot of /run).
			if err := sweepResources(r); err != nil {
				return 0, fmt.Errorf("removing leftovers of run %d: %w", r, err)
			}
		}
		return r, nil
	}
	return 0, errors.New("every run id 1..250 is owned by a live test process")
}

// selfOwner identifies this process across pid reuse: "pid starttime".
func selfOwner() string { return fmt.Sprintf("%d %s", os.Getpid(), startTime(os.Getpid())) }

func startTime(pid int) string {
	if f := procStat(pid); len(f) >= 20 {
		return f[19] // field 22 of /proc/<pid>/stat
	}
	return ""
}

// procStat returns the fields of /proc/<pid>/stat after the command name (so field 3, the
// state, is at index 0), or nil if the process does not exist.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name (field 2) may hold spaces and parentheses: split after its last ')'.
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// ownerAlive reports whether the process that claimed run r still runs.
func ownerAlive(r int) bool {
	b, err := os.ReadFile(filepath.Join(lockDir, strconv.Itoa(r), "owner"))
	if err != nil {
		// A lock without an owner file: being claimed right now, or a crash in between.
		fi, serr := os.Stat(filepath.Join(lockDir, strconv.Itoa(r)))
		return serr == nil && time.Since(fi.ModTime()) < 10*time.Second
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return false
	}
	return startTime(pid) == f[1]
}

// SweepLeftovers removes every resource (processes in shoal-it cgroups, mounts, namespaces,
// veths, bridges, cgroups, files) of runs whose owning test process is gone. Resources of
// runs owned by a live process, e.g. a concurrent `make chaos`, are left alone.
// NewCluster calls it; it is safe to call from several processes at once.
func SweepLeftovers(logf func(string, ...any)) error {
	var errs []error
	for _, r := range knownRuns() {
		if ownerAlive(r) {
			continue
		}
		logf("integration: removing leftovers of run %d", r)
		errs = append(errs, sweepRun(r))
	}
	return errors.Join(errs...)
}

// knownRuns lists the run ids that have any resource on this host.
func knownRuns() []int {
	set := map[int]bool{}
	add := func(r int, ok bool) {
		if ok && r >= 1 && r <= maxRun {
			set[r] = true
		}
	}
	for _, dir := range []string{lockDir, baseDir} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			r, err := strconv.Atoi(e.Name())
			add(r, err == nil)
		}
	}
	if mounts, _, err := cgroupMounts(); err == nil {
		for _, m := range mounts {
			ents, _ := os.ReadDir(filepath.Join(m, cgroupRoot))
			for _, e := range ents {
				r, err := strconv.Atoi(e.Name())
				add(r, err == nil && e.IsDir())
			}
		}
	}
	for _, name := range listNetns() {
		add(parseRun(name, "shoal-", "-h"))
	}
	for _, name := range listLinks() {
		add(parseRun(name, "shv", "h"))
		add(parseRun(name, "shd", "h"))
		if rest, ok := strings.CutPrefix(name, "shb"); ok {
			r, err := strconv.Atoi(rest)
			add(r, err == nil)
		}
	}
	out := make([]int, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Ints(out)
	return out
}

// parseRun extracts r from names shaped prefix<r>sep...
func parseRun(name, prefix, sep string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, sep)
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(num)
	return r, err == nil
}

// sweepRun removes everything of run r, then its lock.
func sweepRun(r int) error {
	err := sweepResources(r)
	if err == nil {
		err = os.RemoveAll(filepath.Join(lockDir, strconv.Itoa(r)))
	}
	return err
}

// sweepResources removes every resource of run r, in dependency order: processes first (they
// hold cgroups, mounts and namespaces busy), then mounts, namespaces and links, cgroups, files.
// Each step runs even if an earlier one failed; the errors are joined.
func sweepResources(r int) error {
	ctx := context.Background()
	var errs []error
	mounts, _, err := cgroupMounts()
	if err != nil {
		errs = append(errs, err)
	}
	// Kill through the cgroups of the whole run (every host below it), frozen first.
	runCg := &hostCgroup{rel: runCgroupRel(r)}
	for _, m := range mounts {
		dir := filepath.Join(m, runCgroupRel(r))
		if !dirExists(dir) {
			continue
		}
		runCg.dirs = append(runCg.dirs, dir)
		if _, v2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); v2 == nil {
			runCg.v2, runCg.freezer = true, dir
		} else if filepath.Base(m) == "freezer" {
			runCg.freezer = dir
		}
	}
	if len(runCg.dirs) > 0 {
		if runCg.freezer == "" {
			runCg.freezer = runCg.dirs[0] // no freezer: writes fail, kill proceeds unfrozen
		}
		if err := runCg.killAll(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// Processes in the namespaces but outside the cgroups (helpers started with nsenter).
	for _, ns := range listNetns() {
		if rr, ok := parseRun(ns, "shoal-", "-h"); ok && rr == r {
			for _, pid := range netnsPids(ctx, ns) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	errs = append(errs, unmountUnder(runDir(r)))
	for _, ns := range listNetns() {
		if rr, ok := parseRun(ns, "shoal-", "-h"); ok && rr == r {
			if _, err := command(ctx, "ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range listLinks() {
		rv, okv := parseRun(l, "shv", "h")
		rd, okd := parseRun(l, "shd", "h") // a delay line; deleting it removes its shq peer
		if (okv && rv == r) || (okd && rd == r) || l == bridgeName(r) {
			if _, err := command(ctx, "ip", "link", "del", l); err != nil && linkExists(l) {
				errs = append(errs, err)
			}
		}
	}
	for _, m := range mounts {
		errs = append(errs, rmdirTree(filepath.Join(m, runCgroupRel(r)), true))
		if !hasSubdir(filepath.Join(m, cgroupRoot)) {
			_ = syscall.Rmdir(filepath.Join(m, cgroupRoot)) // last run out: tidy the parent
		}
	}
	hosts, _ := filepath.Glob(filepath.Join(runDir(r), "*", "data"))
	for _, dataDir := range hosts {
		errs = append(errs, removeHybridV2(dataDir))
	}
	if err := os.RemoveAll(runDir(r)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// netnsPids lists the processes in network namespace ns (`ip netns pids`), except this
// process. `ip netns pids` goes by each process's main thread, and this process's main
// thread is in a host's namespace whenever DialFrom happens to dial on it: the Go runtime
// may run any goroutine there, and http.Transport goes on dialling after its request has
// timed out, so a dial to a partitioned host stays in the namespace for its SYN retries,
// past the Close of its cluster. Killing that pid kills the test binary.
func netnsPids(ctx context.Context, ns string) []int {
	out, _ := command(ctx, "ip", "netns", "pids", ns)
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	var errs []error
	for _, mp := range mountsUnder(dir) {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points at or below dir in this mount namespace, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// listNetns returns the names of the named network namespaces (ip netns list).
func listNetns() []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// listLinks returns the names of the root namespace's network interfaces.
func listLinks() []string {
	ents, _ := os.ReadDir("/sys/class/net")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func linkExists(name string) bool { return dirExists("/sys/class/net/" + name) }

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// hasSubdir reports whether dir has a subdirectory (a cgroup's children are its subdirectories).
func hasSubdir(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

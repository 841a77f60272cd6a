package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests check the harness itself with plain processes (busybox httpd) in place of the
// peer, so that they run whether or not the peer works yet.

func httpdOptions(t *testing.T) Options {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("harness tests need busybox: %v", err)
	}
	return Options{
		Command: func(c *Cluster, h *Host) []string {
			www := filepath.Join(h.DataDir, "www")
			_ = os.MkdirAll(www, 0o755)
			_ = os.WriteFile(filepath.Join(www, "index.html"), []byte(h.Name+"\n"), 0o644)
			return []string{bb, "httpd", "-f", "-p", h.Addr + ":8080", "-h", www}
		},
		Ready: func(ctx context.Context, c *Cluster, h *Host) error {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", h.Addr+":8080")
			if err == nil {
				conn.Close()
			}
			return err
		},
		ReadyTimeout: 20 * time.Second,
	}
}

// fetch asks host from to GET host to's index page from inside from's namespace.
func fetch(c *Cluster, from, to int) (string, error) {
	resp, err := c.HTTPFrom(from, 2*time.Second).Get(fmt.Sprintf("http://%s:8080/index.html", c.Hosts[to].Addr))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// startContainer starts `sleep` in host i's namespace and moves it into a sub-cgroup named
// name of the host's cgroup in every hierarchy, as the exec driver does with a container.
func startContainer(t *testing.T, c *Cluster, i int, name string) int {
	t.Helper()
	cmd := exec.Command("nsenter", "--net="+nsPath(c.Run, i), "--", "sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	for _, d := range c.Hosts[i].cg.dirs {
		sub := filepath.Join(d, name)
		if err := mkdirCgroup(d, name, c.Hosts[i].cg.v2); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("moving pid %d into %s: %v", cmd.Process.Pid, sub, err)
		}
	}
	return cmd.Process.Pid
}

func alive(pid int) bool {
	st := procState(pid)
	return st != "?" && st != "Z" && st != "X"
}

func procState(pid int) string {
	if f := procStat(pid); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func TestHarnessPartitionAndHeal(t *testing.T) {
	c := NewCluster(t, 3, httpdOptions(t))
	for _, p := range [][2]int{{0, 1}, {1, 0}, {0, 2}, {2, 1}} {
		got, err := fetch(c, p[0], p[1])
		if err != nil || got != c.Hosts[p[1]].Name {
			t.Fatalf("before partition: h%d -> h%d: got %q, %v; want %q", p[0], p[1], got, err, c.Hosts[p[1]].Name)
		}
	}
	if err := c.Partition([]int{0}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{0, 1}, {1, 0}, {0, 2}, {2, 0}} {
		if got, err := fetch(c, p[0], p[1]); err == nil {
			t.Errorf("partitioned: h%d -> h%d answered %q; want no answer", p[0], p[1], got)
		}
	}
	if got, err := fetch(c, 1, 2); err != nil || got != "h2" {
		t.Errorf("same side: h1 -> h2: got %q, %v; want h2", got, err)
	}
	// The fetches across the partition gave up, and so did their dials: none waits out
	// the SYN retries on a thread of this process in a host's namespace.
	if _, ok := WaitFor(func() bool { return threadsInNetns(c) == 0 }, 5*time.Second); !ok {
		t.Errorf("%d threads of the test process still in the hosts' namespaces after their fetches gave up; want none", threadsInNetns(c))
	}
	if _, err := c.API(0).Self(context.Background()); err == nil {
		t.Log("(h0 has no API; the harness reaching it is shown by Ready)")
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{0, 1}, {1, 0}, {2, 0}} {
		if got, err := fetch(c, p[0], p[1]); err != nil || got != c.Hosts[p[1]].Name {
			t.Errorf("healed: h%d -> h%d: got %q, %v; want %q", p[0], p[1], got, err, c.Hosts[p[1]].Name)
		}
	}
}

// threadsInNetns counts the threads of this process that are in one of c's hosts'
// network namespaces.
func threadsInNetns(c *Cluster) int {
	var hosts []os.FileInfo
	for _, h := range c.Hosts {
		if fi, err := os.Stat(nsPath(c.Run, h.Index)); err == nil {
			hosts = append(hosts, fi)
		}
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	n := 0
	for _, p := range tasks {
		fi, err := os.Stat(p)
		if err == nil && slices.ContainsFunc(hosts, func(h os.FileInfo) bool { return os.SameFile(fi, h) }) {
			n++
		}
	}
	return n
}

func TestHarnessNetem(t *testing.T) {
	c := NewCluster(t, 2, httpdOptions(t))
	ctx := context.Background()
	if err := c.Netem(1, 5, 0); err != nil {
		t.Fatal(err)
	}
	if sh, err := shaping(ctx, c.Run, 1); err != nil || !(strings.Contains(sh, "loss 5%") || strings.Contains(sh, "mod 10000 < 500")) {
		t.Errorf("shaping of h1 = %q, %v; want 5%% loss", sh, err)
	}
	// 100% loss on h1's egress: nothing h1 sends arrives, so no connection completes.
	if err := c.Netem(1, 100, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(c, 0, 1); err == nil {
		t.Errorf("h0 -> h1 with 100%% loss on h1 answered %q", got)
	}
	if err := c.Netem(1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(c, 0, 1); err != nil || got != "h1" {
		t.Errorf("h0 -> h1 after removing the loss: %q, %v", got, err)
	}
	if err := c.Netem(1, 0, 0); err != nil {
		t.Errorf("removing shaping twice: %v", err)
	}

	const delay = 150 * time.Millisecond
	if err := c.Netem(1, 0, delay); err != nil {
		t.Fatal(err)
	}
	// Every packet h1 sends is held for delay, so a TCP handshake with h1 takes at least
	// delay (a lower bound the shaper guarantees; no upper bound is asserted).
	start := time.Now()
	conn, err := net.DialTimeout("tcp", c.Hosts[1].Addr+":8080", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if rtt := time.Since(start); rtt < delay {
		t.Errorf("TCP connect to h1 under delay %v took %v; want at least the delay", delay, rtt)
	}
	// Large transfers both ways cross the shaper intact (segmentation offload, checksums).
	big := strings.Repeat("shoal-", 50000)
	for _, h := range c.Hosts {
		if err := os.WriteFile(filepath.Join(h.DataDir, "www", "big"), []byte(big), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]int{{0, 1}, {1, 0}} {
		resp, err := c.HTTPFrom(p[0], 20*time.Second).Get(fmt.Sprintf("http://%s:8080/big", c.Hosts[p[1]].Addr))
		if err != nil {
			t.Fatalf("h%d -> h%d under delay: %v", p[0], p[1], err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != big {
			t.Errorf("h%d -> h%d under delay: got %d bytes, %v; want the %d-byte file", p[0], p[1], len(b), err, len(big))
		}
	}
	if err := c.Netem(1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(c, 0, 1); err != nil || got != "h1" {
		t.Errorf("h0 -> h1 after removing the delay: %q, %v", got, err)
	}
	if linkExists(relayOut(c.Run, 1)) {
		t.Errorf("delay line %s remains after Netem(1, 0, 0)", relayOut(c.Run, 1))
	}
}

func TestHarnessFaults(t *testing.T) {
	c := NewCluster(t, 2, httpdOptions(t))
	h := c.Hosts[1]
	c1 := startContainer(t, c, 1, "alloc-aaa-task")
	c2 := startContainer(t, c, 1, "alloc-bbb-task")
	marker := filepath.Join(h.DataDir, "state")
	if err := os.WriteFile(marker, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("freeze and thaw", func(t *testing.T) {
		pid := h.PID()
		if err := c.Freeze(1); err != nil {
			t.Fatal(err)
		}
		if _, ok := WaitFor(func() bool { return procState(pid) == "T" }, 5*time.Second); !ok {
			t.Errorf("frozen peer state %q; want T (stopped)", procState(pid))
		}
		if got := c.Up(); len(got) != 1 || got[0] != 0 {
			t.Errorf("Up() with h1 frozen = %v; want [0]", got)
		}
		if err := c.Thaw(1); err != nil {
			t.Fatal(err)
		}
		if _, ok := WaitFor(func() bool { return procState(pid) != "T" }, 5*time.Second); !ok {
			t.Errorf("thawed peer state %q; want running or sleeping", procState(pid))
		}
	})

	t.Run("kill peer keeps containers", func(t *testing.T) {
		pid := h.PID()
		if err := c.KillPeer(1); err != nil {
			t.Fatal(err)
		}
		if alive(pid) || h.Running() {
			t.Errorf("peer pid %d still alive after KillPeer", pid)
		}
		if !alive(c1) || !alive(c2) {
			t.Errorf("containers %d, %d: alive %v, %v; want both alive after KillPeer", c1, c2, alive(c1), alive(c2))
		}
		if err := c.Start(1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("kill host leaves nothing", func(t *testing.T) {
		pid := h.PID()
		if err := c.KillHost(1); err != nil {
			t.Fatal(err)
		}
		ps, err := h.cg.procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 0 {
			t.Errorf("after KillHost, cgroup of h1 holds %v; want nothing", ps)
		}
		for _, p := range []int{pid, c1, c2} {
			if alive(p) {
				t.Errorf("pid %d alive after KillHost", p)
			}
		}
		for _, d := range h.cg.dirs {
			if dirExists(filepath.Join(d, "alloc-aaa-task")) {
				t.Errorf("container cgroup %s survives KillHost; a reboot removes it", filepath.Join(d, "alloc-aaa-task"))
			}
		}
		if got, err := fetch(c, 0, 1); err == nil {
			t.Errorf("h0 -> killed h1 answered %q", got)
		}
	})

	t.Run("restart keeps the data dir", func(t *testing.T) {
		if err := c.Start(1); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(marker); err != nil || string(b) != "kept" {
			t.Errorf("data dir after restart: %q, %v; want the file written before", b, err)
		}
		if got, err := fetch(c, 0, 1); err != nil || got != "h1" {
			t.Errorf("h0 -> restarted h1: %q, %v", got, err)
		}
		if err := c.Restart(1); err != nil {
			t.Errorf("graceful restart: %v", err)
		}
	})
}

func TestHarnessOrphans(t *testing.T) {
	c := NewCluster(t, 2, httpdOptions(t))
	startContainer(t, c, 0, "alloc-1111-web")
	startContainer(t, c, 1, "alloc-2222-web")
	startContainer(t, c, 1, "alloc-3333-web")
	cases := []struct {
		name            string
		running         map[string]map[string]bool
		orphans, ghosts int
	}{
		{"every container accounted", map[string]map[string]bool{"h0": {"alloc-1111": true}, "h1": {"alloc-2222": true, "alloc-3333": true}}, 0, 0},
		{"one not reported", map[string]map[string]bool{"h0": {"alloc-1111": true}, "h1": {"alloc-2222": true}}, 1, 0},
		{"reported on the wrong host", map[string]map[string]bool{"h1": {"alloc-1111": true, "alloc-2222": true, "alloc-3333": true}}, 1, 1},
		{"reported running, no process", map[string]map[string]bool{"h0": {"alloc-1111": true, "alloc-9999": true}, "h1": {"alloc-2222": true, "alloc-3333": true}}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			c.checkOrphans(r, tc.running)
			if len(r.Orphans) != tc.orphans || len(r.Ghosts) != tc.ghosts || len(r.Errors) != 0 {
				t.Errorf("orphans = %q, ghosts = %q, errors %q; want %d orphans, %d ghosts", r.Orphans, r.Ghosts, r.Errors, tc.orphans, tc.ghosts)
			}
		})
	}
	// A stray process directly in a host's cgroup (not the peer) is an orphan too.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$0"; exec sleep 1000`, filepath.Join(c.Hosts[0].cg.dirs[0], "cgroup.procs"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	WaitFor(func() bool { return procComm(cmd.Process.Pid) == "sleep" }, 5*time.Second)
	r := &Report{}
	c.checkOrphans(r, cases[0].running)
	if len(r.Orphans) != 1 || !strings.Contains(r.Orphans[0], "not the peer") {
		t.Errorf("orphans = %q; want the stray sleep in h0's cgroup", r.Orphans)
	}
}

// TestHarnessCleanup checks that Close, and the sweep of a dead run's leftovers, remove
// everything: processes, mounts, namespaces, links, cgroups, files.
func TestHarnessCleanup(t *testing.T) {
	for _, mode := range []string{"close", "leftover of a dead run"} {
		t.Run(mode, func(t *testing.T) {
			var run int
			var pids []int
			var dirs []string
			t.Run("cluster", func(t *testing.T) {
				c := NewCluster(t, 2, httpdOptions(t))
				run = c.Run
				pids = append(pids, c.Hosts[0].PID(), c.Hosts[1].PID(), startContainer(t, c, 1, "alloc-x-task"))
				dirs = append(dirs, c.Hosts[1].cg.dirs...)
				mnt := filepath.Join(c.Hosts[0].DataDir, "rootfs")
				if err := os.MkdirAll(mnt, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
					t.Fatal(err)
				}
				if err := c.Partition([]int{0}, []int{1}); err != nil {
					t.Fatal(err)
				}
				if err := c.Netem(0, 1, 0); err != nil {
					t.Fatal(err)
				}
				if mode != "close" {
					// Pretend the owner died: its lock names a process that has exited.
					dead := exec.Command("true")
					if err := dead.Run(); err != nil {
						t.Fatal(err)
					}
					owner := fmt.Sprintf("%d %s", dead.Process.Pid, "1")
					if err := os.WriteFile(filepath.Join(lockDir, fmt.Sprint(run), "owner"), []byte(owner), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := SweepLeftovers(t.Logf); err != nil {
						t.Fatal(err)
					}
				}
			})
			// The subtest's cleanup has run Close (a no-op after the sweep, which must not fail).
			assertNothingLeft(t, run, pids, dirs)
		})
	}
}

// TestHarnessSweepSparesItself sweeps a run from a process whose main thread is in one of
// the run's network namespaces, as the test process's is while DialFrom dials on its main
// thread. The sweep kills the other processes in the namespace and removes the run, and
// its own process lives on: `ip netns pids` lists it, and killing it killed the test
// binary in CI (8.5 s in, at the Close of TestHarnessPartitionAndHeal, whose partitioned
// fetches leave dials running).
func TestHarnessSweepSparesItself(t *testing.T) {
	opts := httpdOptions(t)
	opts.NoStart = true
	c := NewCluster(t, 1, opts)
	helper := exec.Command("nsenter", "--net="+nsPath(c.Run, 0), "--", "sleep", "1000")
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()

	sweeper := exec.Command(os.Args[0], "-test.run=^$")
	sweeper.Env = append(os.Environ(), sweepFromNSEnv+"="+strconv.Itoa(c.Run))
	if out, err := sweeper.CombinedOutput(); err != nil {
		t.Fatalf("sweep of run %d by a process with its main thread in %s: %v; want it to finish and live on; output:\n%s", c.Run, c.Hosts[0].NS, err, out)
	}
	_ = helper.Wait()
	assertNothingLeft(t, c.Run, []int{helper.Process.Pid}, c.Hosts[0].cg.dirs)
}

// sweepFromNSEnv names the run that the test binary, re-executed by
// TestHarnessSweepSparesItself, sweeps with its main thread in host 0's namespace.
const sweepFromNSEnv = "SHOAL_IT_SWEEP_FROM_NS"

func init() {
	if os.Getenv(sweepFromNSEnv) != "" {
		runtime.LockOSThread() // the main goroutine, and so TestMain, stays on the main thread
	}
}

// sweepFromNS moves the main thread into host 0's namespace of run (the thread
// `ip netns pids` looks at), sweeps the run from another thread, as Close does while
// a dial waits on the main thread, and returns the exit code.
func sweepFromNS(run string) int {
	r, err := strconv.Atoi(run)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: want a run id\n", sweepFromNSEnv, run)
		return 2
	}
	ns, err := os.Open(nsPath(r, 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer ns.Close()
	if err := setns(ns); err != nil {
		fmt.Fprintf(os.Stderr, "entering %s: %v\n", nsName(r, 0), err)
		return 2
	}
	if a, b := statOrNil("/proc/self/ns/net"), statOrNil(nsPath(r, 0)); a == nil || b == nil || !os.SameFile(a, b) {
		fmt.Fprintf(os.Stderr, "the main thread is not in %s after setns\n", nsName(r, 0))
		return 2
	}
	done := make(chan error)
	go func() { done <- sweepRun(r) }() // not on the main thread: it is locked to this goroutine
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "sweeping run %d: %v\n", r, err)
		return 1
	}
	return 0
}

func statOrNil(p string) os.FileInfo {
	fi, _ := os.Stat(p)
	return fi
}

func assertNothingLeft(t *testing.T, run int, pids []int, dirs []string) {
	t.Helper()
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d (%s) alive after cleanup", p, procComm(p))
		}
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), fmt.Sprintf("shoal-%d-", run)) {
		t.Errorf("ip netns list after cleanup:\n%s", out)
	}
	out, err = exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bridgeName(run) + ":", vethName(run, 0) + "@", vethName(run, 1) + "@"} {
		if strings.Contains(string(out), " "+name) {
			t.Errorf("link %s remains after cleanup:\n%s", name, out)
		}
	}
	for _, d := range dirs {
		if dirExists(d) {
			t.Errorf("cgroup %s remains after cleanup", d)
		}
	}
	if m := mountsUnder(runDir(run)); len(m) > 0 {
		t.Errorf("mounts remain after cleanup: %v", m)
	}
	if dirExists(runDir(run)) || dirExists(filepath.Join(lockDir, fmt.Sprint(run))) {
		t.Errorf("%s or its lock remains after cleanup", runDir(run))
	}
}

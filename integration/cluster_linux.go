package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// Options configure a Cluster. The zero value plus PeerBin runs real peers.
type Options struct {
	// PeerBin is the peer binary. Required unless Command is set.
	PeerBin string
	// Command returns the program and arguments host h runs (default PeerCommand). The
	// harness starts it inside h's network namespace and cgroup.
	Command func(c *Cluster, h *Host) []string
	// Ready returns nil once host h's process serves (default: its HTTP API answers
	// GET /v1/agent/self). It is polled until ReadyTimeout.
	Ready func(ctx context.Context, c *Cluster, h *Host) error
	// ReadyTimeout bounds each wait for Ready (default 60 s: the machine is shared).
	ReadyTimeout time.Duration
	// HTTPPort is the peers' API port (default 4646, as `peer run`).
	HTTPPort int
	// NoStart creates the hosts (namespaces, cgroups, dirs) without starting processes.
	NoStart bool
}

// Host is one simulated machine: a network namespace with its own address, a cgroup, a data
// dir that survives restarts, and at most one process (the peer).
//
// Its fields are fixed at creation; its process state is guarded by an internal mutex, so
// faults may be injected from several goroutines.
type Host struct {
	Index   int
	Name    string // h<i>: the -name of its peer
	Addr    string // 10.77.<run>.<i+1>
	NS      string // network namespace name
	DataDir string // the peer's -data-dir; kept across restarts
	LogPath string // stdout and stderr of every start, appended

	cg *hostCgroup

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed once the current process has exited and been reaped
	stopped bool          // SIGSTOPped by Freeze
	starts  int
}

// Cluster is a set of Hosts on one bridge, owned by one test. Close (registered with
// t.Cleanup) removes every resource it created. Methods are safe for concurrent use.
type Cluster struct {
	Run   int // run id: bridge shb<run>, namespaces shoal-<run>-h<i>, addresses 10.77.<run>.x
	Hosts []*Host

	t    testing.TB
	opts Options

	mu      sync.Mutex
	blocked map[int]map[string]bool // host index -> addresses it cannot exchange packets with
	closed  bool
	api     map[int]*api.Client
	jobs    map[string]bool // ledger of submitted jobs: id -> stopped
	delays  map[int]*delayLine
}

// Requirements returns why the harness cannot run here, or nil: it needs root and the ip,
// tc, nft and nsenter commands.
func Requirements() error {
	if os.Geteuid() != 0 {
		return errors.New("integration tests need root (network namespaces, cgroups)")
	}
	for _, bin := range []string{"ip", "tc", "nft", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("integration tests need %q on PATH (scripts/setup-host.sh installs it): %w", bin, err)
		}
	}
	if _, _, err := cgroupMounts(); err != nil {
		return err
	}
	return nil
}

// NewCluster creates n hosts and starts their processes, waiting until each is ready. It
// skips the test when Requirements fail, and fails it on any other error. Leftovers of dead
// earlier runs are removed first.
func NewCluster(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if err := Requirements(); err != nil {
		t.Skip(err)
	}
	if opts.Command == nil && opts.PeerBin == "" {
		t.Fatal("integration.Options: PeerBin or Command is required")
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.HTTPPort == 0 {
		opts.HTTPPort = 4646
	}
	if err := SweepLeftovers(t.Logf); err != nil {
		t.Logf("integration: leftovers not fully removed: %v", err)
	}
	r, err := claimRun(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Run: r, t: t, opts: opts, blocked: map[int]map[string]bool{}, api: map[int]*api.Client{}, delays: map[int]*delayLine{}}
	register(c)
	t.Cleanup(c.Close)
	if err := c.create(n); err != nil {
		t.Fatalf("creating cluster run %d: %v", r, err)
	}
	if opts.NoStart {
		return c
	}
	for _, h := range c.Hosts {
		if err := c.Start(h.Index); err != nil {
			t.Fatalf("starting %s: %v", h.Name, err)
		}
	}
	return c
}

func (c *Cluster) create(n int) error {
	ctx := context.Background()
	if err := setupBridge(ctx, c.Run); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		h := &Host{
			Index:   i,
			Name:    hostName(i),
			Addr:    hostAddr(c.Run, i),
			NS:      nsName(c.Run, i),
			DataDir: filepath.Join(runDir(c.Run), hostName(i), "data"),
			LogPath: filepath.Join(runDir(c.Run), hostName(i), "peer.log"),
		}
		if err := os.MkdirAll(h.DataDir, 0o700); err != nil {
			return err
		}
		if err := setupHostNet(ctx, c.Run, i); err != nil {
			return err
		}
		cg, err := newHostCgroup(cgroupRel(c.Run, i))
		if err != nil {
			return err
		}
		h.cg = cg
		c.Hosts = append(c.Hosts, h)
	}
	return nil
}

// PeerCommand is the command line of host h's peer: `peer run` with the flags of
// CONTRACTS.md. It joins every other host whose process is up (none for the first start of
// the first host). The one place to adapt when the flags change.
func PeerCommand(c *Cluster, h *Host) []string {
	args := []string{c.opts.PeerBin, "run",
		"-name", h.Name,
		"-bind", h.Addr,
		"-data-dir", h.DataDir,
		"-http-port", fmt.Sprint(c.opts.HTTPPort),
	}
	for _, o := range c.Hosts {
		if o != h && o.Running() {
			args = append(args, "-join", o.Addr)
		}
	}
	return args
}

// Start starts host i's process (if it is not running) in the host's network namespace and
// cgroup, with the same data dir as before, and waits until it is ready.
func (c *Cluster) Start(i int) error {
	h := c.Hosts[i]
	if err := c.spawn(h); err != nil {
		return err
	}
	return c.WaitReady(i)
}

// spawn starts h's process without waiting for it to be ready.
func (c *Cluster) spawn(h *Host) error {
	argv := PeerCommand(c, h)
	if c.opts.Command != nil {
		argv = c.opts.Command(c, h)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd != nil {
		return fmt.Errorf("%s: already running (pid %d)", h.Name, h.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(h.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	h.starts++
	fmt.Fprintf(logf, "=== integration: start %d of %s at %s: %s\n", h.starts, h.Name, time.Now().UTC().Format(time.RFC3339Nano), strings.Join(argv, " "))
	// The shell joins the host's cgroups before it execs, so the process and everything it
	// starts is accounted to the host from its first instruction; nsenter enters only the
	// network namespace (ip netns exec would also remount /sys, hiding the cgroup mounts).
	const script = `ns=$SHOAL_IT_NS; procs=$SHOAL_IT_PROCS; unset SHOAL_IT_NS SHOAL_IT_PROCS
for f in $procs; do echo $$ > "$f" || exit 97; done
exec nsenter --net="$ns" -- "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, argv...)...)
	cmd.Env = append(os.Environ(), "SHOAL_IT_NS="+nsPath(c.Run, h.Index), "SHOAL_IT_PROCS="+strings.Join(h.cg.procsFiles(), " "))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = filepath.Dir(h.DataDir)
	// Own process group: a ^C at the terminal reaches the test, which cleans up in order.
	// Pdeathsig: if the test process dies, its peers die too (their containers are swept by
	// the next run).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: starting %s: %w", h.Name, argv[0], err)
	}
	done := make(chan struct{})
	h.cmd, h.done, h.stopped = cmd, done, false
	go func() {
		_ = cmd.Wait()
		h.mu.Lock()
		if h.cmd == cmd {
			h.cmd = nil
		}
		h.mu.Unlock()
		close(done)
	}()
	return nil
}

// WaitReady waits until host i's process is ready (Options.Ready), failing early if it exits.
func (c *Cluster) WaitReady(i int) error {
	h := c.Hosts[i]
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	if done == nil {
		return fmt.Errorf("%s: not started", h.Name)
	}
	ready := c.opts.Ready
	if ready == nil {
		ready = apiReady
	}
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (last check: %v); log %s ends:\n%s", h.Name, last, h.LogPath, tail(h.LogPath, 20))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx, c, h)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %w", h.Name, c.opts.ReadyTimeout, last)
}

func apiReady(ctx context.Context, c *Cluster, h *Host) error {
	_, err := c.API(h.Index).Self(ctx)
	return err
}

// Running reports whether host h has a live process (frozen counts as live).
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cmd != nil
}

// Frozen reports whether host h's process is stopped by Freeze.
func (h *Host) Frozen() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cmd != nil && h.stopped
}

// PID returns the pid of host h's process, or 0.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return 0
	}
	return h.cmd.Process.Pid
}

// signal sends sig to h's process and, when wait is set, waits for it to exit.
func (h *Host) signal(sig syscall.Signal, wait time.Duration) error {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	if cmd != nil && sig == syscall.SIGSTOP {
		h.stopped = true
	} else if sig == syscall.SIGCONT {
		h.stopped = false
	}
	h.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s: no process", h.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", h.Name, sig, err)
	}
	if wait == 0 {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s: still running %v after %v", h.Name, wait, sig)
	}
}

// KillHost kills host i as a power loss would: its cgroup tree is frozen, every process in
// it (the peer and every container) gets SIGKILL, then the containers' cgroups (their
// cgroup v2 ones of a hybrid host too, which are outside the tree: removeHybridV2) and
// the mounts under its data dir are removed, as a reboot would. The data dir stays.
func (c *Cluster) KillHost(i int) error {
	h := c.Hosts[i]
	if err := h.cg.killAll(30 * time.Second); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	if done != nil {
		<-done
	}
	return errors.Join(unmountUnder(h.DataDir), h.cg.removeChildren(), removeHybridV2(h.DataDir))
}

// KillPeer kills only host i's peer process with SIGKILL (the agent crashed); its containers
// keep running.
func (c *Cluster) KillPeer(i int) error { return c.Hosts[i].signal(syscall.SIGKILL, 30*time.Second) }

// Freeze stops host i's peer process with SIGSTOP (a hung host); Thaw resumes it.
func (c *Cluster) Freeze(i int) error { return c.Hosts[i].signal(syscall.SIGSTOP, 0) }

// Thaw resumes a process stopped by Freeze with SIGCONT.
func (c *Cluster) Thaw(i int) error { return c.Hosts[i].signal(syscall.SIGCONT, 0) }

// Stop stops host i's process gracefully: SIGTERM, then SIGKILL after 30 s.
func (c *Cluster) Stop(i int) error {
	h := c.Hosts[i]
	if !h.Running() {
		return nil
	}
	_ = h.signal(syscall.SIGCONT, 0)
	if err := h.signal(syscall.SIGTERM, 30*time.Second); err != nil {
		return errors.Join(err, c.KillPeer(i))
	}
	return nil
}

// Restart stops host i's process gracefully if it runs, then starts it again with the same
// data dir and waits until it is ready.
func (c *Cluster) Restart(i int) error {
	if err := c.Stop(i); err != nil {
		return err
	}
	return c.Start(i)
}

// Partition drops every packet between each host of a and each host of b (both directions,
// rules inside each host's namespace). Partitions add up until Heal.
func (c *Cluster) Partition(a, b []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	touched := map[int]bool{}
	block := func(from, to []int) {
		for _, x := range from {
			if c.blocked[x] == nil {
				c.blocked[x] = map[string]bool{}
			}
			for _, y := range to {
				c.blocked[x][c.Hosts[y].Addr] = true
			}
			touched[x] = true
		}
	}
	block(a, b)
	block(b, a)
	var errs []error
	for x := range touched {
		var addrs []string
		for a := range c.blocked[x] {
			addrs = append(addrs, a)
		}
		errs = append(errs, setBlocked(context.Background(), c.Run, x, addrs))
	}
	return errors.Join(errs...)
}

// Heal removes every partition.
func (c *Cluster) Heal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for x := range c.blocked {
		errs = append(errs, setBlocked(context.Background(), c.Run, x, nil))
	}
	c.blocked = map[int]map[string]bool{}
	return errors.Join(errs...)
}

// Netem shapes the packets leaving host i: lossPct percent dropped, each delayed by delay.
// Netem(i, 0, 0) removes it. Apply it to every host for a uniformly lossy network: each
// packet then crosses exactly one shaper. It uses tc netem on the host's interface; on a
// kernel without the netem qdisc, loss is an nftables rule and the delay a relay in this
// process (delay_linux.go).
func (c *Cluster) Netem(i int, lossPct float64, delay time.Duration) error {
	ctx := context.Background()
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if d := c.delays[i]; d != nil {
		delete(c.delays, i)
		errs = append(errs, d.close(ctx))
	}
	delayed, err := setNetem(ctx, c.Run, i, lossPct, delay)
	errs = append(errs, err)
	if !delayed && err == nil {
		d, err := newDelayLine(ctx, c.Run, i, delay)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: no netem qdisc, and the delay line failed: %w", ErrNoDelay, err))
		} else {
			c.delays[i] = d
		}
	}
	return errors.Join(errs...)
}

// Exec runs a command inside host i's network namespace (not in its cgroup) and returns
// its combined output.
func (c *Cluster) Exec(ctx context.Context, i int, name string, args ...string) (string, error) {
	return inNS(ctx, c.Run, i, name, args...)
}

// Close stops every process and removes every resource of the cluster (processes,
// mounts, namespaces, veths, bridge, nftables rules with their namespaces, cgroups, files).
// On a failed test it first prints the tail of each host's log and keeps the logs under
// /tmp/shoal-it-logs. Idempotent.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for i, d := range c.delays {
		_ = d.close(context.Background()) // the sweep removes the links anyway
		delete(c.delays, i)
	}
	c.mu.Unlock()
	unregister(c)
	if c.t.Failed() {
		c.keepLogs()
	}
	for _, h := range c.Hosts {
		_ = h.signal(syscall.SIGCONT, 0)
	}
	if err := sweepRun(c.Run); err != nil {
		c.t.Errorf("cleaning up cluster run %d: %v", c.Run, err)
	}
	for _, h := range c.Hosts {
		h.mu.Lock()
		done := h.done
		h.mu.Unlock()
		if done != nil {
			<-done
		}
	}
}

func (c *Cluster) keepLogs() {
	dst := filepath.Join("/tmp/shoal-it-logs", fmt.Sprintf("%s-run%d-%d", sanitize(c.t.Name()), c.Run, time.Now().Unix()))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		c.t.Logf("keeping logs: %v", err)
		return
	}
	for _, h := range c.Hosts {
		b, err := os.ReadFile(h.LogPath)
		if err != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dst, h.Name+".log"), b, 0o644)
		c.t.Logf("%s log (%s) ends:\n%s", h.Name, filepath.Join(dst, h.Name+".log"), tail(h.LogPath, 30))
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package node_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	shexec "github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/node"
	"github.com/shoal-sched/shoal/node/api"
)

// These tests run real peers as processes: the peer binary, built once in TestMain,
// on their own 127.x.y.z loopback addresses (so that they do not meet the peers of
// other test packages running at the same time), each with its own data dir, running
// real exec- and container-driver tasks. They need root.

var (
	peerBin   string // the peer binary
	imageRef  string // oci:<dir>:latest, a busybox image built from busybox-static
	setupErr  error
	testRoot  string
	addrOctet = 100 + os.Getpid()%100 // the second octet of every test address
	clusterNo = 0
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("node: peer tests need root (containers); skipping them")
	}
	code := func() int {
		var err error
		testRoot, err = os.MkdirTemp("", "shoal-node-test-")
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer removeAll(testRoot)
		if os.Geteuid() == 0 {
			setupErr = build()
		}
		return m.Run()
	}()
	os.Exit(code)
}

func build() error {
	peerBin = filepath.Join(testRoot, "peer")
	// As make build does: the container init attached (no seccomp here, as before).
	args := []string{peerBin, ""}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("../scripts/build-peer.sh", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("building peer: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "run", "./testdata/mkimage", filepath.Join(testRoot, "image")).Output()
	if err != nil {
		return fmt.Errorf("building the busybox image (install busybox-static): %v", err)
	}
	imageRef = strings.TrimSpace(string(out))
	return nil
}

// removeAll removes a test dir with everything the peers left mounted in it.
func removeAll(dir string) {
	if err := node.RemoveDataDir(dir); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
	}
}

// cluster is a set of peer processes on one test's loopback addresses.
type cluster struct {
	t     testing.TB
	dir   string
	net   string // "127.A.B." : peer i listens on net+(i+1)
	peers []*proc
	args  []string // more `peer run` arguments for every peer started from now on
	wrap  []string // a command that runs each peer (e.g. nohup), or none
}

type proc struct {
	name, addr, dataDir string
	cmd                 *exec.Cmd
	done                chan struct{}
	client              *api.Client
	killed              bool // by kill: nothing cleaned up after it
}

func needPeers(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	if setupErr != nil {
		t.Skip(setupErr.Error())
	}
}

// newCluster starts n peers and waits until every one sees all n alive.
func newCluster(t testing.TB, n int) *cluster { return newWrappedCluster(t, n) }

// newWrappedCluster is newCluster with every peer run by the command wrap (which must
// exec the peer, so that its pid is the peer's).
func newWrappedCluster(t testing.TB, n int, wrap ...string) *cluster {
	needPeers(t)
	clusterNo++
	c := &cluster{t: t, dir: t.TempDir(), net: fmt.Sprintf("127.%d.%d.", addrOctet, clusterNo), wrap: wrap}
	t.Cleanup(c.shutdown)
	start := time.Now()
	for i := range n {
		c.add(i)
	}
	c.waitMembers(n)
	t.Logf("%d peers up in %s", n, time.Since(start).Round(time.Millisecond))
	return c
}

// add starts peer i (a new one, or a restart with the same data dir).
func (c *cluster) add(i int) *proc {
	c.t.Helper()
	for len(c.peers) <= i {
		c.peers = append(c.peers, nil)
	}
	p := &proc{name: fmt.Sprintf("p%d", i+1), addr: c.net + strconv.Itoa(i+1)}
	p.dataDir = filepath.Join(c.dir, p.name)
	p.client = api.NewClient("http://" + p.addr + ":4646")
	// Tests log at debug level (their logs explain failures); benchmarks measure the
	// peer as users run it, at the default level.
	level := "debug"
	if _, bench := c.t.(*testing.B); bench {
		level = "info"
	}
	args := []string{"run", "-name", p.name, "-data-dir", p.dataDir, "-bind", p.addr, "-log-level", level}
	args = append(args, c.args...)
	for j, q := range c.peers {
		if j != i && q != nil && q.running() {
			args = append(args, "-join", q.addr)
		}
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmdline := append(append(slices.Clone(c.wrap), peerBin), args...)
	p.cmd = exec.Command(cmdline[0], cmdline[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	c.peers[i] = p
	c.waitFor(20*time.Second, p.name+" answers", func() (bool, string) {
		_, err := p.client.Self(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill SIGKILLs peer i; withTasks also kills every process it started (its
// containers), as when the whole host dies.
func (c *cluster) kill(i int, withTasks bool) {
	p := c.peers[i]
	kids := descendants(p.cmd.Process.Pid)
	p.cmd.Process.Kill()
	<-p.done
	p.killed = true
	if withTasks {
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// descendants lists every process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], id)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, k := range children[p] {
			out = append(out, k)
			walk(k)
		}
	}
	walk(pid)
	return out
}

// shutdown stops every peer gracefully (they stop their tasks), then kills what is
// left, and logs the peers' logs of a failed test.
func (c *cluster) shutdown() {
	start := time.Now()
	defer func() { c.t.Logf("cluster shut down in %s", time.Since(start).Round(time.Millisecond)) }()
	for _, p := range c.peers {
		if p != nil && p.running() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range c.peers {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump in its log
			time.Sleep(time.Second)
			c.kill(indexOf(c.peers, p), true)
		}
	}
	for _, p := range c.peers {
		if p == nil {
			continue
		}
		// A peer built with -race reports races in its log: they fail the test.
		if b, _ := os.ReadFile(filepath.Join(c.dir, p.name+".log")); bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			i := bytes.Index(b, []byte("WARNING: DATA RACE"))
			c.t.Errorf("%s reported a data race:\n%s", p.name, b[i:min(len(b), i+6000)])
		}
	}
	if c.t.Failed() || time.Since(start) > 15*time.Second {
		for _, p := range c.peers {
			if p == nil {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(c.dir, p.name+".log"))
			lines := strings.Split(string(b), "\n")
			var keep []string
			for _, l := range lines {
				if !strings.Contains(l, "memberlist") && !strings.Contains(l, "msg=serf") && !strings.Contains(l, "allocation lost") {
					keep = append(keep, l)
				}
			}
			c.t.Logf("---- %s log (last 40 lines without gossip chatter)\n%s", p.name, strings.Join(keep[max(0, len(keep)-400):], "\n"))
		}
	}
	for _, p := range c.peers {
		if p != nil {
			c.sweep(p)
		}
	}
	removeAll(c.dir)
}

// sweep removes the containers a stopped peer left on this host: their processes,
// cgroups, state and task dirs. A peer killed and not restarted leaves them by design
// (a dead host takes them along; a restarted peer recovers them), and a peer that left
// on SIGTERM keeps the exited containers of finished allocations (their logs stay
// readable until the job is purged), so the test does what recovery and purging would,
// to leave the host as it found it. A container still running after SIGTERM fails the
// test: leaving stops every task.
func (c *cluster) sweep(p *proc) {
	cfg := node.DriverConfig(node.Config{DataDir: p.dataDir})
	if ids, err := os.ReadDir(filepath.Join(cfg.DataDir, "state")); err != nil || len(ids) == 0 {
		return
	}
	d, err := shexec.New(cfg)
	// New makes this process a child subreaper, as a peer must be; the test process
	// must not: orphans of later tests' killed peers would become its unreaped zombies.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	if err != nil {
		c.t.Errorf("sweeping %s's containers: %v", p.name, err)
		return
	}
	tasks, err := d.Recover()
	if err != nil {
		c.t.Errorf("sweeping %s's containers: %v", p.name, err)
	}
	for _, task := range tasks {
		if !p.killed && task.Signal(syscall.Signal(0)) == nil {
			c.t.Errorf("%s left task %s running after SIGTERM", p.name, task.ID())
		}
		if err := task.Destroy(); err != nil {
			c.t.Errorf("sweeping %s's containers: %v", p.name, err)
		}
	}
}

func indexOf(ps []*proc, p *proc) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

// waitFor polls cond until it holds, failing the test with cond's last description
// after timeout. The timeouts are generous deadlines, not speed assertions.
func (c *cluster) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	c.waitEvery(timeout, 50*time.Millisecond, what, cond)
}

// waitEvery is waitFor looking every `every`.
func (c *cluster) waitEvery(timeout, every time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		time.Sleep(every)
	}
	c.t.Fatalf("waiting for %s: gave up after %s; last: %s", what, timeout, last)
}

func (c *cluster) waitMembers(n int) {
	c.t.Helper()
	for _, p := range c.peers {
		if p == nil || !p.running() {
			continue
		}
		c.waitFor(20*time.Second, p.name+" sees the cluster", func() (bool, string) {
			ms, err := p.client.Members(context.Background())
			alive := 0
			for _, m := range ms {
				if m.Status == "alive" {
					alive++
				}
			}
			return err == nil && alive == n, fmt.Sprintf("%d alive of %d (%v)", alive, n, err)
		})
	}
}

// any returns a client of a running peer other than those in not.
func (c *cluster) any(not ...int) *api.Client {
	for i, p := range c.peers {
		if p != nil && p.running() && !containsInt(not, i) {
			return p.client
		}
	}
	c.t.Fatal("no running peer")
	return nil
}

func containsInt(l []int, x int) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// live returns the job's allocations that are desired running, by status.
func live(allocs []api.Alloc) map[string][]api.Alloc {
	out := map[string][]api.Alloc{}
	for _, a := range allocs {
		if a.DesiredStatus == "run" {
			out[a.ClientStatus] = append(out[a.ClientStatus], a)
		}
	}
	return out
}

// waitRunning waits until exactly n allocations of job run (desired run), asking via.
func (c *cluster) waitRunning(via *api.Client, job string, n int) []api.Alloc {
	c.t.Helper()
	var got []api.Alloc
	c.waitFor(45*time.Second, fmt.Sprintf("%d running allocations of %s", n, job), func() (bool, string) {
		allocs, err := via.JobAllocs(context.Background(), job)
		if err != nil {
			return false, err.Error()
		}
		l := live(allocs)
		got = l["running"]
		return len(got) == n && len(l["pending"]) == 0, describe(allocs)
	})
	return got
}

func describe(allocs []api.Alloc) string {
	var parts []string
	for _, a := range allocs {
		parts = append(parts, fmt.Sprintf("%s@%s:%s/%s", a.Slot, a.NodeName, a.ClientStatus, a.DesiredStatus))
	}
	return strings.Join(parts, " ")
}

// submit sends HCL to a peer for it to parse and store.
func submit(t testing.TB, via *api.Client, hcl string) api.JobRegisterResponse {
	t.Helper()
	resp, err := via.Register(context.Background(), api.JobRegisterRequest{JobHCL: hcl})
	if err != nil {
		t.Fatalf("submitting job: %v\n%s", err, hcl)
	}
	return resp
}

// sleepJob is a service job of count sleepers under the exec driver.
func sleepJob(id string, count int) string {
	return fmt.Sprintf(`job %q {
  group "g" {
    count = %d
    task "t" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}
`, id, count)
}

// trueJob is a batch job of count tasks that exit 0 at once: sleepJob's, typed
// batch and running /bin/true.
func trueJob(id string, count int) string {
	job := strings.Replace(sleepJob(id, count), "  group", "  type = \"batch\"\n  group", 1)
	return strings.Replace(job, "command = \"/bin/sleep\"\n        args    = [\"3600\"]", "command = \"/bin/true\"", 1)
}

// waitDown waits until the other peers see peer i down.
func (c *cluster) waitDown(i int) {
	c.t.Helper()
	name := c.peers[i].name
	via := c.any(i)
	c.waitFor(30*time.Second, name+" seen down", func() (bool, string) {
		n, err := via.Node(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		return n.Status == "down", n.Status
	})
}

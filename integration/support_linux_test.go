package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// Environment:
//
//	SHOAL_CHAOS=1         long versions of the scenarios and the results table (make chaos)
//	SHOAL_REQUIRE_PEER=1  a peer that cannot be built or does not answer fails instead of skipping
//	SHOAL_PEER_BIN=path   use this peer binary instead of building ./cmd/peer
//	SHOAL_CHAOS_TABLE=f   also write the results table (markdown) to f
//	SHOAL_CHAOS_SEED=n    seed of the rolling chaos scenario (default: time)

func TestMain(m *testing.M) {
	if run := os.Getenv(sweepFromNSEnv); run != "" {
		os.Exit(sweepFromNS(run)) // re-executed by TestHarnessSweepSparesItself
	}
	code := m.Run()
	results.print(os.Stdout)
	if err := os.RemoveAll(peerBuild.dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func long() bool { return os.Getenv("SHOAL_CHAOS") == "1" }

// pick returns short in `make test` and long under SHOAL_CHAOS=1.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

// peerBuild builds the peer binary once per test process, on first use: harness-only runs
// never pay for it.
var peerBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func peerBinary() (string, error) {
	peerBuild.once.Do(func() {
		if bin := os.Getenv("SHOAL_PEER_BIN"); bin != "" {
			peerBuild.bin = bin
			return
		}
		dir, err := os.MkdirTemp("", "shoal-it-bin-")
		if err != nil {
			peerBuild.err = err
			return
		}
		peerBuild.dir = dir
		bin := filepath.Join(dir, "peer")
		// As make build does: the container init attached (no seccomp here, as before).
		cmd := exec.Command("./scripts/build-peer.sh", bin, "")
		cmd.Dir = ".." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			peerBuild.err = fmt.Errorf("scripts/build-peer.sh: %w\n%s", err, out)
			return
		}
		peerBuild.bin = bin
	})
	return peerBuild.bin, peerBuild.err
}

// notReady skips the test (or fails it under SHOAL_REQUIRE_PEER=1): the peer cannot run
// jobs yet, which is not this test's failure.
func notReady(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := "peer does not run jobs yet: " + fmt.Sprintf(format, args...)
	if os.Getenv("SHOAL_REQUIRE_PEER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// peerCluster starts n real peers and waits until every one of them sees all n ready.
func peerCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	if err := Requirements(); err != nil {
		t.Skip(err)
	}
	bin, err := peerBinary()
	if err != nil {
		notReady(t, "%v", err)
	}
	if out, err := exec.Command(bin, "run", "-h").CombinedOutput(); err != nil || !strings.Contains(string(out), "data-dir") {
		notReady(t, "`peer run -h` gives %v: %.300s", err, out)
	}
	c := NewCluster(t, n, Options{PeerBin: bin, NoStart: true})
	for i := range c.Hosts {
		if err := c.Start(i); err != nil {
			notReady(t, "%v", err)
		}
	}
	waitFormed(t, c, 90*time.Second)
	return c
}

// waitFormed waits until every up peer lists every up host as ready.
func waitFormed(t *testing.T, c *Cluster, timeout time.Duration) time.Duration {
	t.Helper()
	var last string
	d, ok := WaitFor(func() bool {
		up := c.Up()
		for _, i := range up {
			nodes, err := call(context.Background(), c.API(i).Nodes)
			if err != nil {
				last = fmt.Sprintf("h%d: %v", i, err)
				return false
			}
			ready := map[string]bool{}
			for _, n := range nodes {
				ready[n.Name] = n.Status == "ready"
			}
			for _, j := range up {
				if !ready[c.Hosts[j].Name] {
					last = fmt.Sprintf("h%d does not see %s ready: %s", i, c.Hosts[j].Name, nodeList(nodes))
					return false
				}
			}
		}
		return true
	}, timeout)
	if !ok {
		t.Fatalf("cluster did not form within %v: %s", timeout, last)
	}
	return d
}

func nodeList(nodes []api.Node) string {
	var parts []string
	for _, n := range nodes {
		parts = append(parts, n.Name+"="+n.Status)
	}
	return strings.Join(parts, " ")
}

// waitHealthy waits until every invariant holds and returns how long that took; it fails
// the test with the last report after timeout.
// A failure's last report is tallied into res (if not nil), so the table shows it.
func waitHealthy(t *testing.T, c *Cluster, res *result, timeout time.Duration, what string) (time.Duration, *Report) {
	t.Helper()
	if !long() && timeout > 90*time.Second {
		timeout = 90 * time.Second // keep a failing `make test` short; convergence takes seconds
	}
	var last *Report
	d, ok := WaitFor(func() bool {
		last = c.Check(context.Background())
		return last.OK()
	}, timeout)
	if !ok {
		if res != nil {
			tally(res, last)
		}
		t.Fatalf("%s: invariants do not hold after %v:\n%s", what, timeout, last)
	}
	return d, last
}

// serviceJob is a service job of count sleeps (exec driver: no image registry needed).
func serviceJob(id string, count int) string {
	return fmt.Sprintf(`job %q {
  datacenters = ["dc1"]
  type        = "service"
  group "g" {
    count = %d
    task "sleep" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["100000"]
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

// batchJob is a batch job of count sleeps of secs seconds.
func batchJob(id string, count, secs int) string {
	return strings.Replace(strings.Replace(serviceJob(id, count), `"service"`, `"batch"`, 1), `"100000"`, fmt.Sprintf("%q", fmt.Sprint(secs)), 1)
}

// view returns, through host via's API, each ledger job's allocations.
func view(c *Cluster, via int) (map[string][]api.Alloc, error) {
	out := map[string][]api.Alloc{}
	for id, stopped := range c.Submitted() {
		if stopped {
			continue
		}
		allocs, err := call(context.Background(), func(ctx context.Context) ([]api.Alloc, error) { return c.API(via).JobAllocs(ctx, id) })
		if err != nil {
			return nil, err
		}
		out[id] = allocs
	}
	return out, nil
}

// atCount reports whether, in host via's view, every ledger job has each slot of 0..count-1
// filled by a running allocation on a host not in exclude.
func atCount(c *Cluster, via int, counts map[string]int, exclude ...string) bool {
	v, err := view(c, via)
	if err != nil {
		return false
	}
	for id, allocs := range v {
		filled := map[int]bool{}
		for _, a := range allocs {
			if running(a) && a.DesiredStatus != "stop" && !slices.Contains(exclude, a.NodeName) {
				filled[a.Index] = true
			}
		}
		for i := 0; i < counts[id]; i++ {
			if !filled[i] {
				return false
			}
		}
	}
	return true
}

// nodeStatus returns name's status in host via's /v1/nodes ("" if unknown or unreachable).
func nodeStatus(c *Cluster, via int, name string) string {
	nodes, err := call(context.Background(), c.API(via).Nodes)
	if err != nil {
		return ""
	}
	for _, n := range nodes {
		if n.Name == name {
			return n.Status
		}
	}
	return ""
}

// runningOn counts the running allocations on host name in host via's view.
func runningOn(c *Cluster, via int, name string) int {
	v, _ := view(c, via)
	n := 0
	for _, allocs := range v {
		for _, a := range allocs {
			if running(a) && a.NodeName == name {
				n++
			}
		}
	}
	return n
}

// busiest returns the up host (other than not) with the most running allocations.
func busiest(c *Cluster, via int, not ...int) int {
	best, bestN := -1, -1
	for _, i := range c.Up() {
		if slices.Contains(not, i) {
			continue
		}
		if n := runningOn(c, via, c.Hosts[i].Name); n > bestN {
			best, bestN = i, n
		}
	}
	return best
}

// otherUp returns an up host other than those in not.
func otherUp(c *Cluster, not ...int) int {
	for _, i := range c.Up() {
		if !slices.Contains(not, i) {
			return i
		}
	}
	return -1
}

// coordinatorOf computes, from host via's /v1/nodes, the HRW coordinator of jobID with
// placement.Coordinator (the same function the peers use), as a host index.
func coordinatorOf(c *Cluster, via int, jobID string) (int, error) {
	nodes, err := call(context.Background(), c.API(via).Nodes)
	if err != nil {
		return -1, err
	}
	var pn []placement.Node
	for _, n := range nodes {
		pn = append(pn, placement.Node{ID: n.ID, Name: n.Name, Alive: n.Status == "ready", Eligible: n.SchedulingEligibility == "eligible"})
	}
	id, ok := placement.Coordinator(jobID, pn)
	if !ok {
		return -1, fmt.Errorf("no alive, eligible peer in %s", nodeList(nodes))
	}
	for _, n := range nodes {
		if n.ID == id {
			for _, h := range c.Hosts {
				if h.Name == n.Name {
					return h.Index, nil
				}
			}
		}
	}
	return -1, fmt.Errorf("coordinator %s is not one of our hosts", id)
}

// containerPids returns the container processes (not the peer) of host i: pid -> cgroup.
func containerPids(t *testing.T, c *Cluster, i int) map[int]string {
	t.Helper()
	ps, err := c.Hosts[i].cg.procs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	peer := c.Hosts[i].PID()
	for _, p := range ps {
		if p.PID != peer && p.Rel != "" && p.Rel != "peer" {
			out[p.PID] = p.Rel
		}
	}
	return out
}

// results collects one row per scenario run for the table `make chaos` prints.
var results resultTable

type result struct {
	Scenario    string
	Faults      int
	Detect      []time.Duration
	Replace     []time.Duration
	Doubled     int
	Lost        int
	Orphans     int
	Ghosts      int
	FalseDeaths int
	Note        string
}

type resultTable struct {
	mu   sync.Mutex
	rows []result
}

func (rt *resultTable) add(r result) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.rows = append(rt.rows, r)
}

func (rt *resultTable) print(w *os.File) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.rows) == 0 || !(long() || testing.Verbose()) {
		return
	}
	var b strings.Builder
	b.WriteString("| scenario | faults | detection p50 / p99 | replacement p50 / p99 | doubled slots | lost jobs | orphans | ghosts | false deaths | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rt.rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %d | %d | %d | %d | %s |\n", r.Scenario, r.Faults,
			quantiles(r.Detect), quantiles(r.Replace), r.Doubled, r.Lost, r.Orphans, r.Ghosts, r.FalseDeaths, r.Note)
	}
	fmt.Fprint(w, "\n"+b.String())
	if f := os.Getenv("SHOAL_CHAOS_TABLE"); f != "" {
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// quantiles formats p50 and p99 (nearest rank) of ds, "-" when there are none.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	return fmt.Sprintf("%.2fs / %.2fs (n=%d)", q(0.5).Seconds(), q(0.99).Seconds(), len(s))
}

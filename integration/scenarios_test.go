//go:build linux

package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The scenarios of issue 7, against the API of CONTRACTS.md. Each starts its own cluster of
// real peers; `make test` runs the short versions, `make chaos` (SHOAL_CHAOS=1) the long ones
// and prints the table. Durations are measured and reported, never asserted.

var ctx = context.Background()

// submitAll submits one service job per id (count each), spread over the hosts, and returns
// the desired counts.
func submitAll(t *testing.T, c *Cluster, count int, ids ...string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for k, id := range ids {
		if _, err := c.Submit(ctx, k%len(c.Hosts), serviceJob(id, count)); err != nil {
			t.Fatalf("submitting %s: %v", id, err)
		}
		counts[id] = count
	}
	return counts
}

// newResult registers the scenario's row, added to the table when the test ends (marked
// FAILED if it failed).
func newResult(t *testing.T, r result) *result {
	res := &r
	t.Cleanup(func() {
		if t.Failed() {
			res.Note = strings.TrimSuffix("FAILED; "+res.Note, "; ")
		}
		results.add(*res)
	})
	return res
}

// tally adds a report's violations to the row: distinct doubled slots and lost jobs (each
// live peer's view reports them separately), orphan processes and ghost allocations.
func tally(r *result, rep *Report) {
	r.Doubled += distinct(rep.Doubled, " (view of ")
	r.Lost += distinct(rep.Lost, " unknown to ")
	r.Orphans += len(rep.Orphans)
	r.Ghosts += len(rep.Ghosts)
}

// 1. Kill one of five hosts running three service jobs: detection, replacement, no doubles.
func TestScenarioKillHost(t *testing.T) {
	c := peerCluster(t, 5)
	counts := submitAll(t, c, 10, "svc1", "svc2", "svc3")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	res := newResult(t, result{Scenario: "1 kill a host (5 hosts, 3 jobs)"})
	for round := 0; round < pick(1, 5); round++ {
		via := 0
		victim := busiest(c, via, via)
		name := c.Hosts[victim].Name
		t.Logf("round %d: killing %s (%d running allocations)", round, name, runningOn(c, via, name))
		if err := c.KillHost(victim); err != nil {
			t.Fatal(err)
		}
		if left := hybridV2Cgroups(c.Hosts[victim].DataDir); len(left) > 0 {
			t.Errorf("the killed host's containers' cgroup v2 directories remain: %v", left)
		}
		res.Faults++
		det, ok := WaitFor(func() bool { s := nodeStatus(c, via, name); return s == "down" || s == "left" }, 2*time.Minute)
		if !ok {
			t.Fatalf("h%d never reports killed %s down", via, name)
		}
		res.Detect = append(res.Detect, det)
		rep, ok := WaitFor(func() bool { return atCount(c, via, counts, name) }, 2*time.Minute)
		if !ok {
			t.Fatalf("replacements for %s not running after 2m:\n%s", name, c.Check(ctx))
		}
		res.Replace = append(res.Replace, det+rep)
		t.Logf("round %d: detected after %v, replacements running %v later", round, det, rep)
		_, last := waitHealthy(t, c, res, 2*time.Minute, "after the kill")
		tally(res, last)
		if round+1 < pick(1, 5) {
			if err := c.Start(victim); err != nil {
				t.Fatal(err)
			}
			waitFormed(t, c, 2*time.Minute)
			waitHealthy(t, c, res, 2*time.Minute, "after the host's return")
		}
	}
}

// 2. Kill the coordinator of a job in the middle of placing it.
func TestScenarioKillCoordinator(t *testing.T) {
	c := peerCluster(t, 5)
	res := newResult(t, result{Scenario: "2 kill the coordinator mid-placement"})
	for round := 0; round < pick(1, 4); round++ {
		id := fmt.Sprintf("coord%d", round)
		coord, err := coordinatorOf(c, 0, id)
		how := "HRW coordinator"
		if err != nil {
			t.Logf("cannot compute the coordinator (%v): killing the peer that receives the submit", err)
			coord, how = (round+1)%len(c.Hosts), "submit receiver"
		}
		via := otherUp(c, coord)
		recv := via
		if how == "submit receiver" {
			recv = coord
		}
		if _, err := c.Submit(ctx, recv, serviceJob(id, pick(5, 8))); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			// Later in the placement: once the first allocation exists somewhere.
			WaitFor(func() bool { v, _ := view(c, via); return len(v[id]) > 0 }, 30*time.Second)
		}
		t0 := time.Now()
		if err := c.KillHost(coord); err != nil {
			t.Fatal(err)
		}
		res.Faults++
		t.Logf("round %d: killed %s (%s of %s)", round, c.Hosts[coord].Name, how, id)
		det, ok := WaitFor(func() bool { s := nodeStatus(c, via, c.Hosts[coord].Name); return s == "down" || s == "left" }, 2*time.Minute)
		if ok {
			res.Detect = append(res.Detect, det)
		}
		counts := map[string]int{}
		for jid := range c.Submitted() {
			counts[jid] = pick(5, 8)
		}
		if _, ok := WaitFor(func() bool { return atCount(c, via, counts, c.Hosts[coord].Name) }, 2*time.Minute); !ok {
			t.Fatalf("%s not at count after its coordinator died:\n%s", id, c.Check(ctx))
		}
		res.Replace = append(res.Replace, time.Since(t0))
		_, last := waitHealthy(t, c, res, 2*time.Minute, "after the coordinator's death")
		tally(res, last)
		if err := c.Start(coord); err != nil {
			t.Fatal(err)
		}
		waitFormed(t, c, 2*time.Minute)
	}
	_, last := waitHealthy(t, c, res, 2*time.Minute, "after every coordinator returned")
	tally(res, last)
}

// 3. Partition two of five hosts from the other three, then heal.
func TestScenarioPartition(t *testing.T) {
	c := peerCluster(t, 5)
	counts := submitAll(t, c, pick(4, 10), "part1", "part2")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	minority, majority := []int{3, 4}, []int{0, 1, 2}
	split := pick(20*time.Second, 30*time.Second)
	res := newResult(t, result{Scenario: fmt.Sprintf("3 partition 2|3 for %v, heal", split), Faults: 1})
	start := time.Now()
	if err := c.Partition(minority, majority); err != nil {
		t.Fatal(err)
	}
	// Each side must keep every job at its count on its own, within the split.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, side := range []struct {
		via   int
		other []int
	}{{0, minority}, {3, majority}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var names []string
			for _, o := range side.other {
				names = append(names, c.Hosts[o].Name)
			}
			d, ok := WaitFor(func() bool { return atCount(c, side.via, counts, names...) }, split)
			if !ok {
				t.Errorf("side of h%d: jobs not at count on its own hosts within the %v split", side.via, split)
				return
			}
			t.Logf("side of h%d at count on its own after %v", side.via, d)
			mu.Lock()
			res.Replace = append(res.Replace, d)
			mu.Unlock()
		}()
	}
	det, ok := WaitFor(func() bool { return nodeStatus(c, 0, c.Hosts[3].Name) == "down" }, split)
	if ok {
		res.Detect = append(res.Detect, det)
	}
	wg.Wait()
	time.Sleep(time.Until(start.Add(split)))
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	at10 := c.Check(ctx)
	tally(res, at10)
	res.Note = "counts 10 s after heal"
	if !at10.OK() {
		t.Logf("10 s after heal (reported, not asserted):\n%s", at10)
	}
	d, _ := waitHealthy(t, c, nil, 2*time.Minute, "after heal")
	t.Logf("invariants hold %v after heal", d+10*time.Second)
}

// 4. Rolling chaos: kill or freeze random hosts and bring them back while jobs change.
func TestScenarioRollingChaos(t *testing.T) {
	c := peerCluster(t, 5)
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("SHOAL_CHAOS_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (SHOAL_CHAOS_SEED=%d replays the same choices)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	submitAll(t, c, 3, "chaos0", "chaos1")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	res := newResult(t, result{Scenario: "4 rolling chaos", Note: fmt.Sprintf("seed %d", seed)})
	end := time.Now().Add(pick(45*time.Second, 4*time.Minute))
	next := 2
	var opErrs int
	for time.Now().Before(end) {
		h := rng.Intn(len(c.Hosts))
		down := time.Duration(2+rng.Intn(5)) * time.Second
		var fault string
		var err error
		switch rng.Intn(3) {
		case 0:
			fault, err = "kill host", c.KillHost(h)
		case 1:
			fault, err = "kill peer", c.KillPeer(h)
		default:
			fault, err = "freeze", c.Freeze(h)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", fault, c.Hosts[h].Name, err)
		}
		res.Faults++
		t.Logf("%s %s for %v", fault, c.Hosts[h].Name, down)
		// Change the jobs through a live peer while the fault lasts.
		time.Sleep(down / 2)
		via := otherUp(c, h)
		ids := liveJobs(c)
		switch op := rng.Intn(3); {
		case op == 0 || len(ids) < 2:
			id := fmt.Sprintf("chaos%d", next)
			next++
			_, err = c.Submit(ctx, via, serviceJob(id, 1+rng.Intn(4)))
		case op == 1:
			id := ids[rng.Intn(len(ids))]
			_, err = call(ctx, func(ctx context.Context) (struct{}, error) {
				return struct{}{}, c.API(via).Scale(ctx, id, "g", 1+rng.Intn(5))
			})
		default:
			err = c.StopJob(ctx, via, ids[rng.Intn(len(ids))])
		}
		if err != nil {
			opErrs++
			t.Logf("job change through h%d failed (counted, not fatal): %v", via, err)
		}
		time.Sleep(down / 2)
		if fault == "freeze" {
			err = c.Thaw(h)
		} else {
			err = c.Start(h)
		}
		if err != nil {
			t.Fatalf("bringing %s back: %v", c.Hosts[h].Name, err)
		}
		time.Sleep(time.Duration(1+rng.Intn(3)) * time.Second)
	}
	waitFormed(t, c, 2*time.Minute)
	d, last := waitHealthy(t, c, res, 3*time.Minute, "after the chaos")
	tally(res, last)
	res.Replace = append(res.Replace, d)
	res.Note += fmt.Sprintf("; %d job changes refused; replacement = settle time after the last fault", opErrs)
}

// distinct counts the lines that differ in what comes before sep.
func distinct(lines []string, sep string) int {
	seen := map[string]bool{}
	for _, l := range lines {
		k, _, _ := strings.Cut(l, sep)
		seen[k] = true
	}
	return len(seen)
}

func liveJobs(c *Cluster) []string {
	var ids []string
	for id, stopped := range c.Submitted() {
		if !stopped {
			ids = append(ids, id)
		}
	}
	return ids
}

// 5. The agent crashes (peer only) and restarts: containers keep running and are reattached.
func TestScenarioAgentCrash(t *testing.T) {
	c := peerCluster(t, 3)
	submitAll(t, c, 6, "crash1")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	res := newResult(t, result{Scenario: "5 agent crash and restart"})
	for round := 0; round < pick(1, 3); round++ {
		victim := busiest(c, 0)
		other := otherUp(c, victim)
		before := containerPids(t, c, victim)
		allocsBefore, err := view(c, other)
		if err != nil {
			t.Fatal(err)
		}
		if len(before) == 0 {
			t.Fatalf("%s runs no container to reattach", c.Hosts[victim].Name)
		}
		if err := c.KillPeer(victim); err != nil {
			t.Fatal(err)
		}
		res.Faults++
		t0 := time.Now()
		if err := c.Start(victim); err != nil {
			t.Fatal(err)
		}
		d, last := waitHealthy(t, c, res, 2*time.Minute, "after the agent restarted")
		res.Replace = append(res.Replace, time.Since(t0))
		tally(res, last)
		t.Logf("round %d: %s restarted, invariants hold after %v", round, c.Hosts[victim].Name, d)
		after := containerPids(t, c, victim)
		for pid, cg := range before {
			if after[pid] != cg {
				t.Errorf("container pid %d (cgroup %s) of %s did not survive the agent crash (now: %v)", pid, cg, c.Hosts[victim].Name, after)
			}
		}
		allocsAfter, err := view(c, other)
		if err != nil {
			t.Fatal(err)
		}
		for id, as := range allocsBefore {
			if len(allocsAfter[id]) != len(as) {
				t.Errorf("%s has %d allocations after the crash, %d before: something was replaced", id, len(allocsAfter[id]), len(as))
			}
			for _, a := range as {
				for _, b := range allocsAfter[id] {
					if a.ID == b.ID && b.RestartCount != a.RestartCount {
						t.Errorf("allocation %s restarted %d times across the agent crash", a.ID, b.RestartCount-a.RestartCount)
					}
				}
			}
		}
	}
}

// 6. Rolling restart of every peer, one at a time: jobs keep running throughout.
func TestScenarioRollingRestart(t *testing.T) {
	c := peerCluster(t, 5)
	counts := submitAll(t, c, pick(4, 8), "roll1", "roll2")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	before := map[int]string{}
	for i := range c.Hosts {
		for pid, cg := range containerPids(t, c, i) {
			before[pid] = cg
		}
	}
	var restarting atomic.Int32
	restarting.Store(-1)
	var emptySamples, samples atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample a live peer's view every 250 ms
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			via := otherUp(c, int(restarting.Load()))
			v, err := view(c, via)
			if err != nil {
				continue
			}
			samples.Add(1)
			for id := range counts {
				n := 0
				for _, a := range v[id] {
					if running(a) {
						n++
					}
				}
				if n == 0 {
					emptySamples.Add(1)
					t.Logf("sample via h%d: %s has no running allocation", via, id)
				}
			}
		}
	}()
	res := newResult(t, result{Scenario: "6 rolling restart of every peer"})
	for i := range c.Hosts {
		restarting.Store(int32(i))
		t0 := time.Now()
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
		res.Faults++
		waitFormed(t, c, 2*time.Minute)
		_, last := waitHealthy(t, c, res, 2*time.Minute, "after restarting "+c.Hosts[i].Name)
		res.Replace = append(res.Replace, time.Since(t0))
		tally(res, last)
	}
	close(stop)
	wg.Wait()
	if n := emptySamples.Load(); n > 0 {
		t.Errorf("%d of %d samples saw a job with no running allocation during the rolling restart", n, samples.Load())
	}
	died := 0
	for pid := range before {
		if !alive(pid) {
			died++
		}
	}
	res.Note = fmt.Sprintf("%d of %d containers replaced by the restarts", died, len(before))
	t.Log(res.Note)
}

// 7. Lossy network (10% loss, 50 ms delay) with both cores busy: no false deaths.
func TestScenarioLossyNetwork(t *testing.T) {
	c := peerCluster(t, 5)
	submitAll(t, c, 5, "lossy1")
	waitHealthy(t, c, nil, 3*time.Minute, "initial placement")
	note := "10% loss, 50 ms delay"
	for i := range c.Hosts {
		if err := c.Netem(i, 10, 50*time.Millisecond); errors.Is(err, ErrNoDelay) {
			note = "10% loss, no delay: " + err.Error()
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if linkExists(relayOut(c.Run, 0)) {
		note += " (loss by nftables, delay by the harness' relay: no netem in this kernel)"
	}
	for k := 0; k < 2; k++ { // both cores busy
		burn := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if err := burn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = burn.Process.Kill(); _ = burn.Wait() })
	}
	res := newResult(t, result{Scenario: "7 lossy network, cores busy", Note: note, Faults: len(c.Hosts)})
	dead := map[string]bool{} // "observer>target" currently seen not ready
	end := time.Now().Add(pick(40*time.Second, 3*time.Minute))
	for time.Now().Before(end) {
		for i := range c.Hosts {
			nodes, err := call(ctx, c.API(i).Nodes)
			if err != nil {
				continue // the API itself crosses the lossy network
			}
			for _, n := range nodes {
				key := c.Hosts[i].Name + ">" + n.Name
				if n.Status != "ready" && !dead[key] {
					res.FalseDeaths++
					t.Errorf("false death: %s reports %s %s", c.Hosts[i].Name, n.Name, n.Status)
				}
				dead[key] = n.Status != "ready"
			}
		}
		time.Sleep(time.Second)
	}
	for i := range c.Hosts {
		if err := c.Netem(i, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, last := waitHealthy(t, c, res, 2*time.Minute, "after the lossy period")
	tally(res, last)
}

// 8. A batch job's host dies mid-run: rerun elsewhere; once it succeeded, never rerun.
func TestScenarioBatchRerun(t *testing.T) {
	c := peerCluster(t, 3)
	id := "batch1"
	secs := pick(10, 20)
	if _, err := c.Submit(ctx, 0, batchJob(id, 1, secs)); err != nil {
		t.Fatal(err)
	}
	res := newResult(t, result{Scenario: "8 batch host dies mid-run", Faults: 1})
	var first string
	if _, ok := WaitFor(func() bool {
		v, _ := view(c, 0)
		for _, a := range v[id] {
			if running(a) {
				first = a.NodeName
				return true
			}
		}
		return false
	}, 2*time.Minute); !ok {
		t.Fatalf("batch job never ran:\n%s", c.Check(ctx))
	}
	victim := -1
	for _, h := range c.Hosts {
		if h.Name == first {
			victim = h.Index
		}
	}
	via := otherUp(c, victim)
	if err := c.KillHost(victim); err != nil {
		t.Fatal(err)
	}
	rerun, ok := WaitFor(func() bool {
		v, _ := view(c, via)
		for _, a := range v[id] {
			if a.NodeName != first && (running(a) || a.ClientStatus == "complete") {
				return true
			}
		}
		return false
	}, 2*time.Minute)
	if !ok {
		t.Fatalf("batch job not rerun after %s died:\n%s", first, c.Check(ctx))
	}
	res.Replace = append(res.Replace, rerun)
	if _, ok := WaitFor(func() bool { return completes(c, via, id) == 1 }, time.Duration(secs)*time.Second+2*time.Minute); !ok {
		t.Fatalf("batch job never completed:\n%s", c.Check(ctx))
	}
	v, _ := view(c, via)
	n := len(v[id])
	// Bring the dead host back and give the cluster time to do something wrong.
	if err := c.Start(victim); err != nil {
		t.Fatal(err)
	}
	waitFormed(t, c, 2*time.Minute)
	deadline := time.Now().Add(pick(10*time.Second, 30*time.Second))
	for time.Now().Before(deadline) {
		for _, i := range c.Up() {
			v, err := view(c, i)
			if err != nil {
				continue
			}
			for _, a := range v[id] {
				if running(a) {
					t.Fatalf("batch job %s runs again (allocation %s on %s, view of h%d) after it succeeded", id, a.ID, a.NodeName, i)
				}
			}
			if got := completes(c, i, id); got > 1 {
				t.Fatalf("batch job %s completed %d times (view of h%d)", id, got, i)
			}
			if len(v[id]) > n {
				t.Errorf("batch job %s: %d allocations after success, %d at success (view of h%d)", id, len(v[id]), n, i)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	last := c.Check(ctx)
	tally(res, last)
	if len(last.Orphans) > 0 || len(last.Lost) > 0 {
		t.Errorf("after the batch job:\n%s", last)
	}
}

func completes(c *Cluster, via int, id string) int {
	v, _ := view(c, via)
	n := 0
	for _, a := range v[id] {
		if a.ClientStatus == "complete" {
			n++
		}
	}
	return n
}

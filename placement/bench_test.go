package placement

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// The placement benchmark: a synthetic view of peers with mixed capacities and a trace
// of jobs (mixed sizes, some constraints, some spread), placed twice: by Shoal's whole
// auction path, and by an ideal central placer that sees every peer's exact state.
//
//	go test ./placement -run TestQualityReport -v -placement.full    the full-size table
//	go test ./placement -run '^$' -bench Auction -cpu 1               throughput

var fullQuality = flag.Bool("placement.full", false, "run TestQualityReport on the full 1,000-peer, 20,000-allocation trace")

// Peer shapes: MHz, MiB, and how many in 10.
var shapes = []struct{ cpu, mem, weight int }{{2000, 4096, 3}, {4000, 8192, 4}, {8000, 16384, 2}, {16000, 32768, 1}}

func syntheticPeers(n int, seed uint64) []Node {
	rng := rand.New(rand.NewPCG(seed, 1))
	nodes := make([]Node, n)
	for i := range nodes {
		w := rng.IntN(10)
		shape := shapes[0]
		for _, s := range shapes {
			if w < s.weight {
				shape = s
				break
			}
			w -= s.weight
		}
		nd := sizedNode(fmt.Sprintf("peer-%04d", i), shape.cpu, shape.mem)
		nd.Datacenter = fmt.Sprintf("dc%d", 1+rng.IntN(3))
		nd.Class = "general"
		if rng.IntN(10) == 0 {
			nd.Class = "gpu"
		}
		nd.Meta["rack"] = fmt.Sprintf("r%02d", rng.IntN(50))
		nodes[i] = nd
	}
	return nodes
}

// syntheticTrace returns jobs whose counts add up to allocs. About one in ten is pinned
// to gpu peers, one in ten to a datacenter, one in ten spreads over datacenters, one in
// twenty wants distinct hosts.
func syntheticTrace(jobs, allocs int, seed uint64) []*jobspec.Job {
	rng := rand.New(rand.NewPCG(seed, 2))
	// Means 194 MHz and 376 MiB: the full trace asks for about 72% of the cluster's
	// CPU and 68% of its memory, a busy cluster where how well a placer packs shows in
	// the peers it uses and the holes it leaves.
	cpus := []int{50, 100, 100, 150, 150, 200, 300, 500}
	mems := []int{64, 128, 128, 256, 256, 384, 768, 1024}
	trace := make([]*jobspec.Job, jobs)
	left := allocs
	for i := range trace {
		count := 1 + rng.IntN(2*allocs/jobs-1)
		if i == jobs-1 {
			count = left
		}
		count = min(count, left-(jobs-1-i))
		left -= count
		j := testJob(count, cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))])
		j.ID, j.Datacenters = fmt.Sprintf("job-%03d", i), []string{"*"}
		switch rng.IntN(20) {
		case 0, 1:
			j.Constraints = []jobspec.Constraint{{LTarget: "${node.class}", Operand: "=", RTarget: "gpu"}}
			j.Groups[0].Count = min(count, 40)
			left += count - j.Groups[0].Count
		case 2, 3:
			j.Datacenters = []string{"dc1"}
		case 4, 5:
			j.Spreads = []jobspec.Spread{{Attribute: "${node.datacenter}", Weight: 100}}
		case 6:
			j.Constraints = []jobspec.Constraint{{Operand: OpDistinctHosts}}
		}
		trace[i] = j
	}
	return trace
}

// cluster is the exact state of every peer: the truth bidders see.
type cluster struct {
	nodes  []Node
	byID   map[string]int
	allocs [][]Alloc
	next   int
}

func newCluster(nodes []Node) *cluster {
	c := &cluster{nodes: slices.Clone(nodes), byID: map[string]int{}, allocs: make([][]Alloc, len(nodes))}
	for i, n := range nodes {
		c.byID[n.ID] = i
	}
	return c
}

func (c *cluster) place(job *jobspec.Job, slot, node int) Alloc {
	c.next++
	a := Alloc{ID: fmt.Sprintf("a%d", c.next), JobID: job.ID, Group: job.Groups[0].Name, Index: slot,
		JobVersion: job.Version, NodeID: c.nodes[node].ID, DesiredStatus: DesiredRun, ClientStatus: ClientRunning,
		Resources: job.Groups[0].TotalResources()}
	c.allocs[node] = append(c.allocs[node], a)
	return a
}

// advertise refreshes the view's free capacity from the exact state, as gossip would.
func (c *cluster) advertise(view []Node) {
	for i := range view {
		free := FreeResources(c.nodes[i], c.allocs[i])
		view[i].CPUFree, view[i].MemoryFreeMB = free.CPU, free.MemoryMB
	}
}

// outcome is what a placer achieved on a trace.
type outcome struct {
	demanded, placed int
	peersUsed        int
	fragmentation    float64 // share of free memory the trace's median allocation cannot use
	spreadRatio      float64 // spread jobs: mean over jobs of max/min allocations per datacenter
	spreadPeerMax    float64 // spread jobs: mean over jobs of the most allocations on one peer
	spreadPeerRatio  float64 // spread jobs: mean over jobs of max/min allocations per peer used
	overCommitted    []string
	elapsed          time.Duration
}

// auctionPlace runs Shoal's whole path for every job of the trace: reconcile, sample
// candidates on a view that gossip refreshes every staleEvery jobs, bid on each
// candidate's exact state, award, and retry what is unplaced with d x 4 then everyone.
func auctionPlace(nodes []Node, trace []*jobspec.Job, staleEvery int) (*cluster, outcome) {
	c := newCluster(nodes)
	view := slices.Clone(nodes)
	start := time.Now()
	var out outcome
	byJob := map[string][]Alloc{}
	for i, job := range trace {
		if i%staleEvery == 0 {
			c.advertise(view)
		}
		res := Reconcile(ReconcileInput{Job: job, Allocs: byJob[job.ID], Nodes: view, Now: t0})
		slots := make([]int, 0, len(res.Place))
		for _, p := range res.Place {
			slots = append(slots, p.Index)
		}
		for round, d := range []int{2, 8, len(view)} {
			if len(slots) == 0 {
				break
			}
			seed := Seed(job.ID, uint64(round))
			cands, _ := Candidates(job, "api", len(slots), view, d, seed)
			req := NewBidRequest(job, "api", slots, byJob[job.ID], view, t0)
			req.RequestID, req.Seed = fmt.Sprintf("%s/%d", job.ID, round), seed
			bids := make([]Bid, 0, len(cands))
			for _, cand := range cands {
				n := c.byID[cand.ID]
				bids = append(bids, MakeBid(req, LocalState{Node: c.nodes[n], Allocs: c.allocs[n]}, t0))
			}
			awards, unplaced := Award(req, bids, seed)
			for _, a := range awards {
				byJob[job.ID] = append(byJob[job.ID], c.place(job, a.Slot, c.byID[a.NodeID]))
			}
			slots = slots[:0]
			for _, u := range unplaced {
				slots = append(slots, u.Slot)
			}
		}
		// The next reconciliation sees the job placed (or says what is still missing).
		Reconcile(ReconcileInput{Job: job, Allocs: byJob[job.ID], Nodes: view, Now: t0})
	}
	out.elapsed = time.Since(start)
	return c, out
}

// idealPlace is the central placer: for each slot, the best fit (highest bin-pack score)
// over every peer's exact state; spread jobs take the best fit within the least-used
// datacenter; distinct_hosts is honoured.
func idealPlace(nodes []Node, trace []*jobspec.Job) (*cluster, outcome) {
	c := newCluster(nodes)
	used := make([]Usage, len(nodes)) // kept in step with c.allocs
	start := time.Now()
	for _, job := range trace {
		g := job.Groups[0]
		stack := NewStack(job, g)
		need := stack.Need()
		var fits []int
		for i := range c.nodes {
			if _, ok := stack.CheckFit(&c.nodes[i]); ok {
				fits = append(fits, i)
			}
		}
		perDC := map[string]int{}
		here := map[int]bool{}
		for slot := range g.Count {
			best, bestScore, bestDC := -1, -1.0, 0
			for _, i := range fits {
				n := &c.nodes[i]
				if stack.distinctHosts && here[i] {
					continue
				}
				u := used[i]
				if !need.fits(Usage{n.CPUTotal, n.MemoryTotalMB}.sub(u)) {
					continue
				}
				score := BinPackScore(Usage{n.CPUTotal, n.MemoryTotalMB}, u.add(need))
				dc := 0
				if len(job.Spreads) > 0 {
					dc = perDC[n.Datacenter]
				}
				if best < 0 || dc < bestDC || (dc == bestDC && score > bestScore) {
					best, bestScore, bestDC = i, score, dc
				}
			}
			if best >= 0 {
				c.place(job, slot, best)
				perDC[c.nodes[best].Datacenter]++
				here[best] = true
				used[best] = used[best].add(need)
			}
		}
	}
	return c, outcome{elapsed: time.Since(start)}
}

// measure fills in the quality figures of an outcome from the final state.
func measure(c *cluster, trace []*jobspec.Job, out outcome) outcome {
	var sizes []int
	perJobDC := map[string]map[string]int{}
	perJobPeer := map[string]map[string]int{}
	for _, j := range trace {
		out.demanded += j.Groups[0].Count
		for range j.Groups[0].Count {
			sizes = append(sizes, j.Groups[0].TotalResources().MemoryMB*100000+j.Groups[0].TotalResources().CPU)
		}
		perJobDC[j.ID], perJobPeer[j.ID] = map[string]int{}, map[string]int{}
	}
	slices.Sort(sizes)
	median := Usage{sizes[len(sizes)/2] % 100000, sizes[len(sizes)/2] / 100000}
	var free, usable float64
	for i, n := range c.nodes {
		out.placed += len(c.allocs[i])
		if len(c.allocs[i]) > 0 {
			out.peersUsed++
		}
		u := Used(c.allocs[i])
		total := Usage{n.CPUTotal, n.MemoryTotalMB}
		if !u.fits(total) {
			out.overCommitted = append(out.overCommitted, fmt.Sprintf("%s: %v of %v", n.ID, u, total))
		}
		f := total.sub(u)
		k, _ := fitCount(median, f)
		free += float64(f.MemoryMB)
		usable += float64(k * median.MemoryMB)
		for _, a := range c.allocs[i] {
			perJobDC[a.JobID][n.Datacenter]++
			perJobPeer[a.JobID][n.ID]++
		}
	}
	out.fragmentation = 1 - usable/free
	spreadJobs := 0
	for _, j := range trace {
		if len(j.Spreads) == 0 {
			continue
		}
		spreadJobs++
		lo, hi := math.MaxInt, 0
		for _, dc := range []string{"dc1", "dc2", "dc3"} {
			lo, hi = min(lo, perJobDC[j.ID][dc]), max(hi, perJobDC[j.ID][dc])
		}
		out.spreadRatio += float64(hi) / float64(max(lo, 1))
		most, least := 0, math.MaxInt
		for _, c := range perJobPeer[j.ID] {
			most, least = max(most, c), min(least, c)
		}
		out.spreadPeerMax += float64(most)
		out.spreadPeerRatio += float64(most) / float64(max(least, 1))
	}
	out.spreadRatio /= float64(max(spreadJobs, 1))
	out.spreadPeerMax /= float64(max(spreadJobs, 1))
	out.spreadPeerRatio /= float64(max(spreadJobs, 1))
	return out
}

func qualityTable(peers, jobs int, shoal, ideal outcome) string {
	var b strings.Builder
	row := func(name string, s, i float64, format string) {
		ratio := "-"
		if i != 0 {
			ratio = fmt.Sprintf("%.3f", s/i)
		}
		fmt.Fprintf(&b, "| %-48s | %12s | %12s | %6s |\n", name, fmt.Sprintf(format, s), fmt.Sprintf(format, i), ratio)
	}
	fmt.Fprintf(&b, "%d peers, %d jobs, %d allocations demanded\n\n", peers, jobs, shoal.demanded)
	fmt.Fprintf(&b, "| %-48s | %12s | %12s | %6s |\n|%s|%s|%s|%s|\n", "metric", "Shoal", "ideal", "ratio",
		strings.Repeat("-", 50), strings.Repeat("-", 14), strings.Repeat("-", 14), strings.Repeat("-", 8))
	row("fraction of demand placed", float64(shoal.placed)/float64(shoal.demanded), float64(ideal.placed)/float64(ideal.demanded), "%.4f")
	row("peers used", float64(shoal.peersUsed), float64(ideal.peersUsed), "%.0f")
	row("fragmentation (free MiB unusable by median)", shoal.fragmentation, ideal.fragmentation, "%.4f")
	row("spread jobs: max/min allocations per DC", shoal.spreadRatio, ideal.spreadRatio, "%.3f")
	row("spread jobs: most allocations on one peer", shoal.spreadPeerMax, ideal.spreadPeerMax, "%.2f")
	row("spread jobs: max/min allocations per peer used", shoal.spreadPeerRatio, ideal.spreadPeerRatio, "%.2f")
	row("over-committed peers", float64(len(shoal.overCommitted)), float64(len(ideal.overCommitted)), "%.0f")
	row("placements per second", float64(shoal.placed)/shoal.elapsed.Seconds(), float64(ideal.placed)/ideal.elapsed.Seconds(), "%.0f")
	return b.String()
}

// TestQualityReport places a trace both ways, prints the side-by-side table, and holds
// Shoal to its goals: no over-commit, and within 5% of the ideal placer on demand
// placed. By default it runs a tenth of the full size; -placement.full runs the full one.
func TestQualityReport(t *testing.T) {
	peers, jobs, allocs := 100, 50, 2000
	if *fullQuality {
		peers, jobs, allocs = 1000, 500, 20000
	}
	nodes := syntheticPeers(peers, 42)
	trace := syntheticTrace(jobs, allocs, 42)
	sc, so := auctionPlace(nodes, trace, 10)
	shoal := measure(sc, trace, so)
	ic, io := idealPlace(nodes, trace)
	ideal := measure(ic, trace, io)
	t.Logf("\n%s", qualityTable(peers, jobs, shoal, ideal))
	if len(shoal.overCommitted) > 0 {
		t.Fatalf("over-committed peers: %v", shoal.overCommitted)
	}
	if got, want := float64(shoal.placed), 0.95*float64(ideal.placed); got < want {
		t.Errorf("placed %d allocations, want at least 95%% of the ideal placer's %d", shoal.placed, ideal.placed)
	}
}

// BenchmarkAuction measures the whole auction path on the full trace: candidate
// sampling, a bid from every candidate, awarding, and reconciliation before and after.
func BenchmarkAuction(b *testing.B) {
	nodes := syntheticPeers(1000, 42)
	trace := syntheticTrace(500, 20000, 42)
	placed := 0
	cpu0 := cpuTime()
	for b.Loop() {
		c, _ := auctionPlace(nodes, trace, 10)
		placed = 0
		for i := range c.allocs {
			placed += len(c.allocs[i])
		}
	}
	// Wall-clock rate, and the rate per second of CPU this process actually got (the
	// two differ when the machine is shared).
	b.ReportMetric(float64(placed)*float64(b.N)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(placed)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "placements/cpu-s")
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Per-decision costs, on the same synthetic view.

func BenchmarkCoordinator(b *testing.B) {
	nodes := syntheticPeers(1000, 42)
	i := 0
	for b.Loop() {
		Coordinator(fmt.Sprintf("job-%d", i%500), nodes)
		i++
	}
}

func anyDC(j *jobspec.Job) { j.Datacenters = []string{"*"} }

func BenchmarkMakeBid(b *testing.B) {
	job := testJob(40, 200, 256, anyDC)
	slots := make([]int, 40)
	for i := range slots {
		slots[i] = i
	}
	req := request(job, slots...)
	n := sizedNode("big", 16000, 32768) // room for all 40: the most scoring work
	local := LocalState{Node: n, Allocs: []Alloc{running("other", "g", 0, n.ID, 500, 512)}}
	if bid := MakeBid(req, local, t0); bid.MaxSlots != 40 {
		b.Fatalf("MaxSlots = %d (%s), want 40", bid.MaxSlots, bid.Reason)
	}
	for b.Loop() {
		MakeBid(req, local, t0)
	}
}

func BenchmarkAward(b *testing.B) {
	nodes := syntheticPeers(80, 42)
	job := testJob(40, 200, 256, anyDC)
	slots := make([]int, 40)
	for i := range slots {
		slots[i] = i
	}
	req := request(job, slots...)
	var bids []Bid
	for _, n := range nodes {
		bids = append(bids, MakeBid(req, LocalState{Node: n}, t0))
	}
	for b.Loop() {
		Award(req, bids, req.Seed)
	}
}

func BenchmarkReconcile(b *testing.B) {
	nodes := syntheticPeers(1000, 42)
	job := testJob(40, 200, 256)
	var allocs []Alloc
	for i := range 40 {
		allocs = append(allocs, running("web", "api", i, nodes[i].ID, 200, 256))
	}
	for b.Loop() {
		Reconcile(ReconcileInput{Job: job, Allocs: allocs, Nodes: nodes, Now: t0})
	}
}

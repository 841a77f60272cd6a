package placement

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// Go randomises map iteration on every range, so running each decision many times on
// one input catches any result that leaks a map's order.
func TestDecisionsIgnoreMapOrder(t *testing.T) {
	nodes := syntheticPeers(60, 7)
	job := testJob(12, 200, 256, func(j *jobspec.Job) {
		j.Datacenters = []string{"*"}
		j.Spreads = []jobspec.Spread{{Attribute: "${node.datacenter}", Weight: 50, Targets: []jobspec.SpreadTarget{{Value: "dc1", Percent: 50}}}}
		j.Affinities = []jobspec.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r07", Weight: 40}}
		j.Groups[0].Constraints = []jobspec.Constraint{{LTarget: "${meta.rack}", Operand: OpDistinctProp, RTarget: "3"}}
	})
	var allocs []Alloc
	for i := range 6 {
		a := running("web", "api", i, nodes[i*7].ID, 200, 256)
		if i%3 == 0 {
			a.ClientStatus, a.ModifyTime = ClientFailed, t0.Add(-time.Minute)
		}
		allocs = append(allocs, a)
	}
	decide := func() string {
		res := Reconcile(ReconcileInput{Job: job, Allocs: allocs, Nodes: nodes, Now: t0})
		var slots []int
		for _, p := range res.Place {
			slots = append(slots, p.Index)
		}
		cands, rejected := Candidates(job, "api", len(slots), nodes, 2, 99)
		req := NewBidRequest(job, "api", slots, allocs, nodes, t0)
		req.RequestID, req.Seed = "r", 99
		var bids []Bid
		for _, c := range cands {
			bids = append(bids, MakeBid(req, LocalState{Node: c}, t0))
		}
		awards, unplaced := Award(req, append(bids, Refusals(req, rejected)...), 99)
		return fmt.Sprint(describe(res), ids(cands), Explain(rejected), req.PropertyCounts, bids, awards, unplaced)
	}
	want := decide()
	for range 30 {
		if got := decide(); got != want {
			t.Fatalf("same input, different decision:\n%s\n%s", want, got)
		}
	}
}

package placement

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// GroupPlan is what submitting a job version would do to one of its groups, as
// `peer job plan` shows it (Nomad's create, destroy, create/destroy update, ignore).
type GroupPlan struct {
	Group   string
	Create  int // slots that get a new allocation (empty, lost or failed ones)
	Destroy int // allocations stopped for good (count reduced, group removed)
	Update  int // allocations replaced by the new version (create/destroy update)
	Ignore  int // allocations left as they are
	Canary  int // canaries placed first, beside the old allocations
	// Unplaced says why slots could not be placed in a dry run of the auction
	// over the cluster as it is now, one line per reason; empty when all fit.
	Unplaced []string
}

// PlanJob says what submitting job (the version it would become) would do, group by
// group, without doing anything: reconciliation decides creates, destroys and
// updates, and a dry-run auction over nodes, each bidding from the cluster's view of
// its allocations (allocs: every job's), says whether the new allocations fit. The
// dry run frees the capacity of the allocations the version replaces or stops, and
// asks every peer rather than a sample: it is the ideal auction, so a slot it cannot
// place will not be placed. It is pure.
func PlanJob(job *jobspec.Job, allocs []Alloc, nodes []Node, now time.Time) []GroupPlan {
	res := Reconcile(ReconcileInput{Job: job, Allocs: allocs, Nodes: nodes, Now: now})
	r := &reconciler{in: ReconcileInput{Job: job, Now: now}, hashes: make(map[string]string)}
	plans := map[string]*GroupPlan{}
	plan := func(group string) *GroupPlan {
		if plans[group] == nil {
			plans[group] = &GroupPlan{Group: group}
		}
		return plans[group]
	}
	for _, g := range job.Groups {
		plan(g.Name)
	}
	for _, p := range res.Place {
		switch {
		case p.Canary:
			plan(p.Group).Canary++
		case p.Reason != ReasonUpdate && p.Reason != ReasonNodeDrain:
			plan(p.Group).Create++
		}
	}
	leaving := map[string]bool{} // allocations this version stops or replaces
	for _, s := range res.Stop {
		if s.Reason == ReasonCountReduced || s.Reason == ReasonGroupRemoved {
			leaving[s.AllocID] = true
		}
	}
	for i := range allocs {
		a := &allocs[i]
		if a.JobID != job.ID || a.Terminal() {
			continue
		}
		g := job.LookupGroup(a.Group)
		switch {
		case leaving[a.ID]:
			plan(a.Group).Destroy++
		case g == nil || job.Type != jobspec.TypeSystem && a.Index >= g.Count:
			// stopping already, or a doubled slot's loser: nothing new
		case r.outdated(a, r.hash(g)):
			plan(a.Group).Update++
			leaving[a.ID] = true
		default:
			plan(a.Group).Ignore++
		}
	}

	if job.Type != jobspec.TypeSystem {
		// The cluster as the new version's auction would find it: every live
		// allocation but those the version stops or replaces, by peer.
		var mine []Alloc
		byNode := map[string][]Alloc{}
		for _, a := range allocs {
			if !a.Terminal() && !leaving[a.ID] {
				byNode[a.NodeID] = append(byNode[a.NodeID], a)
				if a.JobID == job.ID {
					mine = append(mine, a)
				}
			}
		}
		for _, g := range job.Groups {
			var slots []int
			for _, p := range res.Place {
				if p.Group == g.Name && p.Reason != ReasonUpdate {
					slots = append(slots, p.Index)
				}
			}
			for i := range allocs {
				if a := &allocs[i]; a.JobID == job.ID && a.Group == g.Name && leaving[a.ID] && a.Index < g.Count {
					slots = append(slots, a.Index) // an update needs a new allocation too
				}
			}
			slices.Sort(slots)
			plan(g.Name).Unplaced = dryRun(job, g.Name, slices.Compact(slots), mine, byNode, nodes, now)
		}
	}

	out := make([]GroupPlan, 0, len(plans))
	for _, p := range plans {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b GroupPlan) int { return cmp.Compare(a.Group, b.Group) })
	return out
}

// dryRun auctions slots of a group among every node, each bidding from its live
// allocations (byNode; mine are the job's), and says why slots stay unplaced.
func dryRun(job *jobspec.Job, group string, slots []int, mine []Alloc, byNode map[string][]Alloc, nodes []Node, now time.Time) []string {
	if len(slots) == 0 {
		return nil
	}
	req := NewBidRequest(job, group, slots, mine, nodes, now)
	req.RequestID = "plan"
	var bids []Bid
	for _, n := range nodes {
		if n.Alive && n.Eligible && !n.Draining {
			bids = append(bids, MakeBid(req, LocalState{Node: n, Allocs: byNode[n.ID]}, now))
		}
	}
	if len(bids) == 0 {
		return []string{fmt.Sprintf("%d slot(s): no peer is alive and eligible", len(slots))}
	}
	_, unplaced := Award(req, bids, Seed(job.ID, 0))
	counts := map[string]int{}
	var reasons []string
	for _, u := range unplaced {
		if counts[u.Reason] == 0 {
			reasons = append(reasons, u.Reason)
		}
		counts[u.Reason]++
	}
	out := make([]string, len(reasons))
	for i, why := range reasons {
		out[i] = fmt.Sprintf("%d slot(s): %s", counts[why], why)
	}
	return out
}

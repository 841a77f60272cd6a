package placement

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/shoal-sched/shoal/jobspec"
)

// SlotAward gives one slot to one peer. (The type cannot share the name of the
// function Award, which the callers name more often.)
type SlotAward struct {
	Slot   int
	NodeID string
	Score  float64 // the score the slot was awarded at, for logs and `peer job status`
}

// Unplaced is a slot no bid could take, and why.
type Unplaced struct {
	Slot   int
	Reason string
}

// Award turns the bids a coordinator collected for req into awards: greedily, each
// requested slot (in ascending order) goes to the bid whose next slot scores highest,
// with the coordinator's spread scoring and distinct_property limits applied as slots
// are assigned. It never awards a peer more than its bid's MaxSlots. Equal scores are
// ordered by a pseudo-random rank drawn from seed (normally req.Seed), then node ID, so
// the same inputs always give the same awards, whatever the order of bids. Bids for
// another request, and duplicate bids from one peer, are ignored. When a bid defers
// to another coordinator (Bid.DeferTo, see Deferred), nothing is awarded: a slot
// awarded by a coordinator that has not heard of the job's real one would run twice.
func Award(req BidRequest, bids []Bid, seed int64) ([]SlotAward, []Unplaced) {
	slots := slices.Clone(req.Slots)
	slices.Sort(slots)
	slots = slices.Compact(slots)

	if to, by, ok := Deferred(req, bids); ok {
		return nil, unplaceAll(slots, fmt.Sprintf("peer %s sees %s, which ranks above this coordinator for the job: deferring to it", by, to))
	}
	if req.Job == nil {
		return nil, unplaceAll(slots, "the request carries no job")
	}
	g := req.Job.LookupGroup(req.Group)
	if g == nil {
		return nil, unplaceAll(slots, fmt.Sprintf("job %q has no group %q", req.JobID, req.Group))
	}

	// Usable bids, one per peer, in node order (so input order cannot matter).
	var offers []*offer
	var refusals []Rejection
	byNode := make(map[string]bool)
	sorted := slices.Clone(bids)
	slices.SortStableFunc(sorted, func(a, b Bid) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(b.MaxSlots, a.MaxSlots), cmp.Compare(b.Score, a.Score))
	})
	for i := range sorted {
		b := &sorted[i]
		if b.RequestID != req.RequestID || b.NodeID == "" || byNode[b.NodeID] {
			continue
		}
		byNode[b.NodeID] = true
		if limit := min(b.MaxSlots, len(b.PerSlot)); limit > 0 {
			offers = append(offers, &offer{bid: b, limit: limit, rank: tieBreak(seed, b.NodeID)})
		} else {
			reason := b.Reason
			if reason == "" {
				reason = "bid no slots, without a reason"
			}
			refusals = append(refusals, Rejection{NodeID: b.NodeID, Reason: reason, Detail: b.Detail})
		}
	}

	a := newAssigner(req, g)
	var awards []SlotAward
	var unplaced []Unplaced
	for _, slot := range slots {
		best, score := a.best(offers)
		if best == nil {
			unplaced = append(unplaced, Unplaced{slot, a.whyNot(offers, refusals)})
			continue
		}
		a.take(best)
		awards = append(awards, SlotAward{Slot: slot, NodeID: best.bid.NodeID, Score: score})
	}
	return awards, unplaced
}

// Deferred reports whether a bid for req defers to another coordinator (Bid.DeferTo):
// to is that coordinator and by the bidder that named it (of several, the bid of the
// smallest node ID). A coordinator that gets one places nothing of the request.
func Deferred(req BidRequest, bids []Bid) (to, by string, ok bool) {
	for _, b := range bids {
		if b.RequestID == req.RequestID && b.DeferTo != "" && (!ok || b.NodeID < by) {
			to, by, ok = b.DeferTo, b.NodeID, true
		}
	}
	return to, by, ok
}

// offer is one peer's bid as the assignment consumes it.
type offer struct {
	bid   *Bid
	limit int // slots it may still be given, in all
	taken int
	rank  uint64 // tie-break
}

// assigner holds the coordinator-side state of one Award: the spread and
// distinct_property counts, updated as slots are given.
type assigner struct {
	spreads []spreadSpec
	limits  []distinctProperty
	counted []countedAttr // every count the assignment keeps up to date
	counts  map[string]map[string]int
	desired int
}

// countedAttr is a count kept under key for the peer property attr (see PropertyCounts).
type countedAttr struct{ key, attr string }

func newAssigner(req BidRequest, g *jobspec.Group) *assigner {
	a := &assigner{spreads: compileSpreads(req.Job, g), limits: NewStack(req.Job, g).distinctProps,
		counts: make(map[string]map[string]int), desired: g.Count}
	for _, sp := range a.spreads {
		a.counted = append(a.counted, countedAttr{sp.attr, sp.attr})
	}
	for _, dp := range a.limits {
		a.counted = append(a.counted, countedAttr{dp.key(), dp.attr})
	}
	slices.SortFunc(a.counted, func(x, y countedAttr) int { return cmp.Compare(x.key, y.key) })
	a.counted = slices.Compact(a.counted)
	for _, c := range a.counted {
		a.counts[c.key] = maps.Clone(req.PropertyCounts[c.key])
		if a.counts[c.key] == nil {
			a.counts[c.key] = make(map[string]int)
		}
	}
	return a
}

// best returns the offer whose next slot scores highest, or nil.
func (a *assigner) best(offers []*offer) (*offer, float64) {
	var best *offer
	var bestScore float64
	for _, o := range offers {
		if o.taken >= o.limit || !a.allowed(o) {
			continue
		}
		s := o.bid.PerSlot[o.taken]
		if boost, ok := spreadScore(a.spreads, o.bid.Properties, a.counts, a.desired); ok {
			s = s.plus(boost)
		}
		score := s.Mean()
		if best == nil || score > bestScore || (score == bestScore &&
			(o.rank > best.rank || (o.rank == best.rank && o.bid.NodeID < best.bid.NodeID))) {
			best, bestScore = o, score
		}
	}
	return best, bestScore
}

// allowed applies the distinct_property limits to the offer's peer. A peer lacking the
// property is not allowed (as in Nomad).
func (a *assigner) allowed(o *offer) bool {
	for _, dp := range a.limits {
		v, ok := o.bid.Properties[dp.attr]
		if !ok || a.counts[dp.key()][v] >= dp.limit {
			return false
		}
	}
	return true
}

// take gives the offer's peer one slot and counts it.
func (a *assigner) take(o *offer) {
	o.taken++
	for _, c := range a.counted {
		if v, ok := o.bid.Properties[c.attr]; ok {
			a.counts[c.key][v]++
		}
	}
}

// whyNot explains an unplaced slot from what the bids said.
func (a *assigner) whyNot(offers []*offer, refusals []Rejection) string {
	blocked := false
	for _, o := range offers {
		blocked = blocked || (o.taken < o.limit && !a.allowed(o))
	}
	var reason string
	switch {
	case len(offers) == 0 && len(refusals) == 0:
		return "no peer bid"
	case blocked:
		reason = "distinct_property limit reached on every bidding peer"
	case len(offers) > 0:
		total := 0
		limits := make(map[string]int)
		for _, o := range offers {
			total += o.limit
			if o.bid.Limit != "" {
				limits[o.bid.Limit]++
			}
		}
		reason = fmt.Sprintf("bidding peers are full (%s offered %d slots in all", nPeers(len(offers)), total)
		for i, l := range slices.Sorted(maps.Keys(limits)) {
			sep := ", "
			if i == 0 {
				sep = "; limited by "
			}
			reason += fmt.Sprintf("%s%s on %d", sep, l, limits[l])
		}
		reason += ")"
	default:
		reason = "no peer can take it"
	}
	if len(refusals) > 0 {
		reason += ": " + Explain(refusals)
	}
	return reason
}

func unplaceAll(slots []int, reason string) []Unplaced {
	out := make([]Unplaced, len(slots))
	for i, s := range slots {
		out[i] = Unplaced{s, reason}
	}
	return out
}

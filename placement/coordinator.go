package placement

import (
	"cmp"
	"slices"
)

// Rendezvous (highest random weight) hashing: every peer scores every (job, peer) pair
// with the same deterministic hash and the highest score coordinates the job. No messages
// are needed to agree, and removing any peer but the winner leaves the winner unchanged.

// hrw is the rendezvous weight of nodeID for jobID: FNV-1a 64 over "job\x00node",
// finished with the splitmix64 mixer so that similar ids give unrelated weights.
// It must never change: every peer of every version has to compute the same value.
func hrw(jobID, nodeID string) uint64 {
	h := fnv1a(fnvOffset, jobID)
	h = (h ^ 0) * fnvPrime // the separator, so ("ab","c") and ("a","bc") differ
	h = fnv1a(h, nodeID)
	return mix64(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix64 is splitmix64's finaliser: a bijection with full avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Coordinator returns the peer that coordinates jobID in the view nodes: the alive and
// eligible peer with the highest rendezvous weight (ties, which need a 64-bit collision,
// go to the smaller ID). ok is false when no peer in the view is alive and eligible.
// A draining peer may still coordinate: draining moves allocations, not coordination.
// The order of nodes does not matter.
func Coordinator(jobID string, nodes []Node) (nodeID string, ok bool) {
	var best uint64
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive || !n.Eligible {
			continue
		}
		w := hrw(jobID, n.ID)
		if !ok || w > best || (w == best && n.ID < nodeID) {
			nodeID, best, ok = n.ID, w, true
		}
	}
	return nodeID, ok
}

// outranks reports whether peer a ranks above peer b for jobID (the order of
// Coordinator: higher weight first, then the smaller ID).
func outranks(jobID, a, b string) bool {
	wa, wb := hrw(jobID, a), hrw(jobID, b)
	return wa > wb || (wa == wb && a < b)
}

// PassedOver returns the peers of coordinator's view nodes that rank above it for
// jobID but that it does not count (not alive, or not eligible), sorted. A coordinator
// sends them with its requests (BidRequest.PassedOver) so that a peer can tell a peer
// the coordinator knows is down from one it has not heard of (see OutrankedBy).
func PassedOver(jobID, coordinator string, nodes []Node) []string {
	var out []string
	for i := range nodes {
		n := &nodes[i]
		if (!n.Alive || !n.Eligible) && n.ID != coordinator && outranks(jobID, n.ID, coordinator) {
			out = append(out, n.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OutrankedBy checks a coordinator's claim against another peer's view nodes: it
// returns the highest-ranked peer of the view that is alive and eligible, ranks above
// coordinator for jobID, and is not one the coordinator passed over (PassedOver). Such
// a peer is one the coordinator has not heard of, as when a cluster forms and a peer has
// not yet learnt of the last one to join: both it and the job's real coordinator would
// act under the same epoch, and epochs cannot fence them. A peer that finds one refuses
// the coordinator's bid request (Bid.DeferTo) and award. A peer the coordinator passed
// over is not held against it: the coordinator's failure detector saw it down, and
// when that is wrong, epochs fence the two (the coordinator that took over acts under a
// higher one). ok is false when the view has no such peer.
func OutrankedBy(jobID, coordinator string, passedOver []string, nodes []Node) (nodeID string, ok bool) {
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive || !n.Eligible || n.ID == coordinator || !outranks(jobID, n.ID, coordinator) ||
			slices.Contains(passedOver, n.ID) {
			continue
		}
		if !ok || outranks(jobID, n.ID, nodeID) {
			nodeID, ok = n.ID, true
		}
	}
	return nodeID, ok
}

// Ranked returns the IDs of the alive and eligible peers in the order of succession for
// jobID: Ranked(...)[0] is the Coordinator, [1] takes over if it dies, and so on.
func Ranked(jobID string, nodes []Node) []string {
	type ranked struct {
		id string
		w  uint64
	}
	rs := make([]ranked, 0, len(nodes))
	for i := range nodes {
		if nodes[i].Alive && nodes[i].Eligible {
			rs = append(rs, ranked{nodes[i].ID, hrw(jobID, nodes[i].ID)})
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b.w, a.w); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

// EpochTracker remembers, per job, the highest coordinator epoch a peer has seen.
// A coordinator takes Next before it acts; every peer passes each incoming offer or
// award through Accept. Equal epochs are accepted (one coordinator sends many messages
// under one epoch); two coordinators that pick the same epoch in a split view are
// resolved later by the doubled-slot rule (see doc.go).
//
// The zero value is ready to use. An EpochTracker is not safe for concurrent use: its
// owner (node) serialises access.
type EpochTracker struct {
	seen map[string]Epoch
}

// Highest returns the highest epoch seen for jobID (0 if none).
func (t *EpochTracker) Highest(jobID string) Epoch { return t.seen[jobID] }

// Observe records that epoch e was seen for jobID (on any message, or in an allocation).
func (t *EpochTracker) Observe(jobID string, e Epoch) {
	if e > t.seen[jobID] {
		if t.seen == nil {
			t.seen = make(map[string]Epoch)
		}
		t.seen[jobID] = e
	}
}

// Accept reports whether a message for jobID under epoch e may be acted upon: e is at
// least the highest epoch seen. An accepted epoch is observed.
func (t *EpochTracker) Accept(jobID string, e Epoch) bool {
	if e < t.seen[jobID] {
		return false
	}
	t.Observe(jobID, e)
	return true
}

// Next returns the epoch a coordinator must act under for jobID: one above any seen,
// and records it.
func (t *EpochTracker) Next(jobID string) Epoch {
	e := t.seen[jobID] + 1
	t.Observe(jobID, e)
	return e
}

// Forget drops what is known of jobID (after a purge).
func (t *EpochTracker) Forget(jobID string) { delete(t.seen, jobID) }

// Seed derives the random seed of one decision round for jobID. Every source of
// randomness in placement (candidate sampling, tie-breaks) is drawn from it, and it is
// carried in the decision (BidRequest.Seed), so a decision can be replayed exactly.
func Seed(jobID string, round uint64) int64 {
	return int64(mix64(fnv1a(fnvOffset, jobID) ^ mix64(round+0x9e3779b97f4a7c15)))
}

// tieBreak orders equal scores: a per-decision pseudo-random rank for nodeID.
func tieBreak(seed int64, nodeID string) uint64 {
	return mix64(fnv1a(uint64(seed), nodeID))
}

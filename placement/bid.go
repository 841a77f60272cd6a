package placement

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// DefaultHold is how long a bidder holds the capacity it bid, unless the request says
// otherwise: long enough for a coordinator to collect bids and send awards, short enough
// that a coordinator that died mid-auction does not strand capacity.
const DefaultHold = 10 * time.Second

// FailurePenaltyWindow is how long a peer where a job's group failed scores lower for it.
const FailurePenaltyWindow = 10 * time.Minute

// BidRequest asks a peer how many of a group's slots it can take, and how well. The
// coordinator builds it with NewBidRequest and sets the identity fields; it is a value
// that travels over RPC.
type BidRequest struct {
	RequestID   string // unique per auction round; a bid or reservation is tied to it
	JobID       string
	Group       string
	JobVersion  uint64
	Epoch       Epoch             // the coordinator's epoch for the job; bidders refuse lower ones
	Coordinator string            // the coordinator's node ID
	PassedOver  []string          `json:",omitempty"` // PassedOver(JobID, Coordinator, its view): bidders check the claim (OutrankedBy)
	Slots       []int             // the slot indexes wanted
	Resources   jobspec.Resources // per slot; informational (bidders compute it from Job)
	Job         *jobspec.Job
	Seed        int64 // Seed(jobID, round): tie-breaks, so the round can be replayed

	// What only the coordinator sees: the group's live allocations per value of each
	// spread and distinct_property attribute (see PropertyCounts), and the peers where
	// the group recently failed.
	PropertyCounts map[string]map[string]int
	Penalized      []string

	// Replacing are the allocations that the slots' placements replace (a rolling
	// update): a bidder counts them as stopped, since the coordinator stops each once
	// its replacement is awarded, and not before (if none is, the old one runs on).
	Replacing []string `json:",omitempty"`

	Hold time.Duration // how long bidders hold capacity; 0 means DefaultHold
}

// NewBidRequest builds the request for slots of group from the coordinator's view:
// allocs are the job's allocations across the cluster, nodes the member list.
// The caller fills in RequestID, Epoch, Coordinator and Seed.
func NewBidRequest(job *jobspec.Job, group string, slots []int, allocs []Alloc, nodes []Node, now time.Time) BidRequest {
	req := BidRequest{Group: group, Slots: slices.Clone(slots), Job: job}
	if job == nil {
		return req // MakeBid and Award refuse it, saying why
	}
	req.JobID, req.JobVersion = job.ID, job.Version
	g := job.LookupGroup(group)
	if g == nil {
		return req
	}
	req.Resources = g.TotalResources()
	req.PropertyCounts = PropertyCounts(job, g, allocs, nodes)
	seen := make(map[string]bool)
	for i := range allocs {
		a := &allocs[i]
		if a.Group == group && a.ClientStatus == ClientFailed && now.Sub(a.ModifyTime) < FailurePenaltyWindow && !seen[a.NodeID] {
			seen[a.NodeID] = true
			req.Penalized = append(req.Penalized, a.NodeID)
		}
	}
	slices.Sort(req.Penalized)
	return req
}

// propertyAttrs lists the attributes the coordinator needs resolved on each bidder.
func propertyAttrs(s *Stack, spreads []spreadSpec) []string {
	var attrs []string
	for _, sp := range spreads {
		attrs = append(attrs, sp.attr)
	}
	for _, dp := range s.distinctProps {
		attrs = append(attrs, dp.attr)
	}
	slices.Sort(attrs)
	return slices.Compact(attrs)
}

// PropertyCounts counts the live allocations of group per value of every spread and
// distinct_property attribute, over the view: counts[attr][value]. A job-level
// distinct_property counts the whole job's allocations, under "job:"+attr.
func PropertyCounts(job *jobspec.Job, group *jobspec.Group, allocs []Alloc, nodes []Node) map[string]map[string]int {
	s := NewStack(job, group)
	type key struct{ attr, counted string }
	var keys []key
	for _, sp := range compileSpreads(job, group) {
		keys = append(keys, key{sp.attr, sp.attr})
	}
	for _, dp := range s.distinctProps {
		keys = append(keys, key{dp.attr, dp.key()})
	}
	if len(keys) == 0 {
		return nil
	}
	// A spread and a distinct_property on one attribute share one count.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.counted, b.counted), cmp.Compare(a.attr, b.attr)) })
	keys = slices.Compact(keys)
	byID := make(map[string]*Node, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	counts := make(map[string]map[string]int)
	for _, k := range keys {
		counts[k.counted] = make(map[string]int)
	}
	for i := range allocs {
		a := &allocs[i]
		n := byID[a.NodeID]
		if a.Terminal() || n == nil || a.JobID != job.ID {
			continue
		}
		for _, k := range keys {
			if k.counted == k.attr && a.Group != group.Name {
				continue
			}
			if v, ok := resolveTarget(k.attr, n); ok {
				counts[k.counted][v]++
			}
		}
	}
	return counts
}

// LocalState is a bidder's exact view of itself: the node, every allocation it runs
// (of any job) and the reservations it holds for auctions in flight.
type LocalState struct {
	Node         Node
	Allocs       []Alloc
	Reservations []Reservation
}

// Reservation is capacity a bidder holds for an auction until the award arrives or
// Expires passes. The bidder keeps its reservations; placement only reads them.
type Reservation struct {
	RequestID string
	JobID     string
	Resources Usage // for all Slots together
	Slots     int
	Ports     []int
	Expires   time.Time
}

// Active reports whether r still holds capacity at now.
func (r Reservation) Active(now time.Time) bool { return now.Before(r.Expires) }

// ActiveReservations returns the reservations still active at now (a new slice), so
// the owner can drop the expired ones.
func ActiveReservations(rs []Reservation, now time.Time) []Reservation {
	var out []Reservation
	for _, r := range rs {
		if r.Active(now) {
			out = append(out, r)
		}
	}
	return out
}

// Bid is a peer's answer to a BidRequest.
type Bid struct {
	RequestID string
	NodeID    string
	// Score is the score of taking one slot (PerSlot[0].Mean()), for display.
	Score float64
	// MaxSlots is how many of the requested slots the peer can take with its exact free
	// capacity, minus what other auctions hold reserved. 0 means none, and Reason says why.
	MaxSlots int
	// Limit names what capped MaxSlots below the slots asked for ("free memory",
	// "static port 8080", "distinct_hosts"), so unplaced slots can be explained.
	Limit string
	// PerSlot[k] is the score of taking a (k+1)-th slot, having taken k: the coordinator
	// sees how the peer changes as it fills, and can pack or spread.
	PerSlot []SlotScore
	// Properties are the peer's values of the attributes the coordinator spreads or
	// limits by.
	Properties  map[string]string
	Reservation Reservation // what the bidder now holds for this request (zero if MaxSlots is 0)
	Reason      string      // why MaxSlots is 0, phrased like Rejection.Reason
	Detail      string
	// DeferTo names a peer that, in the bidder's view, ranks above the request's
	// coordinator for the job without the coordinator having passed it over
	// (OutrankedBy): the coordinator has not heard of the job's real coordinator. The
	// bid offers nothing, and Award awards no slot of the request.
	DeferTo string `json:",omitempty"`
}

// MakeBid turns a request and the bidder's exact local state into a bid. It is pure:
// the caller stores the returned Reservation (and releases it on award or expiry) and
// must have checked the request's epoch (EpochTracker.Accept) first.
func MakeBid(req BidRequest, local LocalState, now time.Time) Bid {
	n := &local.Node
	bid := Bid{RequestID: req.RequestID, NodeID: n.ID}
	refuse := func(reason, detail string) Bid {
		bid.Reason, bid.Detail = reason, detail
		return bid
	}
	if req.Job == nil {
		return refuse("bid on a request without a job", "request "+req.RequestID)
	}
	g := req.Job.LookupGroup(req.Group)
	switch {
	case g == nil:
		return refuse("bid on a request naming no group of the job", "group "+req.Group)
	case len(req.Slots) == 0:
		return refuse("bid on a request for no slots", "")
	}

	// Exact free capacity: totals, minus live allocations (but those being replaced),
	// minus other auctions' holds.
	if len(req.Replacing) > 0 {
		local.Allocs = slices.DeleteFunc(slices.Clone(local.Allocs), func(a Alloc) bool { return slices.Contains(req.Replacing, a.ID) })
	}
	var held Usage
	var heldPorts []int
	for _, r := range local.Reservations {
		if r.Active(now) && r.RequestID != req.RequestID {
			held = held.add(r.Resources)
			heldPorts = append(heldPorts, r.Ports...)
		}
	}
	used := Used(local.Allocs).add(held)
	free := FreeResources(*n, local.Allocs).sub(held)

	stack := NewStack(req.Job, g)
	if rej, ok := stack.CheckLocal(n, local.Allocs, free, heldPorts); !ok {
		return refuse(rej.Reason, rej.Detail)
	}
	need := stack.Need()
	slots, limit := fitCount(need, free)
	switch {
	case len(stack.ports) > 0 && slots > 1:
		slots, limit = 1, "static port "+strconv.Itoa(stack.ports[0])
	case stack.distinctHosts && slots > 1:
		slots, limit = 1, "distinct_hosts"
	}
	if slots >= len(req.Slots) {
		slots, limit = len(req.Slots), ""
	}
	if slots <= 0 { // CheckLocal saw room for one; only nonsense resources get here
		return refuse("lack free capacity", "")
	}
	bid.Limit = limit

	sc := newScorer(req.Job, g, req.Penalized)
	fixed := sc.fixed(n)
	collisions := sc.collisions(local.Allocs)
	total := Usage{n.CPUTotal, n.MemoryTotalMB}
	bid.PerSlot = make([]SlotScore, slots)
	for k := range slots {
		bid.PerSlot[k] = sc.slot(total, used.add(need.times(k+1)), collisions+k, fixed)
	}
	bid.MaxSlots = slots
	bid.Score = bid.PerSlot[0].Mean()
	bid.Properties = propertyValues(propertyAttrs(stack, compileSpreads(req.Job, g)), n)
	hold := req.Hold
	if hold <= 0 {
		hold = DefaultHold
	}
	bid.Reservation = Reservation{RequestID: req.RequestID, JobID: req.JobID, Resources: need.times(slots),
		Slots: slots, Ports: slices.Clone(stack.ports), Expires: now.Add(hold)}
	return bid
}

// fitCount is how many instances of need fit in free, and which resource runs out first.
func fitCount(need, free Usage) (int, string) {
	n, limit := int(^uint(0)>>1), ""
	if need.CPU > 0 {
		n, limit = free.CPU/need.CPU, "free cpu"
	}
	if need.MemoryMB > 0 && free.MemoryMB/need.MemoryMB < n {
		n, limit = free.MemoryMB/need.MemoryMB, "free memory"
	}
	return max(n, 0), limit
}

// Refusals turns the peers Candidates left out into refusing bids for req, so that
// Award can explain unplaced slots by every peer, asked or not.
func Refusals(req BidRequest, rejected []Rejection) []Bid {
	bids := make([]Bid, len(rejected))
	for i, r := range rejected {
		bids[i] = Bid{RequestID: req.RequestID, NodeID: r.NodeID, Reason: r.Reason, Detail: r.Detail}
	}
	return bids
}

// Candidates chooses whom a coordinator asks to bid for missing slots of group: the
// peers that pass the advertised feasibility checks, or in a large cluster d x missing
// of them (power of d choices, after Sparrow). Half the sample (missing peers) are the
// best bin-pack fits by advertised capacity, so packing stays close to a central
// placer's; the rest are drawn at random from seed, so stale advertisements and hot
// spots do not starve the auction. Jobs that spread draw every candidate at random.
// A caller retrying unplaced slots widens d (the benchmark uses 2, then 8, then every
// peer).
//
// It also returns why the other peers were left out, for Explain. The result does not
// depend on the order of nodes.
func Candidates(job *jobspec.Job, group string, missing int, nodes []Node, d int, seed int64) ([]Node, []Rejection) {
	if job == nil || missing <= 0 {
		return nil, nil
	}
	g := job.LookupGroup(group)
	if g == nil {
		return nil, nil
	}
	stack := NewStack(job, g)
	var feasible []int // indexes into nodes, in node ID order
	var rejected []Rejection
	for i := range nodes {
		if rej, ok := stack.CheckNode(&nodes[i]); ok {
			feasible = append(feasible, i)
		} else {
			rejected = append(rejected, rej)
		}
	}
	slices.SortFunc(feasible, func(a, b int) int { return cmp.Compare(nodes[a].ID, nodes[b].ID) })
	slices.SortFunc(rejected, func(a, b Rejection) int { return cmp.Compare(a.NodeID, b.NodeID) })

	want := max(d, 1) * missing
	chosen := feasible
	if len(feasible) > want {
		chosen = sample(nodes, feasible, stack.Need(), missing, want, len(job.Spreads)+len(g.Spreads) > 0, seed)
		slices.SortFunc(chosen, func(a, b int) int { return cmp.Compare(nodes[a].ID, nodes[b].ID) })
	}
	out := make([]Node, len(chosen))
	for k, i := range chosen {
		out[k] = nodes[i]
	}
	return out, rejected
}

// sample picks want of the feasible peers: unless the job spreads, the best bin-pack
// fits by advertised capacity for the first missing, then the rest at random (a partial
// Fisher-Yates shuffle from seed).
func sample(nodes []Node, feasible []int, need Usage, missing, want int, spreads bool, seed int64) []int {
	rest := slices.Clone(feasible)
	var chosen []int
	if !spreads {
		score := make(map[int]float64, len(rest))
		for _, i := range rest {
			n := &nodes[i]
			total := Usage{n.CPUTotal, n.MemoryTotalMB}
			score[i] = BinPackScore(total, total.sub(Usage{n.CPUFree, n.MemoryFreeMB}).add(need))
		}
		slices.SortStableFunc(rest, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
		best := min(missing, want)
		chosen = append(chosen, rest[:best]...)
		rest = rest[best:]
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5ca1ab1e))
	for i := 0; len(chosen) < want && i < len(rest); i++ {
		j := i + rng.IntN(len(rest)-i)
		rest[i], rest[j] = rest[j], rest[i]
		chosen = append(chosen, rest[i])
	}
	return chosen
}

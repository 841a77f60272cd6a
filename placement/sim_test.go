package placement

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// sim is a deterministic in-process cluster for multi-round tests: peers with exact
// capacity, the allocation records their owners hold, a clock, and partitions. Each
// side of a partition sees the other side's peers as dead, elects its own coordinator
// per job (HRW over its view), runs Reconcile and the whole auction (Candidates,
// MakeBid on every candidate's exact state, Award) and carries out the result only
// where it can reach. A peer can also be unaware of others (as when a cluster forms
// and it has not yet heard of the last peer to join): they are missing from its view.
// Everything is ordered, so runs replay exactly.
type sim struct {
	now     time.Time
	nodes   map[string]*Node
	order   []string            // node IDs in the order added
	allocs  map[string]*Alloc   // the owners' records
	jobs    map[string]*simJob  // by ID
	sides   [][]string          // nil when healed
	unaware map[string][]string // peer -> the peers it has not heard of
	lost    map[string]bool     // lost marks, valid while the owner is unreachable
	known   map[string]bool     // records every side knew when the partition began
	epochs  map[string]*EpochTracker
	counter int
	round   uint64
}

type simJob struct {
	job     *jobspec.Job
	stopped bool
}

func newSim() *sim {
	return &sim{now: t0, nodes: map[string]*Node{}, allocs: map[string]*Alloc{}, jobs: map[string]*simJob{},
		lost: map[string]bool{}, epochs: map[string]*EpochTracker{}, unaware: map[string][]string{}}
}

func (s *sim) addNode(n Node) {
	s.nodes[n.ID] = &n
	s.order = append(s.order, n.ID)
	s.epochs[n.ID] = &EpochTracker{}
}

// sideOf returns the peers reachable from id (all live peers when healed).
func (s *sim) sideOf(id string) []string {
	for _, side := range s.sides {
		if slices.Contains(side, id) {
			return side
		}
	}
	if s.sides != nil {
		return []string{id}
	}
	return s.order
}

// view is the member list as seen from id: peers across a partition look dead, peers
// it has not heard of are missing, and free capacity is advertised from the owners'
// records.
func (s *sim) view(from string) []Node {
	side := s.sideOf(from)
	var view []Node
	for _, id := range s.order {
		if slices.Contains(s.unaware[from], id) {
			continue
		}
		n := *s.nodes[id]
		n.Alive = n.Alive && slices.Contains(side, id)
		free := FreeResources(n, s.allocsOn(id))
		n.CPUFree, n.MemoryFreeMB = free.CPU, free.MemoryMB
		view = append(view, n)
	}
	return view
}

// allocsView is every record of job as seen from a side: the owners' records, with the
// side's lost marks applied to allocations whose owner it cannot reach.
func (s *sim) allocsView(jobID string, view []Node) []Alloc {
	alive := map[string]bool{}
	for _, n := range view {
		alive[n.ID] = n.Alive
	}
	var out []Alloc
	for _, id := range slices.Sorted(maps.Keys(s.allocs)) {
		a := *s.allocs[id]
		if _, heard := alive[a.NodeID]; !heard {
			continue // the view has not heard of its owner, so holds none of its records
		}
		if a.JobID != jobID || (!alive[a.NodeID] && s.sides != nil && !s.known[a.ID]) {
			continue // created across the partition: this side has not heard of it
		}
		if s.lost[a.ID] && !alive[a.NodeID] && !a.Terminal() {
			a.ClientStatus = ClientLost
		}
		out = append(out, a)
	}
	return out
}

func (s *sim) allocsOn(nodeID string) []Alloc {
	var out []Alloc
	for _, id := range slices.Sorted(maps.Keys(s.allocs)) {
		if a := s.allocs[id]; a.NodeID == nodeID {
			out = append(out, *a)
		}
	}
	return out
}

// coordinators returns the peers that coordinate jobID in their own view: one per
// side of a partition, and more where a peer has not heard of the job's coordinator.
func (s *sim) coordinators(jobID string) []string {
	var out []string
	for _, id := range s.order {
		if c, ok := Coordinator(jobID, s.view(id)); ok && c == id && s.nodes[id].Alive {
			out = append(out, id)
		}
	}
	return out
}

// reconcile runs one round for every job on every side and returns what happened.
// With verbose, it also reports what blocks a job (Result.Blocked and Notes).
func (s *sim) reconcile(verbose bool) (lines []string, acted bool) {
	s.round++
	for _, jobID := range slices.Sorted(maps.Keys(s.jobs)) {
		coords := s.coordinators(jobID)
		if len(coords) == 0 && verbose {
			lines = append(lines, jobID+": no live peer to coordinate it")
		}
		// A job's coordinators act at the same time: each on what it saw before any acted.
		views := make([][]Node, len(coords))
		allocs := make([][]Alloc, len(coords))
		for i, coord := range coords {
			views[i] = s.view(coord)
			allocs[i] = s.allocsView(jobID, views[i])
		}
		for i, coord := range coords {
			l, a := s.coordinate(jobID, coord, views[i], allocs[i], verbose)
			lines = append(lines, l...)
			acted = acted || a
		}
	}
	return lines, acted
}

func (s *sim) coordinate(jobID, coord string, view []Node, allocs []Alloc, verbose bool) ([]string, bool) {
	sj := s.jobs[jobID]
	tracker := s.epochs[coord]
	for _, a := range allocs {
		tracker.Observe(jobID, a.Epoch)
	}
	res := Reconcile(ReconcileInput{Job: sj.job, Stopped: sj.stopped, Allocs: allocs, Nodes: view, Now: s.now})
	var notes []string
	if verbose {
		for _, b := range res.Blocked {
			notes = append(notes, fmt.Sprintf("%s@%s: blocked %s: %s", jobID, coord, b.Slot, b.Reason))
		}
		for _, n := range res.Notes {
			notes = append(notes, fmt.Sprintf("%s@%s: %s", jobID, coord, n))
		}
	}
	if res.Empty() {
		return notes, false
	}
	epoch := tracker.Next(jobID)
	prefix := fmt.Sprintf("%s@%s e%d: ", jobID, coord, epoch)
	var lines []string
	reach := s.sideOf(coord)
	for _, l := range res.MarkLost {
		s.lost[l.AllocID] = true
		lines = append(lines, prefix+fmt.Sprintf("lost %s on %s: %s", l.AllocID, l.NodeID, l.Reason))
	}
	// As node's: an allocation a rolling update replaces is stopped once its
	// replacement is awarded (Replaced), not before.
	replaced := Replaced(res)
	stop := func(st Stop) {
		if !slices.Contains(reach, st.NodeID) || !s.nodes[st.NodeID].Alive {
			return // cannot reach the owner: a later round re-derives the stop
		}
		a := s.allocs[st.AllocID]
		a.DesiredStatus, a.DesiredDescription, a.ClientStatus, a.ModifyTime = DesiredStop, st.Reason, ClientComplete, s.now
		lines = append(lines, prefix+fmt.Sprintf("stop %s on %s: %s", st.AllocID, st.NodeID, st.Reason))
	}
	for _, st := range res.Stop {
		if _, held := replaced[st.AllocID]; !held {
			stop(st)
		}
	}
	placed, awarded := s.auction(sj.job, coord, epoch, view, allocs, res.Place)
	for _, prev := range awarded {
		if st, held := replaced[prev]; held {
			stop(st)
		}
	}
	for _, l := range placed {
		lines = append(lines, prefix+l)
	}
	return append(lines, notes...), true
}

// auction carries out placements: system ones on their peer, the rest by auction per
// group. Placements still waiting for NotBefore are left for a later round. It
// returns what it did and the previous allocations of the placements it made.
func (s *sim) auction(job *jobspec.Job, coord string, epoch Epoch, view []Node, allocs []Alloc, places []Placement) (lines, awarded []string) {
	byGroup := map[string][]Placement{}
	for _, p := range places {
		switch {
		case p.NotBefore.After(s.now):
			lines = append(lines, fmt.Sprintf("wait %s[%d] until +%s: %s", p.Group, p.Index, p.NotBefore.Sub(t0), p.Reason))
		case p.NodeID != "":
			s.create(job, p, p.NodeID, epoch)
			lines = append(lines, fmt.Sprintf("place %s[%d] on %s: %s", p.Group, p.Index, p.NodeID, p.Reason))
		default:
			byGroup[p.Group] = append(byGroup[p.Group], p)
		}
	}
	for _, group := range slices.Sorted(maps.Keys(byGroup)) {
		ps := byGroup[group]
		slots := make([]int, len(ps))
		byIndex := map[int]Placement{}
		for i, p := range ps {
			slots[i] = p.Index
			byIndex[p.Index] = p
		}
		seed := Seed(job.ID, s.round)
		cands, rejected := Candidates(job, group, len(slots), FreeingReplaced(view, allocs, Replacing(ps)), 2, seed)
		req := NewBidRequest(job, group, slots, allocs, view, s.now)
		req.RequestID, req.Epoch, req.Coordinator, req.Seed = fmt.Sprintf("r%d", s.round), epoch, coord, seed
		req.PassedOver = PassedOver(job.ID, coord, view)
		req.Replacing = Replacing(ps)
		var bids []Bid
		for _, c := range cands {
			// As node's bid: first the claim to coordinate, then the epoch.
			if above, ok := OutrankedBy(job.ID, coord, req.PassedOver, s.view(c.ID)); ok {
				bids = append(bids, Bid{RequestID: req.RequestID, NodeID: c.ID, DeferTo: above})
				continue
			}
			if !s.epochs[c.ID].Accept(job.ID, epoch) {
				continue // fenced: a higher epoch was seen
			}
			bids = append(bids, MakeBid(req, LocalState{Node: *s.nodes[c.ID], Allocs: s.allocsOn(c.ID)}, s.now))
		}
		awards, unplaced := Award(req, append(bids, Refusals(req, rejected)...), seed)
		for _, a := range awards {
			s.create(job, byIndex[a.Slot], a.NodeID, epoch)
			lines = append(lines, fmt.Sprintf("place %s[%d] on %s: %s", group, a.Slot, a.NodeID, byIndex[a.Slot].Reason))
			awarded = append(awarded, byIndex[a.Slot].PreviousAlloc)
		}
		for _, u := range unplaced {
			lines = append(lines, fmt.Sprintf("unplaced %s[%d]: %s", group, u.Slot, u.Reason))
		}
	}
	return lines, awarded
}

func (s *sim) create(job *jobspec.Job, p Placement, nodeID string, epoch Epoch) {
	s.counter++
	a := NewAlloc(job, p, fmt.Sprintf("a%d", s.counter), nodeID, epoch, s.now)
	s.allocs[a.ID] = &a
}

// tick advances the clock; pending allocations on live peers start running. It
// reports whether any did.
func (s *sim) tick(d time.Duration) (changed bool) {
	s.now = s.now.Add(d)
	for _, id := range slices.Sorted(maps.Keys(s.allocs)) {
		a := s.allocs[id]
		if a.ClientStatus == ClientPending && a.DesiredStatus == DesiredRun && s.nodes[a.NodeID].Alive {
			a.ClientStatus, a.StartedAt, a.ModifyTime = ClientRunning, s.now, s.now
			changed = true
		}
	}
	return changed
}

// stabilize reconciles and ticks until a round changes nothing (no action, and no
// allocation started), at most rounds times.
func (s *sim) stabilize(rounds int, step time.Duration) (lines []string, converged bool) {
	for range rounds {
		l, acted := s.reconcile(false)
		lines = append(lines, l...)
		if started := s.tick(step); !acted && !started {
			return lines, true
		}
	}
	return lines, false
}

// heal ends a partition, and every peer hears of every other. Lost marks are
// dropped: once an owner is reachable its own record speaks for its allocation, and
// doubled slots are resolved by Outranks.
func (s *sim) heal() {
	s.sides = nil
	clear(s.lost)
	clear(s.unaware)
}

// partition splits the cluster into sides; each keeps the records it knew.
func (s *sim) partition(sides [][]string) {
	s.sides = sides
	s.known = make(map[string]bool, len(s.allocs))
	for id := range s.allocs {
		s.known[id] = true
	}
}

// slotReport checks that every slot of every running job holds exactly one running
// allocation (batch slots: or one complete) and returns the problems.
func (s *sim) slotReport() []string {
	var bad []string
	for _, jobID := range slices.Sorted(maps.Keys(s.jobs)) {
		sj := s.jobs[jobID]
		for _, g := range sj.job.Groups {
			want := g.Count
			if sj.stopped {
				want = 0
			}
			perSlot := map[int]int{}
			for _, a := range s.allocs {
				if a.JobID == jobID && a.Group == g.Name && !a.Terminal() && s.nodes[a.NodeID].Alive {
					if a.ClientStatus == ClientRunning {
						perSlot[a.Index]++
					} else {
						perSlot[a.Index] += 100 // pending: not settled
					}
				}
			}
			if sj.job.Type == jobspec.TypeSystem {
				bad = append(bad, s.systemReport(sj, g)...)
				continue
			}
			for i := range max(want, 0) {
				if perSlot[i] != 1 {
					bad = append(bad, fmt.Sprintf("%s: %d running", jobspec.SlotName(jobID, g.Name, i), perSlot[i]))
				}
				delete(perSlot, i)
			}
			for i, c := range perSlot {
				bad = append(bad, fmt.Sprintf("%s: %d live beyond count", jobspec.SlotName(jobID, g.Name, i), c))
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// systemReport checks that every alive, schedulable peer runs exactly one allocation of
// a system job's group (none once the job is stopped), and no other peer runs one.
func (s *sim) systemReport(sj *simJob, g *jobspec.Group) []string {
	var bad []string
	for _, id := range s.order {
		n := s.nodes[id]
		if !n.Alive {
			continue
		}
		running, live := 0, 0
		for _, a := range s.allocs {
			if a.JobID == sj.job.ID && a.Group == g.Name && a.NodeID == id && !a.Terminal() {
				live++
				if a.ClientStatus == ClientRunning {
					running++
				}
			}
		}
		want := 1
		if sj.stopped || !n.Schedulable() {
			want = 0
		}
		if running != want || live != want {
			bad = append(bad, fmt.Sprintf("%s on %s: %d running, %d live, want %d", sj.job.ID, id, running, live, want))
		}
	}
	return bad
}

// overCommitted lists peers whose live allocations exceed their capacity.
func (s *sim) overCommitted() []string {
	var bad []string
	for _, id := range s.order {
		n := s.nodes[id]
		if u := Used(s.allocsOn(id)); !u.fits(Usage{n.CPUTotal, n.MemoryTotalMB}) {
			bad = append(bad, fmt.Sprintf("%s uses %v of %d/%d", id, u, n.CPUTotal, n.MemoryTotalMB))
		}
	}
	return bad
}

// table renders the allocation records, one line each, for the golden scripts.
func (s *sim) table() string {
	ids := slices.SortedFunc(maps.Keys(s.allocs), func(a, b string) int {
		x, y := s.allocs[a], s.allocs[b]
		return cmp.Or(cmp.Compare(x.JobID, y.JobID), cmp.Compare(x.Group, y.Group), cmp.Compare(x.Index, y.Index), cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	})
	var b strings.Builder
	for _, id := range ids {
		a := s.allocs[id]
		status := a.ClientStatus
		if a.DesiredStatus == DesiredStop {
			status = "stopped (" + a.DesiredDescription + ")"
		}
		fmt.Fprintf(&b, "%s %s on %s v%d e%d: %s\n", a.Slot(), a.ID, a.NodeID, a.JobVersion, a.Epoch, status)
	}
	return b.String()
}

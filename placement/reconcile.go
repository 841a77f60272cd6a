package placement

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// Reasons carried by reconciliation's actions. Node may branch on them; users read them.
const (
	ReasonMissing      = "slot is empty"
	ReasonLost         = "replaces a lost allocation"
	ReasonReschedule   = "reschedules a failed allocation"
	ReasonUpdate       = "replaced by a new job version"
	ReasonNodeDrain    = "peer is draining"
	ReasonNodeDown     = "peer is down"
	ReasonNodeUnfit    = "peer no longer fits the system job"
	ReasonCountReduced = "count reduced"
	ReasonJobStopped   = "job stopped"
	ReasonJobPurged    = "job purged"
	ReasonDuplicate    = "duplicate slot: another allocation outranks it"
	ReasonGroupRemoved = "group removed from the job"
	ReasonCanary       = "canary of a new job version"
	ReasonPromoted     = "replaced by a promoted canary"
)

// ReconcileInput is everything one reconciliation of a job looks at.
type ReconcileInput struct {
	Job     *jobspec.Job
	Stopped bool // the job was stopped: stop everything, place nothing
	Purged  bool // the job was purged: as Stopped (node then forgets its records)
	// Promoted: a user promoted the canaries of the job's current version (`peer job
	// promote`); with update.auto_promote, healthy canaries promote themselves.
	Promoted bool
	// Since is when the job's current version was submitted, or its canaries
	// promoted, whichever came later: a rollout's progress_deadline counts from it
	// (and from each new allocation turning healthy). Zero: not enforced.
	Since  time.Time
	Allocs []Alloc // every allocation of this job across the cluster, terminal ones too
	Nodes  []Node  // the member list
	Now    time.Time
}

// Result is what a reconciliation decided. Every action carries its reason. Applying it
// and reconciling again converges: once the world matches the job, Result is empty.
type Result struct {
	Place    []Placement
	Stop     []Stop
	MarkLost []Lost
	// Blocked lists slots that need an allocation but will not get one, and why
	// (reschedule attempts used up, a system job that failed on its peer).
	Blocked []Blocked
	// Revert is set when a rollout of the job's current version failed in a group
	// whose update block asks for auto_revert: why it failed. Node then resubmits the
	// last stable version (see Stable).
	Revert string
	// Deploying says, per group, where a canary rollout stands while it waits for its
	// canaries to become healthy or to be promoted. It is progress, not a failure.
	Deploying []string
	// Notes say why a group places nothing at all (count 0, no groups), so that a job
	// that does nothing never does so silently.
	Notes []string
	// NextEval is when to reconcile again for a pending delay (a reschedule's NotBefore,
	// or a new allocation becoming healthy during a rolling update); zero if none.
	NextEval time.Time
}

// Replaced returns the stops of a rolling update whose replacements are auctioned:
// each old allocation such a placement replaces (Placement.PreviousAlloc,
// ReasonUpdate), by its id. Its coordinator sends such a stop once the replacement is
// awarded, and drops it if none is: the old allocation then runs on (as Nomad drops a
// destructive update's stop when its placement fails), and the next reconciliation
// tries again. A system job's replacement goes to the old allocation's own peer, which
// the stop frees first, as before.
func Replaced(r Result) map[string]Stop {
	prev := Replacing(r.Place)
	out := map[string]Stop{}
	for _, s := range r.Stop {
		if s.Reason == ReasonUpdate && slices.Contains(prev, s.AllocID) {
			out[s.AllocID] = s
		}
	}
	return out
}

// FreeingReplaced returns nodes with the capacity of the allocations being replaced
// (ids, found in allocs) counted free on their peers, as their bidders count it
// (BidRequest.Replacing): the coordinator chooses whom to ask from it. nodes is not
// changed.
func FreeingReplaced(nodes []Node, allocs []Alloc, ids []string) []Node {
	if len(ids) == 0 {
		return nodes
	}
	freed := map[string]Usage{}
	for i := range allocs {
		if a := &allocs[i]; slices.Contains(ids, a.ID) && a.HoldsResources() {
			freed[a.NodeID] = freed[a.NodeID].add(usageOf(a.Resources))
		}
	}
	out := slices.Clone(nodes)
	for i := range out {
		if u, ok := freed[out[i].ID]; ok {
			out[i].CPUFree += u.CPU
			out[i].MemoryFreeMB += u.MemoryMB
		}
	}
	return out
}

// Replacing lists the allocations that auctioned placements replace in a rolling
// update (BidRequest.Replacing, and the stops Replaced holds back).
func Replacing(places []Placement) []string {
	var out []string
	for _, p := range places {
		if p.Reason == ReasonUpdate && p.PreviousAlloc != "" && p.NodeID == "" {
			out = append(out, p.PreviousAlloc)
		}
	}
	return out
}

// Empty reports whether r asks for no action.
func (r *Result) Empty() bool { return len(r.Place) == 0 && len(r.Stop) == 0 && len(r.MarkLost) == 0 }

// Placement asks for a new allocation in a slot.
type Placement struct {
	Group      string
	Index      int
	JobVersion uint64
	SpecHash   string // GroupHash of the group version to run; copy it into Alloc.SpecHash
	// NodeID is set for system jobs: the peer that places its own allocation. Empty means
	// the coordinator runs an auction.
	NodeID        string
	PreviousAlloc string      // the allocation this replaces, if any
	NotBefore     time.Time   // do not place before this (a reschedule delay); zero: now
	Reschedules   []time.Time // reschedule history the new allocation carries
	Canary        bool        // a canary beside the slot's old allocation (copy into Alloc.Canary)
	Reason        string
}

// Stop asks an allocation's owner to stop it.
type Stop struct {
	AllocID string
	NodeID  string
	Slot    string
	Reason  string
}

// Lost marks an allocation on a dead or vanished peer as lost.
type Lost struct {
	AllocID string
	NodeID  string
	Slot    string
	Reason  string
}

// Blocked is a slot that needs an allocation but will not get one.
type Blocked struct {
	Slot   string
	Reason string
}

// GroupHash identifies what an allocation of g runs: the group without the fields that
// can change under running allocations (count, update, reschedule, spread, affinity).
// A new job version replaces an allocation only when its group's hash changed.
func GroupHash(g *jobspec.Group) string {
	c := *g
	c.Count, c.Update, c.Reschedule, c.Spreads, c.Affinities = 0, nil, nil, nil, nil
	b, err := json.Marshal(&c)
	if err != nil {
		return "" // unreachable for jobspec types; an empty hash falls back to versions
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Outranks is the doubled-slot rule: when two live allocations fill one slot (after a
// partition heals, or two coordinators raced), the one with the higher (Epoch,
// JobVersion, CreateTime, ID) survives, compared in that order. Every peer applies it
// to the same records and reaches the same answer.
func Outranks(a, b *Alloc) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	if a.JobVersion != b.JobVersion {
		return a.JobVersion > b.JobVersion
	}
	if !a.CreateTime.Equal(b.CreateTime) {
		return a.CreateTime.After(b.CreateTime)
	}
	return a.ID > b.ID
}

// Reconcile compares a job with its observed allocations and decides what to do. It is
// pure: same input, same Result, whatever the order of Allocs and Nodes.
func Reconcile(in ReconcileInput) Result {
	r := &reconciler{in: in, nodes: make(map[string]*Node, len(in.Nodes)), hashes: make(map[string]string)}
	for i := range in.Nodes {
		r.nodes[in.Nodes[i].ID] = &in.Nodes[i]
	}
	for _, a := range in.Allocs {
		if in.Job == nil || a.JobID == in.Job.ID { // another job's records are not ours to judge
			r.allocs = append(r.allocs, a)
		}
	}
	slices.SortFunc(r.allocs, func(a, b Alloc) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Index, b.Index),
			a.CreateTime.Compare(b.CreateTime), cmp.Compare(a.ID, b.ID))
	})
	r.run()
	return r.out
}

type reconciler struct {
	in     ReconcileInput
	nodes  map[string]*Node
	allocs []Alloc // sorted by group, index, create time, id
	hashes map[string]string
	out    Result
}

// hash is GroupHash(g), computed once per reconciliation.
func (r *reconciler) hash(g *jobspec.Group) string {
	h, ok := r.hashes[g.Name]
	if !ok {
		h = GroupHash(g)
		r.hashes[g.Name] = h
	}
	return h
}

func (r *reconciler) run() {
	job := r.in.Job
	if job == nil {
		r.out.Notes = append(r.out.Notes, "no job: nothing to reconcile")
		return
	}
	// Allocations on peers that are dead or gone are lost, whatever else happens.
	for i := range r.allocs {
		if a := &r.allocs[i]; !a.Terminal() && !r.alive(a.NodeID) {
			r.out.MarkLost = append(r.out.MarkLost, Lost{a.ID, a.NodeID, a.Slot(), ReasonNodeDown})
			a.ClientStatus = ClientLost // our copy: the rest of this pass sees it lost
		}
	}
	if r.in.Stopped || r.in.Purged {
		reason := ReasonJobStopped
		if r.in.Purged {
			reason = ReasonJobPurged
		}
		for i := range r.allocs {
			if a := &r.allocs[i]; !a.Terminal() {
				r.stop(a, reason)
			}
		}
		return
	}
	if len(job.Groups) == 0 {
		r.out.Notes = append(r.out.Notes, fmt.Sprintf("job %q has no groups: nothing to place", job.ID))
	}
	for i := range r.allocs {
		if a := &r.allocs[i]; !a.Terminal() && job.LookupGroup(a.Group) == nil {
			r.stop(a, ReasonGroupRemoved)
		}
	}
	for _, g := range job.Groups {
		mine := r.groupAllocs(g.Name)
		if job.Type == jobspec.TypeSystem {
			r.system(g, mine)
		} else {
			r.slots(g, mine)
		}
	}
}

func (r *reconciler) alive(nodeID string) bool {
	n, ok := r.nodes[nodeID]
	return ok && n.Alive
}

// draining reports whether the peer's allocations must move away. Marking a peer
// ineligible only keeps new allocations off it, as in Nomad.
func (r *reconciler) draining(nodeID string) bool {
	n := r.nodes[nodeID]
	return n != nil && n.Draining
}

func (r *reconciler) groupAllocs(group string) []*Alloc {
	var out []*Alloc
	for i := range r.allocs {
		if r.allocs[i].Group == group {
			out = append(out, &r.allocs[i])
		}
	}
	return out
}

func (r *reconciler) stop(a *Alloc, reason string) {
	r.out.Stop = append(r.out.Stop, Stop{a.ID, a.NodeID, a.Slot(), reason})
}

func (r *reconciler) place(g *jobspec.Group, index int, nodeID string, prev *Alloc, reason string) *Placement {
	p := Placement{Group: g.Name, Index: index, JobVersion: r.in.Job.Version, SpecHash: r.hash(g),
		NodeID: nodeID, Reason: reason}
	if prev != nil {
		p.PreviousAlloc = prev.ID
	}
	r.out.Place = append(r.out.Place, p)
	return &r.out.Place[len(r.out.Place)-1]
}

func (r *reconciler) wakeAt(t time.Time) {
	if t.After(r.in.Now) && (r.out.NextEval.IsZero() || t.Before(r.out.NextEval)) {
		r.out.NextEval = t
	}
}

// outdated reports whether a runs an older version of g than the job's.
func (r *reconciler) outdated(a *Alloc, hash string) bool {
	if a.SpecHash != "" {
		return a.SpecHash != hash
	}
	return a.JobVersion != r.in.Job.Version
}

// survivor resolves a slot's live allocations with Outranks. The losers are stopped only
// once the survivor runs, so the slot is never left empty while it is resolved.
func (r *reconciler) survivor(live []*Alloc, reason string) *Alloc {
	best := live[0]
	for _, a := range live[1:] {
		if Outranks(a, best) {
			best = a
		}
	}
	if best.ClientStatus == ClientRunning {
		for _, a := range live {
			if a != best {
				r.stop(a, reason)
			}
		}
	}
	return best
}

// slots reconciles a service or batch group: Count slots, each wanting exactly one
// live allocation (batch: until one completes).
func (r *reconciler) slots(g *jobspec.Group, allocs []*Alloc) {
	if g.Count <= 0 {
		r.out.Notes = append(r.out.Notes, fmt.Sprintf("group %q has count %d: nothing to place", g.Name, g.Count))
	}
	byIndex := make(map[int][]*Alloc)
	for _, a := range allocs {
		byIndex[a.Index] = append(byIndex[a.Index], a)
	}
	// Scale down: slots at or above Count stop, highest index first.
	var extra []*Alloc
	for _, a := range allocs {
		if a.Index >= g.Count && !a.Terminal() {
			extra = append(extra, a)
		}
	}
	slices.SortStableFunc(extra, func(a, b *Alloc) int { return cmp.Compare(b.Index, a.Index) })
	for _, a := range extra {
		r.stop(a, ReasonCountReduced)
	}

	hash := r.hash(g)
	u := r.update(g)
	canarying := r.canarying(g, allocs, hash, u)
	var outdated []*Alloc
	for index := range max(g.Count, 0) {
		history := byIndex[index]
		var live, moving []*Alloc
		for _, a := range history {
			switch {
			case a.Terminal():
			case r.draining(a.NodeID):
				moving = append(moving, a)
			default:
				live = append(live, a)
			}
		}
		switch {
		case len(live) > 0:
			reason := ReasonDuplicate
			if rest := r.besideCanary(live, hash); canarying {
				live = rest // the canary and the old allocation share the slot until promotion
			} else if len(rest) < len(live) {
				reason = ReasonPromoted
			}
			keep := r.survivor(live, reason)
			if keep.ClientStatus == ClientRunning {
				for _, a := range moving { // migrated: the replacement runs
					r.stop(a, ReasonNodeDrain)
				}
			}
			if r.outdated(keep, hash) {
				outdated = append(outdated, keep)
			}
		case len(moving) > 0:
			// Only on draining peers: place the replacement first, stop the old when it runs.
			r.place(g, index, "", r.survivor(moving, ReasonDuplicate), ReasonNodeDrain)
		default:
			r.refill(g, index, history)
		}
	}
	if canarying {
		r.canaries(g, allocs, outdated, hash, u)
		return
	}
	r.rollingUpdate(g, allocs, outdated, hash, func(a *Alloc) { r.place(g, a.Index, "", a, ReasonUpdate) })
}

// update is the group's update policy (the job's when the group has none).
func (r *reconciler) update(g *jobspec.Group) *jobspec.Update {
	if g.Update != nil {
		return g.Update
	}
	return r.in.Job.Update
}

// canarying reports whether a service group's rollout is in its canary phase: the
// group asks for canaries, some live allocation in a slot still runs an older
// version, and the canaries were not promoted (by a user, or by auto_promote once
// every canary is healthy).
func (r *reconciler) canarying(g *jobspec.Group, allocs []*Alloc, hash string, u *jobspec.Update) bool {
	if u == nil || u.Canary <= 0 || r.in.Job.Type != jobspec.TypeService || r.in.Promoted {
		return false
	}
	outdatedSlots := map[int]bool{}
	for _, a := range allocs {
		if !a.Terminal() && a.Index < g.Count && r.outdated(a, hash) {
			outdatedSlots[a.Index] = true
		}
	}
	if len(outdatedSlots) == 0 {
		return false
	}
	if !u.AutoPromote {
		return true
	}
	_, healthy := r.liveCanaries(allocs, hash, u, byChecks(g, u))
	return healthy < min(u.Canary, len(outdatedSlots))
}

// liveCanaries returns a group's live canaries of the current version, by the slot
// they stand in, and how many of them are healthy.
func (r *reconciler) liveCanaries(allocs []*Alloc, hash string, u *jobspec.Update, checks bool) (bySlot map[int]*Alloc, healthy int) {
	bySlot = map[int]*Alloc{}
	for _, a := range allocs {
		if a.Canary && !a.Terminal() && !r.outdated(a, hash) {
			bySlot[a.Index] = a
			if a.healthy(r.in.Now, u.MinHealthyTime, checks) {
				healthy++
			}
		}
	}
	return bySlot, healthy
}

// besideCanary returns a slot's live allocations without its canaries of the current
// version, when an allocation of an older version lives beside them.
func (r *reconciler) besideCanary(live []*Alloc, hash string) []*Alloc {
	var rest []*Alloc
	for _, a := range live {
		if !a.Canary || r.outdated(a, hash) {
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return live
	}
	return rest
}

// canaries runs a rollout's canary phase: up to update.canary allocations of the new
// version, each beside the old allocation of a slot, and nothing old replaced. A
// canary that fails or is not healthy within healthy_deadline fails the rollout (the
// old version keeps serving; Blocked says why). Deploying says how far it got and
// what promotes it.
func (r *reconciler) canaries(g *jobspec.Group, allocs, outdated []*Alloc, hash string, u *jobspec.Update) {
	checks := byChecks(g, u)
	for _, a := range allocs {
		if r.outdated(a, hash) {
			continue
		}
		if why := r.unhealthy(a, u, checks); why != "" {
			r.out.Blocked = append(r.out.Blocked, Blocked{a.Slot(), "canary rollout failed: " + why})
			r.failed(u, why)
			return
		}
	}
	bySlot, healthy := r.liveCanaries(allocs, hash, u, checks)
	for _, a := range bySlot {
		if !a.healthy(r.in.Now, u.MinHealthyTime, checks) {
			r.wakeWhenHealthyOrLate(a, u, checks)
		}
	}
	placed, want := len(bySlot), min(u.Canary, len(outdated))
	for _, a := range outdated {
		if placed >= want {
			break
		}
		if bySlot[a.Index] != nil {
			continue
		}
		p := r.place(g, a.Index, "", nil, ReasonCanary)
		p.Canary = true
		placed++
	}
	next := "promote with: peer job promote " + r.in.Job.ID
	if u.AutoPromote {
		next = "promoted automatically once all are healthy"
	}
	r.out.Deploying = append(r.out.Deploying, fmt.Sprintf("group %q: %d of %d canaries of version %d healthy; %s",
		g.Name, healthy, want, r.in.Job.Version, next))
}

// refill decides what an empty slot gets, from its history.
func (r *reconciler) refill(g *jobspec.Group, index int, history []*Alloc) {
	var last *Alloc
	for _, a := range history {
		if r.in.Job.Type == jobspec.TypeBatch && a.ClientStatus == ClientComplete &&
			a.DesiredStatus == DesiredRun && !r.outdated(a, r.hash(g)) {
			return // a batch slot that succeeded (on its own, at this spec) is done
		}
		last = a // history is in creation order
	}
	switch {
	case last == nil:
		r.place(g, index, "", nil, ReasonMissing)
	case last.ClientStatus == ClientLost:
		r.place(g, index, "", last, ReasonLost)
	case last.ClientStatus == ClientFailed && last.DesiredStatus == DesiredRun:
		d := decideReschedule(reschedulePolicy(r.in.Job, g), last, r.in.Now)
		if d.refused != "" {
			r.out.Blocked = append(r.out.Blocked, Blocked{last.Slot(), d.refused})
			return
		}
		p := r.place(g, index, "", last, ReasonReschedule)
		p.Reschedules = d.history
		if d.notBefore.After(r.in.Now) {
			p.NotBefore = d.notBefore
			r.wakeAt(d.notBefore)
		}
	default:
		r.place(g, index, "", last, ReasonMissing)
	}
}

// rollingUpdate replaces outdated allocations, at most MaxParallel in flight: a
// replacement is in flight until it has run for MinHealthyTime, and a slot whose old
// allocation was stopped for a replacement not placed yet is in flight too. Each
// replacement stops the old allocation and places the new one in the same step. The
// rollout pauses (and says so in Blocked) once an allocation of the new version has
// failed or has not become healthy within HealthyDeadline, and replaces nothing while
// no live peer could take the new version even empty: the old version keeps serving
// until a newer job version is submitted (or the peers change).
func (r *reconciler) rollingUpdate(g *jobspec.Group, allocs, outdated []*Alloc, hash string, replace func(*Alloc)) {
	if len(outdated) == 0 {
		return
	}
	u := r.update(g)
	// A stalled rollout fails (and auto_revert undoes it) unless a more precise
	// reason below paused it first.
	stalled := func() bool {
		why := r.stalled(g, allocs, hash, u)
		if why != "" {
			r.out.Blocked = append(r.out.Blocked, Blocked{outdated[0].Slot(), "rolling update failed: " + why})
			r.failed(u, why)
		}
		return why != ""
	}
	if why := r.noPeerCouldTake(g); why != "" {
		if !stalled() {
			r.out.Blocked = append(r.out.Blocked, Blocked{outdated[0].Slot(), "rolling update paused: no peer could run the new version: " + why})
		}
		return
	}
	budget := len(outdated)
	if u != nil && u.MaxParallel > 0 {
		checks := byChecks(g, u)
		inFlight := r.emptiedForUpdate(allocs)
		for _, a := range allocs {
			if r.outdated(a, hash) {
				continue
			}
			if why := r.unhealthy(a, u, checks); why != "" {
				r.out.Blocked = append(r.out.Blocked, Blocked{outdated[0].Slot(), "rolling update paused: " + why})
				r.failed(u, why)
				return
			}
			if a.Terminal() || a.healthy(r.in.Now, u.MinHealthyTime, checks) {
				continue
			}
			inFlight++
			r.wakeWhenHealthyOrLate(a, u, checks)
		}
		budget = max(0, u.MaxParallel-inFlight)
	}
	if stalled() {
		return
	}
	for _, a := range outdated[:min(budget, len(outdated))] {
		r.stop(a, ReasonUpdate)
		replace(a)
	}
}

// stalled says why a rollout has failed by its progress_deadline, as Nomad's
// deployments do: no allocation of the new version turned healthy (ran, or passed its
// checks, for min_healthy_time) within progress_deadline of the later of the
// version's submission or promotion (ReconcileInput.Since) and the last one that did.
// A version that cannot be placed fails this way too, and auto_revert then undoes it.
func (r *reconciler) stalled(g *jobspec.Group, allocs []*Alloc, hash string, u *jobspec.Update) string {
	if u == nil || u.ProgressDeadline <= 0 || r.in.Since.IsZero() {
		return ""
	}
	base, checks := r.in.Since, byChecks(g, u)
	for _, a := range allocs {
		if a.JobVersion != r.in.Job.Version || r.outdated(a, hash) {
			continue
		}
		if since := a.healthySince(checks); !since.IsZero() {
			if t := since.Add(u.MinHealthyTime); !t.After(r.in.Now) && t.After(base) {
				base = t
			}
		}
	}
	deadline := base.Add(u.ProgressDeadline)
	if r.in.Now.Before(deadline) {
		r.wakeAt(deadline)
		return ""
	}
	return fmt.Sprintf("no allocation of version %d turned healthy within progress_deadline %s", r.in.Job.Version, u.ProgressDeadline)
}

// noPeerCouldTake says why no live peer could run group g even if it ran nothing else
// ("3 peers are too small for 8192 MiB memory"), or "" when one could.
func (r *reconciler) noPeerCouldTake(g *jobspec.Group) string {
	stack := NewStack(r.in.Job, g)
	var rejs []Rejection
	for _, n := range r.nodes {
		rej, ok := stack.CheckEmpty(n)
		if ok {
			return ""
		}
		rejs = append(rejs, rej)
	}
	if len(rejs) == 0 {
		return "no live peer"
	}
	return Explain(rejs)
}

// emptiedForUpdate counts the slots a rolling update emptied and has not refilled:
// no live allocation, and the newest one stopped to be replaced by a new version. A
// system job's slot is its peer.
func (r *reconciler) emptiedForUpdate(allocs []*Alloc) int {
	slot := func(a *Alloc) string { return strconv.Itoa(a.Index) }
	if r.in.Job.Type == jobspec.TypeSystem {
		slot = func(a *Alloc) string { return a.NodeID }
	}
	newest := map[string]*Alloc{}
	live := map[string]bool{}
	for _, a := range allocs { // in creation order
		newest[slot(a)] = a
		live[slot(a)] = live[slot(a)] || !a.Terminal()
	}
	n := 0
	for s, a := range newest {
		if !live[s] && a.DesiredStatus == DesiredStop && a.DesiredDescription == ReasonUpdate {
			n++
		}
	}
	return n
}

// wakeWhenHealthyOrLate asks for a reconciliation when a new allocation that is not
// healthy yet will have been healthy for min_healthy_time (to go on), and when its
// healthy_deadline passes (to stop the rollout on time).
func (r *reconciler) wakeWhenHealthyOrLate(a *Alloc, u *jobspec.Update, checks bool) {
	if since := a.healthySince(checks); !since.IsZero() {
		r.wakeAt(since.Add(u.MinHealthyTime))
	}
	if u.HealthyDeadline > 0 {
		r.wakeAt(a.CreateTime.Add(u.HealthyDeadline))
	}
}

// byChecks reports whether a group's allocations are healthy by their service checks
// passing (health_check "checks", the default, on a group that has checks) rather
// than by running.
func byChecks(g *jobspec.Group, u *jobspec.Update) bool {
	return hasChecks(g) && (u == nil || u.HealthCheck != "task_states")
}

// failed records a failed rollout for auto_revert.
func (r *reconciler) failed(u *jobspec.Update, why string) {
	if u.AutoRevert && r.out.Revert == "" {
		r.out.Revert = why
	}
}

// Stable reports whether a service or system job's version has fully rolled out:
// every allocation that should run is of the job's current version (by group hash)
// and healthy under its group's update rules (checks passing, or running, for
// min_healthy_time), and every service slot is filled. A stable version is what
// auto_revert goes back to when a later rollout fails. Batch jobs are never stable.
func Stable(job *jobspec.Job, allocs []Alloc, now time.Time) bool {
	if job == nil || job.Type == jobspec.TypeBatch {
		return false
	}
	r := &reconciler{in: ReconcileInput{Job: job, Now: now}, hashes: make(map[string]string)}
	for _, g := range job.Groups {
		u := r.update(g)
		var minHealthy time.Duration
		if u != nil {
			minHealthy = u.MinHealthyTime
		}
		checks, hash, healthy := byChecks(g, u), r.hash(g), 0
		for i := range allocs {
			a := &allocs[i]
			if a.JobID != job.ID || a.Group != g.Name || a.Terminal() {
				continue
			}
			if r.outdated(a, hash) || !a.healthy(now, minHealthy, checks) {
				return false
			}
			healthy++
		}
		if job.Type == jobspec.TypeService && healthy < g.Count {
			return false
		}
	}
	return true
}

// hasChecks reports whether a group's services have health checks.
func hasChecks(g *jobspec.Group) bool {
	for _, s := range g.Services {
		if len(s.Checks) > 0 {
			return true
		}
	}
	return false
}

// unhealthy says why an allocation of the new version stops a rollout, or "". Only
// allocations placed under the job's current version count: when a version brings
// back an older spec (auto_revert, or a user resubmitting it), that spec's failures
// from before must not stop its rollout.
func (r *reconciler) unhealthy(a *Alloc, u *jobspec.Update, checks bool) string {
	if a.JobVersion != r.in.Job.Version {
		return ""
	}
	switch {
	case a.ClientStatus == ClientFailed:
		return a.Slot() + " (" + a.ID + ") of the new version failed"
	case u.HealthyDeadline > 0 && !a.Terminal() && !a.healthy(r.in.Now, u.MinHealthyTime, checks) &&
		!r.in.Now.Before(a.CreateTime.Add(u.HealthyDeadline)):
		return a.Slot() + " (" + a.ID + ") of the new version not healthy within healthy_deadline " + u.HealthyDeadline.String()
	}
	return ""
}

// system reconciles a system group: one allocation on every alive peer that fits it.
// Failed allocations are not rescheduled elsewhere; new peers get one.
func (r *reconciler) system(g *jobspec.Group, allocs []*Alloc) {
	stack := NewStack(r.in.Job, g)
	byNode := make(map[string][]*Alloc)
	for _, a := range allocs {
		byNode[a.NodeID] = append(byNode[a.NodeID], a)
	}
	ids := make([]string, 0, len(r.nodes))
	for id := range r.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	hash := r.hash(g)
	var outdated []*Alloc
	for _, id := range ids {
		n := r.nodes[id]
		if !n.Alive {
			continue // its allocations were marked lost above
		}
		var live []*Alloc
		for _, a := range byNode[id] {
			if !a.Terminal() {
				live = append(live, a)
			}
		}
		fit := *n
		if len(live) > 0 {
			fit.Eligible = true // ineligible keeps what it runs; it only takes nothing new
		}
		if rej, ok := stack.CheckFit(&fit); !ok {
			for _, a := range live {
				r.stop(a, ReasonNodeUnfit+": "+singular(rej.Reason))
			}
			continue
		}
		if len(live) > 0 {
			if keep := r.survivor(live, ReasonDuplicate); r.outdated(keep, hash) {
				outdated = append(outdated, keep)
			}
			continue
		}
		history := byNode[id]
		if len(history) > 0 {
			if last := history[len(history)-1]; last.ClientStatus == ClientFailed && !r.outdated(last, hash) {
				r.out.Blocked = append(r.out.Blocked, Blocked{last.Slot() + " on " + id,
					"failed on this peer; system jobs are not rescheduled until the job changes"})
				continue
			}
		}
		r.place(g, 0, id, nil, ReasonMissing)
	}
	r.rollingUpdate(g, allocs, outdated, hash, func(a *Alloc) { r.place(g, 0, a.NodeID, a, ReasonUpdate) })
}

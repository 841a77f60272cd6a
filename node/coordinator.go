package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

// This file is the coordinator side: for every job whose HRW coordinator is this
// peer, reconcile the desired state with the allocations the cluster reports, and
// carry out the plan: auctions for the slots to place, stop requests to the owners of
// allocations to stop. It runs on one goroutine (coordinate), woken by job, member
// and allocation-table changes and by a periodic tick.

// inflightTTL bounds how long an awarded allocation that gossip has not shown yet
// counts as placed.
const inflightTTL = 15 * time.Second

// syncWarmup bounds how long a starting peer's coordinator waits for the allocation
// tables of the peers it sees alive (see unsynced).
const syncWarmup = 20 * time.Second

// coordinate is the coordinator component's Run.
func (n *Node) coordinate(ctx context.Context) error {
	tick := time.NewTicker(n.cfg.ReconcileInterval)
	defer tick.Stop()
	acting := map[string]placement.Epoch{} // jobs this peer coordinates -> its epoch
	periodic := map[string]time.Time{}     // periodic parents this peer coordinates -> the tick it waits for
	unknown := map[string]time.Time{}      // jobs with allocations but no catalog entry -> first seen so
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.kick:
		case <-tick.C:
		}
		if time.Since(start) < syncWarmup {
			if who := n.unsynced(); who != "" {
				n.log.Debug("coordinator waits for allocation tables", "missing", who)
				continue // a table's arrival wakes us (allocs.OnChange)
			}
		}
		n.coordinatePass(ctx, acting, periodic, unknown)
	}
}

// unsynced names a peer this peer sees alive but whose allocation table it does not
// hold yet ("" if none). A peer that has just (re)started knows only its own
// allocations: reconciling then would see the slots other peers fill as empty and
// place them again (e.g. rerun a batch slot that completed elsewhere while this peer
// was down). It also waits while it has joined nobody although it has peers to join.
func (n *Node) unsynced() string {
	members := 0
	for _, m := range n.g.Members() {
		if m.Tags.NodeID == "" || m.Status != gossip.StatusAlive {
			continue
		}
		members++
		if m.Name != n.cfg.Name && n.allocs.Version(m.Name) == 0 {
			return m.Name
		}
	}
	if members <= 1 && len(n.cfg.Join)+len(n.cfg.RetryJoin) > 0 {
		return "any peer (not joined yet)"
	}
	return ""
}

// view is one consistent snapshot of the cluster for a pass.
type view struct {
	nodes    []placement.Node
	names    map[string]string // node id -> gossip name
	alive    map[string]bool   // node id -> alive
	allocs   map[string][]placement.Alloc
	now      time.Time
	selfNode placement.Node
}

func (n *Node) snapshot() view {
	v := view{names: map[string]string{}, alive: map[string]bool{}, allocs: map[string][]placement.Alloc{}, now: time.Now()}
	infos := n.nodeInfos()
	for _, m := range n.g.Members() {
		if m.Tags.NodeID == "" {
			continue
		}
		pn := n.memberNode(m, infos[m.Name])
		if pn.ID == n.id {
			v.selfNode = pn
		}
		v.nodes = append(v.nodes, pn)
		v.names[pn.ID] = m.Name
		v.alive[pn.ID] = pn.Alive
	}
	seen := map[string]bool{}
	n.rangeAllocs(func(a *allocRecord) { // placement's part only: no need to clone the rest
		seen[a.ID] = true
		v.allocs[a.JobID] = append(v.allocs[a.JobID], a.Alloc.Clone())
	})
	for _, as := range v.allocs {
		slices.SortFunc(as, func(x, y placement.Alloc) int { return compareAllocs(&x, &y) })
	}
	n.mu.Lock()
	for job, m := range n.inflight {
		for id, a := range m {
			if seen[id] || v.now.Sub(a.CreateTime) > inflightTTL {
				delete(m, id)
				continue
			}
			v.allocs[job] = append(v.allocs[job], a.Alloc)
		}
	}
	n.mu.Unlock()
	return v
}

// memberNode is the gossip member m (with a node ID) as placement sees it, info being
// what it publishes. This peer takes its own eligibility and drain state, which its
// tags may not carry yet, and counts as alive.
func (n *Node) memberNode(m gossip.Member, info nodeInfo) placement.Node {
	pn := placement.Node{
		ID: m.Tags.NodeID, Name: m.Name, Datacenter: m.Tags.Datacenter, Class: m.Tags.Class,
		Attributes: info.Attributes, Meta: info.Meta, HostVolumes: info.HostVolumes,
		CPUTotal: int(m.Tags.CPUTotal), MemoryTotalMB: int(m.Tags.MemTotalMB),
		CPUFree: int(m.Tags.CPUFree), MemoryFreeMB: int(m.Tags.MemFreeMB),
		Eligible: m.Tags.Eligible, Alive: m.Status == gossip.StatusAlive, Draining: m.Tags.Draining,
	}
	if pn.ID == n.id {
		n.mu.Lock()
		pn.Eligible, pn.Draining, pn.Alive = n.eligible, n.draining, true
		n.mu.Unlock()
	}
	return pn
}

func (n *Node) coordinatePass(ctx context.Context, acting map[string]placement.Epoch, periodic, unknown map[string]time.Time) {
	v := n.snapshot()
	var jobs []jobEntry
	held := map[string]bool{} // every job the catalog has an entry for, tombstones included
	n.jobs.RangeAll(func(e gossip.Entry) bool {
		held[e.Key] = true
		if e.Deleted {
			jobs = append(jobs, jobEntry{Job: &jobspec.Job{ID: e.Key}, Stop: true})
			return true
		}
		if je, err := n.jobOf(e.Key, e.Value); err == nil {
			jobs = append(jobs, je)
		}
		return true
	})
	n.forgetJobs(held)
	// Allocations of jobs nobody knows any more (purged, the tombstone collected):
	// stop them once the job has stayed unknown for a while.
	for _, job := range orphanJobs(v.allocs, func(job string) bool { return held[job] }, unknown, v.now) {
		jobs = append(jobs, jobEntry{Job: &jobspec.Job{ID: job}, Stop: true})
	}
	children := periodicChildren(jobs, v)
	var wg sync.WaitGroup
	for _, je := range jobs {
		id := je.Job.ID
		coord, ok := placement.Coordinator(id, v.nodes)
		if !ok || coord != n.id {
			delete(acting, id)
			delete(periodic, id)
			continue
		}
		if n.collectJob(je, v, children[id]) {
			continue
		}
		if je.Job.Periodic != nil {
			n.periodicPass(ctx, je, children[id], periodic, v.now, &wg)
			continue // a parent runs no allocations
		}
		// Allocations carry the epoch they were awarded under: never act below one.
		n.mu.Lock()
		for _, a := range v.allocs[id] {
			n.epochs.Observe(id, a.Epoch)
		}
		if e, ok := acting[id]; !ok || e < n.epochs.Highest(id) {
			acting[id] = n.epochs.Next(id)
			n.store.PutEpoch(id, uint64(acting[id]))
		}
		epoch := acting[id]
		n.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.reconcileJob(ctx, je, epoch, v)
		}()
	}
	wg.Wait()
	n.dropStatusRows(acting)
}

// collectJob purges a job this peer coordinates once it has been done for good
// (placement.JobDone) for JobGCThreshold, as Nomad's job GC does: every peer then
// forgets its allocations (gcLocal). A periodic job's children are left to
// periodicPass, which purges finished ones after the same threshold; a stopped
// periodic job goes once it has been stopped that long and its last child is gone.
func (n *Node) collectJob(je jobEntry, v view, children []placement.PeriodicChild) bool {
	if je.Job.ParentID != "" || (je.Job.Periodic != nil && len(children) > 0) {
		return false
	}
	since, done := placement.JobDone(je.Job, je.Stop, je.StopTime, v.allocs[je.Job.ID])
	if !done || v.now.Sub(since) < n.cfg.JobGCThreshold {
		return false
	}
	if _, ok := n.jobs.Get(je.Job.ID); !ok {
		return false // purged already (a tombstone)
	}
	n.replicate(n.jobs.Delete(je.Job.ID))
	n.log.Info("job purged: done for good for job_gc_threshold", "job", je.Job.ID, "since", since, "job_gc_threshold", n.cfg.JobGCThreshold)
	return true
}

// dropStatusRows removes this peer's "unplaced/<job>" and "deploying/<job>" rows of
// the jobs it does not coordinate any more (another peer took over, the job is gone,
// or the rows are from before a restart): their coordinator publishes its own, and
// `peer job status` would otherwise go on showing this peer's stale lines.
func (n *Node) dropStatusRows(acting map[string]placement.Epoch) {
	for key := range n.infos.Rows(n.cfg.Name) {
		job, ok := strings.CutPrefix(key, "unplaced/")
		if !ok {
			job, ok = strings.CutPrefix(key, "deploying/")
		}
		if _, acts := acting[job]; ok && !acts {
			n.infos.DeleteOwn(key)
		}
	}
}

// orphanGrace is how long a job must stay unknown, while allocations of it are seen,
// before its coordinator stops them: a peer that has just joined can hold the
// allocation tables before the job catalog (they sync apart), and must not take a
// job it has not heard of yet for one that is gone. A purged job leaves a tombstone
// for a day, which stops its allocations at once; this is for what outlives it.
const orphanGrace = syncWarmup

// orphanJobs returns the jobs of allocs that known says the catalog does not hold and
// that have been unknown for orphanGrace, by unknown, which it keeps: when each was
// first seen unknown, forgotten once it is known or has no allocations.
func orphanJobs(allocs map[string][]placement.Alloc, known func(string) bool, unknown map[string]time.Time, now time.Time) []string {
	var out []string
	for job := range unknown {
		if _, ok := allocs[job]; !ok {
			delete(unknown, job)
		}
	}
	for job := range allocs {
		if known(job) {
			delete(unknown, job)
			continue
		}
		first, seen := unknown[job]
		if !seen {
			unknown[job] = now
			continue
		}
		if now.Sub(first) >= orphanGrace {
			out = append(out, job)
		}
	}
	slices.Sort(out)
	return out
}

// latest is the later of two times.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reconcileJob carries out one reconcile of one job as its coordinator:
// placement.Reconcile decides, this carries the actions out.
func (n *Node) reconcileJob(ctx context.Context, je jobEntry, epoch placement.Epoch, v view) {
	log := n.log.With("job", je.Job.ID, "epoch", epoch)
	_, known := n.jobs.Get(je.Job.ID)
	res := placement.Reconcile(placement.ReconcileInput{
		Job: je.Job, Stopped: je.Stop, Purged: !known, Promoted: je.Promoted, Allocs: v.allocs[je.Job.ID], Nodes: v.nodes, Now: v.now,
		Since: latest(je.SubmitTime, je.PromoteTime),
	})
	if !res.NextEval.IsZero() {
		time.AfterFunc(time.Until(res.NextEval)+10*time.Millisecond, n.wake)
	}
	if res.Revert != "" && !je.Stop {
		n.autoRevert(je, res.Revert)
	}
	for _, l := range res.MarkLost {
		log.Debug("allocation lost", "alloc", l.AllocID, "slot", l.Slot, "reason", l.Reason)
	}
	// A rolling update's old allocation is stopped once its replacement is awarded,
	// and runs on if none is (placement.Replaced).
	replaced := placement.Replaced(res)
	stop := func(s placement.Stop) {
		owner := v.names[s.NodeID]
		if s.NodeID == n.id {
			n.stopLocal(s.AllocID, s.Reason)
			return
		}
		if !v.alive[s.NodeID] || owner == "" {
			return // the owner stops it when it comes back (it finds its slot taken)
		}
		log.Info("stopping allocation", "alloc", s.AllocID, "slot", s.Slot, "node", owner, "reason", s.Reason)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, n.cfg.BidTimeout)
			defer cancel()
			if err := n.call(cctx, owner, rpcStop, stopRequest{AllocID: s.AllocID, JobID: je.Job.ID, Epoch: epoch, Reason: s.Reason}, nil); err != nil {
				log.Warn("stop request failed", "alloc", s.AllocID, "node", owner, "err", err)
				n.noteStale(je.Job.ID, err)
			}
		}()
	}
	for _, s := range res.Stop {
		if _, held := replaced[s.AllocID]; !held {
			stop(s)
		}
	}
	byGroup := map[string][]placement.Placement{}
	var groups []string
	var direct []placement.Placement // system jobs: the peer places its own
	for _, p := range res.Place {
		if p.NotBefore.After(v.now) {
			continue // a reschedule delay: NextEval wakes us
		}
		if p.NodeID != "" {
			direct = append(direct, p)
			continue
		}
		if byGroup[p.Group] == nil {
			groups = append(groups, p.Group)
		}
		byGroup[p.Group] = append(byGroup[p.Group], p)
	}
	sort.Strings(groups)
	var unplaced []string
	for _, b := range res.Blocked {
		unplaced = append(unplaced, b.Slot+": "+b.Reason)
	}
	for _, g := range groups {
		why, awardedPrev := n.auction(ctx, je.Job, g, byGroup[g], epoch, v)
		unplaced = append(unplaced, why...)
		for _, prev := range awardedPrev {
			if s, held := replaced[prev]; held {
				stop(s)
			}
		}
	}
	for _, p := range direct {
		n.sendAwards(ctx, je.Job, p.Group, epoch, newID(), map[string][]awardedAlloc{
			p.NodeID: {{ID: newID(), Index: p.Index, PreviousAlloc: p.PreviousAlloc, Reschedules: p.Reschedules, SpecHash: p.SpecHash}},
		}, v)
	}
	n.publishLines("unplaced/"+je.Job.ID, unplaced) // why slots are not placed, for peer job run on any peer
	n.publishLines("deploying/"+je.Job.ID, res.Deploying)
}

// unplacedKey names a group of one job version in unplacedSaid: a new version is
// worth a new warning.
func unplacedKey(job *jobspec.Job, group string) string {
	return fmt.Sprintf("%s/%d/%s", job.ID, job.Version, group)
}

// auction places slots of one group: candidates, bids, awards. It returns why slots
// stayed unplaced, and the previous allocations of the slots placed.
func (n *Node) auction(ctx context.Context, job *jobspec.Job, group string, slots []placement.Placement, epoch placement.Epoch, v view) (why []string, placedPrev []string) {
	start := time.Now()
	n.metrics.auctions.Inc()
	log := n.log.With("job", job.ID, "group", group, "epoch", epoch)
	idx := make([]int, len(slots))
	bySlot := map[int]placement.Placement{}
	for i, s := range slots {
		idx[i] = s.Index
		bySlot[s.Index] = s
	}
	round := uint64(time.Now().UnixNano())
	seed := placement.Seed(job.ID, round)
	req := placement.NewBidRequest(job, group, idx, v.allocs[job.ID], v.nodes, v.now)
	req.RequestID = newID()
	req.Epoch = epoch
	req.Coordinator = n.id
	req.PassedOver = placement.PassedOver(job.ID, n.id, v.nodes)
	req.Seed = seed
	req.Replacing = placement.Replacing(slots)
	cands, rejected := placement.Candidates(job, group, len(slots), placement.FreeingReplaced(v.nodes, v.allocs[job.ID], req.Replacing), 2, seed)
	if len(cands) == 0 {
		why := "no peer is feasible"
		if len(rejected) > 0 {
			var rs []string
			for _, r := range rejected {
				rs = append(rs, fmt.Sprintf("%s: %s", v.names[r.NodeID], r.Reason))
			}
			why += " (" + strings.Join(rs, "; ") + ")"
		}
		n.metrics.unplaced.Add(float64(len(slots)))
		if said, _ := n.unplacedSaid.Swap(unplacedKey(job, group), why); said != why {
			log.Warn("cannot place", "slots", len(slots), "why", why)
		} else {
			log.Debug("still cannot place", "slots", len(slots), "why", why)
		}
		return []string{fmt.Sprintf("%s: %d slot(s): %s", group, len(slots), why)}, nil
	}
	n.unplacedSaid.Delete(unplacedKey(job, group))
	// Ask every candidate for a bid, in parallel.
	bids := make([]placement.Bid, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.ID == n.id {
				b, err := n.bid(req)
				if err == nil {
					bids[i] = b
				}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, n.cfg.BidTimeout)
			defer cancel()
			if err := n.call(cctx, c.Name, rpcBid, req, &bids[i]); err != nil {
				log.Debug("no bid", "node", c.Name, "err", err)
				n.noteStale(job.ID, err)
			}
		}()
	}
	wg.Wait()
	awards, unplaced := placement.Award(req, bids, seed)
	if to, by, deferred := placement.Deferred(req, bids); deferred {
		// Not a placement failure: the job's coordinator, which this peer has not heard
		// of yet, places these slots. Award awarded none; holds are released below.
		log.Info("placing nothing: a peer knows another that coordinates the job", "coordinator", to, "seen_by", v.names[by])
		unplaced = nil
	}
	perNode := map[string][]awardedAlloc{}
	for _, a := range awards {
		s := bySlot[a.Slot]
		perNode[a.NodeID] = append(perNode[a.NodeID], awardedAlloc{ID: newID(), Index: a.Slot, PreviousAlloc: s.PreviousAlloc, Reschedules: s.Reschedules, SpecHash: s.SpecHash, Canary: s.Canary})
	}
	why, placedPrev = n.sendAwards(ctx, job, group, epoch, req.RequestID, perNode, v)
	// Bidders that won nothing hold capacity for this request: let it go now rather
	// than when the hold expires.
	for _, b := range bids {
		if _, won := perNode[b.NodeID]; won || b.MaxSlots == 0 || b.NodeID == "" {
			continue
		}
		if b.NodeID == n.id {
			n.mu.Lock()
			delete(n.holds, req.RequestID)
			n.mu.Unlock()
			continue
		}
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), n.cfg.BidTimeout)
			defer cancel()
			n.call(cctx, v.names[b.NodeID], rpcRelease, req.RequestID, nil)
		}()
	}
	n.metrics.auction.Observe(time.Since(start).Seconds())
	if len(unplaced) > 0 {
		n.metrics.unplaced.Add(float64(len(unplaced)))
		reasons := map[string]int{}
		for _, u := range unplaced {
			reasons[u.Reason]++
		}
		for r, c := range reasons {
			why = append(why, fmt.Sprintf("%s: %d slot(s): %s", group, c, r))
		}
		log.Warn("slots unplaced", "count", len(unplaced), "why", why)
	}
	log.Debug("auction done", "slots", len(slots), "awarded", len(awards), "took", time.Since(start))
	return why, placedPrev
}

// sendAwards sends each winner its allocations, one message per winner, in parallel,
// and returns why any failed, and the previous allocations of those accepted.
func (n *Node) sendAwards(ctx context.Context, job *jobspec.Job, group string, epoch placement.Epoch, requestID string, perNode map[string][]awardedAlloc, v view) (why, acceptedPrev []string) {
	log := n.log.With("job", job.ID, "group", group, "epoch", epoch)
	passedOver := placement.PassedOver(job.ID, n.id, v.nodes)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for nodeID, allocs := range perNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			areq := awardRequest{RequestID: requestID, JobID: job.ID, Epoch: epoch, Job: job, Group: group, Allocs: allocs,
				Coordinator: n.id, PassedOver: passedOver}
			var resp awardResponse
			var err error
			if nodeID == n.id {
				resp, err = n.accept(areq)
			} else {
				cctx, cancel := context.WithTimeout(ctx, n.cfg.BidTimeout)
				err = n.call(cctx, v.names[nodeID], rpcAward, areq, &resp)
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				log.Warn("award failed", "node", v.names[nodeID], "err", err)
				n.noteStale(job.ID, err)
				why = append(why, fmt.Sprintf("%s: award to %s failed: %v", group, v.names[nodeID], err))
				return
			}
			n.recordInflight(job, group, nodeID, allocs, resp.Accepted, epoch)
			for _, a := range allocs {
				if a.PreviousAlloc != "" && contains(resp.Accepted, a.ID) {
					acceptedPrev = append(acceptedPrev, a.PreviousAlloc)
				}
			}
		}()
	}
	wg.Wait()
	return why, acceptedPrev
}

// recordInflight remembers accepted awards until gossip shows them, so the next pass
// does not place the same slots again.
func (n *Node) recordInflight(job *jobspec.Job, group, nodeID string, allocs []awardedAlloc, accepted []string, epoch placement.Epoch) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inflight[job.ID] == nil {
		n.inflight[job.ID] = map[string]allocRecord{}
	}
	now := time.Now()
	for _, a := range allocs {
		if !contains(accepted, a.ID) {
			continue
		}
		n.inflight[job.ID][a.ID] = allocRecord{Alloc: placement.NewAlloc(job, a.placement(group, job.Version), a.ID, nodeID, epoch, now)}
	}
}

// publishLines sets this peer's row key of the info table to lines, or removes it
// when there are none. The table publishes only what changes: a coordinator pass that
// finds the same lines sends nothing.
func (n *Node) publishLines(key string, lines []string) {
	if len(lines) == 0 {
		n.infos.DeleteOwn(key)
		return
	}
	n.infos.SetOwn(key, []byte(strings.Join(lines, "\n")))
}

// newID is a random UUID-shaped id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

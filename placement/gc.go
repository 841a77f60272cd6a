package placement

import (
	"cmp"
	"slices"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// GCPolicy bounds the terminal allocations a peer keeps of the jobs the catalog still
// holds (a purged job's go at once). Nomad bounds them twice: its servers collect
// allocations an hour after they ended (eval_gc_threshold) and each client keeps at
// most gc_max_allocs; a Shoal peer is both, so it applies both to its own.
type GCPolicy struct {
	// Threshold: an allocation terminal for this long is collected.
	Threshold time.Duration
	// MaxAllocs: beyond this many terminal allocations (the ones kept for the
	// coordinators included), the oldest collectable ones go first.
	MaxAllocs int
}

// GCInput is what one collection on one peer looks at.
type GCInput struct {
	// Own are the peer's finished allocations: terminal, their runners over. Only
	// these may be collected; those of a job not in Jobs are not judged here.
	Own []Alloc
	// Jobs are the jobs the catalog holds, stopped ones included, by id.
	Jobs map[string]*jobspec.Job
	// Allocs are the allocations of those jobs across the cluster (Own included), by
	// job: what the jobs' coordinators reconcile.
	Allocs map[string][]Alloc
	Policy GCPolicy
	Now    time.Time
}

// Reasons an allocation is never collected while its job lives (see jobFacts.keep).
const (
	keepBatchDone   = "a batch slot that succeeded: without it the slot would run again"
	keepSlotHistory = "the newest allocation of its slot: Reconcile decides the slot's next step (reschedule delay and attempts, a system job blocked on its peer) from it"
	keepRollout     = "a failed allocation of the job's version while its group rolls out: Reconcile pauses the rollout (or reverts) because of it"
	keepEpoch       = "the newest record of the job's highest coordinator epoch"
)

// Collect returns the ids of the allocations in in.Own to forget now, oldest first:
// those not kept for the coordinators (jobFacts.keep) that are terminal for at least
// Policy.Threshold, and then, while the peer holds more than Policy.MaxAllocs
// terminal allocations of the jobs in Jobs, the oldest of the rest. An allocation's
// age counts from when it became terminal (ModifyTime). Pure: same input, same ids.
func Collect(in GCInput) []string {
	facts := map[string]*jobFacts{}
	type candidate struct {
		id    string
		since time.Time
	}
	var cands []candidate
	total := 0
	for i := range in.Own {
		a := &in.Own[i]
		job := in.Jobs[a.JobID]
		if job == nil || !a.Terminal() {
			continue
		}
		total++
		f := facts[a.JobID]
		if f == nil {
			f = newJobFacts(job, in.Allocs[a.JobID])
			facts[a.JobID] = f
		}
		if f.keep(a) != "" {
			continue
		}
		since := a.ModifyTime
		if since.IsZero() {
			since = a.CreateTime
		}
		cands = append(cands, candidate{a.ID, since})
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.id, b.id)) })
	var out []string
	for _, c := range cands { // oldest first: those past the threshold come first
		if in.Now.Sub(c.since) < in.Policy.Threshold && total <= in.Policy.MaxAllocs {
			break
		}
		out = append(out, c.id)
		total--
	}
	return out
}

// keep says why the terminal allocation a must stay for its job's coordinators, or
// "" when forgetting it changes no decision of Reconcile:
//   - keepBatchDone: a batch allocation that completed on its own (desired run). A
//     slot with one at the job's spec is done; whatever the spec, a later version
//     going back to that spec finds it done too.
//   - keepSlotHistory: the newest allocation of its slot (group and index; group and
//     peer for a system job). When the slot has no live allocation, Reconcile reads
//     its last one: a failed one carries the reschedule history (attempts, delay) its
//     replacement inherits, or blocks the slot once attempts are used up; a failed
//     system allocation blocks its peer. An older allocation of the slot is
//     superseded: Reconcile never reads it. The newest may go when it was asked to
//     stop and no allocation of its slot failed: the slot is placed again with it or
//     without it (and without an older failed one that would become the last).
//   - keepRollout: a failed allocation of the job's current version while a live
//     allocation of its group runs another spec: the rollout (rolling or canary) stays
//     paused, or auto_revert reverts, because of it.
//   - keepEpoch: the newest allocation carrying the highest coordinator epoch among
//     the job's allocations: a coordinator that takes over learns that epoch from
//     the records, and must not act under a lower one. One record is enough; a newer
//     carrier takes over the role (its peer keeps it in turn).
//
// Everything else is superseded: a stopped allocation (alloc stop, a replaced version,
// count reduced, a duplicate, a stopped job) or an older failed or lost one of a slot
// that has a newer allocation. Reconcile reads a terminal allocation only in the
// cases above (live ones alone count for slots, doubled slots and health).
func (f *jobFacts) keep(a *Alloc) string {
	switch {
	case f.job.Type == jobspec.TypeBatch && a.ClientStatus == ClientComplete && a.DesiredStatus == DesiredRun:
		return keepBatchDone
	case f.newestOfSlot(a) && (a.DesiredStatus != DesiredStop || f.failed[f.slot(a)] > 0):
		return keepSlotHistory
	case a.ClientStatus == ClientFailed && a.JobVersion == f.job.Version && f.rolling[a.Group]:
		return keepRollout
	case f.high != nil && f.high.ID == a.ID && a.Epoch > 0:
		return keepEpoch
	}
	return ""
}

// jobFacts is what keep needs to know about a job's allocations, computed once.
type jobFacts struct {
	job     *jobspec.Job
	newest  map[gcSlot]*Alloc // in Reconcile's order: create time, then id
	failed  map[gcSlot]int    // failed allocations per slot
	rolling map[string]bool   // group -> a live allocation runs another spec
	high    *Alloc            // the newest allocation of the job's highest epoch
}

type gcSlot struct {
	group string
	index int
	node  string // system jobs: the slot is the peer
}

func newJobFacts(job *jobspec.Job, allocs []Alloc) *jobFacts {
	f := &jobFacts{job: job, newest: map[gcSlot]*Alloc{}, failed: map[gcSlot]int{}, rolling: map[string]bool{}}
	r := &reconciler{in: ReconcileInput{Job: job}, hashes: map[string]string{}}
	for i := range allocs {
		a := &allocs[i]
		if a.JobID != job.ID {
			continue
		}
		s := f.slot(a)
		if f.newest[s] == nil || newer(a, f.newest[s]) {
			f.newest[s] = a
		}
		if a.ClientStatus == ClientFailed {
			f.failed[s]++
		}
		if g := job.LookupGroup(a.Group); g != nil && !a.Terminal() && r.outdated(a, r.hash(g)) {
			f.rolling[a.Group] = true
		}
		if f.high == nil || a.Epoch > f.high.Epoch || a.Epoch == f.high.Epoch && newer(a, f.high) {
			f.high = a
		}
	}
	return f
}

func (f *jobFacts) slot(a *Alloc) gcSlot {
	if f.job.Type == jobspec.TypeSystem {
		return gcSlot{group: a.Group, node: a.NodeID}
	}
	return gcSlot{group: a.Group, index: a.Index}
}

// newer orders a slot's allocations as Reconcile does: by create time, then id.
func newer(a, b *Alloc) bool {
	return cmp.Or(a.CreateTime.Compare(b.CreateTime), cmp.Compare(a.ID, b.ID)) > 0
}

// newestOfSlot reports whether no allocation of a's slot is newer than a.
func (f *jobFacts) newestOfSlot(a *Alloc) bool {
	n := f.newest[f.slot(a)]
	return n == nil || !newer(n, a)
}

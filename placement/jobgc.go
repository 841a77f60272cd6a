package placement

import (
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// JobDone reports whether a job is finished for good, and since when: a stopped job
// once every allocation of it has ended (since the later of its stop and their last
// change), or a batch job none of whose slots is left to run (every slot of every
// group has a complete allocation; since the last one completed). Its coordinator
// purges a job done for longer than Nomad's job_gc_threshold.
//
// A stopped periodic job has no allocations of its own: it is done since its stop
// (its caller waits for its children to be purged first).
//
// A stopped job whose stop time is unknown (stopped before it was recorded) and has no
// allocation is never done: nothing says how long it has been stopped. A batch job
// with a slot that failed for good stays, as Nomad keeps it, for a user to look at
// and stop.
func JobDone(job *jobspec.Job, stopped bool, stoppedAt time.Time, allocs []Alloc) (since time.Time, done bool) {
	since = stoppedAt
	for i := range allocs {
		a := &allocs[i]
		if !a.Terminal() {
			return time.Time{}, false
		}
		if a.ModifyTime.After(since) {
			since = a.ModifyTime
		}
	}
	if stopped {
		return since, !since.IsZero()
	}
	if job == nil || job.Type != jobspec.TypeBatch || job.Periodic != nil {
		return time.Time{}, false
	}
	complete := map[gcSlot]bool{}
	for i := range allocs {
		if a := &allocs[i]; a.ClientStatus == ClientComplete && a.DesiredStatus == DesiredRun {
			complete[gcSlot{group: a.Group, index: a.Index}] = true
		}
	}
	for _, g := range job.Groups {
		for i := range g.Count {
			if !complete[gcSlot{group: g.Name, index: i}] {
				return time.Time{}, false
			}
		}
	}
	return since, !since.IsZero()
}

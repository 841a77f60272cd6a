package node

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// This file is the periodic side of the coordinator. A periodic job is a parent that
// never runs allocations: its coordinator (the HRW peer, like any job's) launches a
// child batch job at each cron tick by writing it to the catalog, where the child's
// own coordinator places it like any submitted job. The child's id is a function of
// the tick (jobspec.ChildID), and a tick the catalog holds a child for (or held one:
// purged children leave a tombstone) is never launched again, so coordinators that
// change, die or overlap launch each tick once. placement.Periodic decides; the
// coordinator loop keeps, per parent it coordinates, the tick it waits for.

// periodicChildren gathers each periodic parent's children from a pass's job entries.
func periodicChildren(jobs []jobEntry, v view) map[string][]placement.PeriodicChild {
	out := map[string][]placement.PeriodicChild{}
	for _, je := range jobs {
		if je.Job.ParentID == "" {
			continue
		}
		_, tick, ok := jobspec.ParseChildID(je.Job.ID)
		if !ok {
			continue
		}
		out[je.Job.ParentID] = append(out[je.Job.ParentID], placement.PeriodicChild{Launch: tick, Live: childLive(je, v.allocs[je.Job.ID])})
	}
	return out
}

// childLive reports whether a child job is pending or running: not stopped, and not
// every one of its allocations done (a child not placed yet is pending).
func childLive(je jobEntry, allocs []placement.Alloc) bool {
	if je.Stop {
		return false
	}
	if len(allocs) == 0 {
		return true
	}
	for i := range allocs {
		if !allocs[i].Terminal() {
			return true
		}
	}
	return false
}

// periodicPass decides for one periodic parent this peer coordinates, and launches
// the child it must on wg. next holds the tick this peer waits for per parent (owned
// by the coordinator loop).
func (n *Node) periodicPass(ctx context.Context, je jobEntry, children []placement.PeriodicChild, next map[string]time.Time, now time.Time, wg *sync.WaitGroup) {
	id := je.Job.ID
	prev := next[id]
	res := placement.Periodic(placement.PeriodicInput{Job: je.Job, Stopped: je.Stop, Children: children,
		Next: prev, Since: je.SubmitTime, Now: now, Retention: n.cfg.JobGCThreshold})
	if res.Next.IsZero() {
		delete(next, id)
	} else {
		next[id] = res.Next
		if !res.Next.Equal(prev) {
			time.AfterFunc(time.Until(res.Next)+10*time.Millisecond, n.wake)
		}
	}
	log := n.log.With("job", id)
	if !res.Skipped.IsZero() {
		log.Info("periodic launch skipped: a child is still pending or running (prohibit_overlap)", "tick", res.Skipped)
	}
	if res.Launch.IsZero() && len(res.Purge) == 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, tick := range res.Purge {
			child := jobspec.ChildID(id, tick)
			if _, ok := n.jobs.Get(child); ok {
				n.replicate(n.jobs.Delete(child))
				log.Info("periodic child purged", "child", child, "job_gc_threshold", n.cfg.JobGCThreshold)
			}
		}
		if res.Launch.IsZero() {
			return
		}
		child, launched, err := n.launchChild(je, res.Launch)
		switch {
		case err != nil:
			log.Error("launching periodic child", "tick", res.Launch, "err", err)
		case launched:
			log.Info("periodic job launched", "child", child, "tick", res.Launch, "catch_up", res.CatchUp)
		}
	}()
}

// launchChild writes the child of parent for tick to the catalog, unless the catalog
// holds (or held) it already (launched is false then), and returns its id.
func (n *Node) launchChild(parent jobEntry, tick time.Time) (id string, launched bool, err error) {
	child := parent.Job.Child(tick)
	if n.jobHeld(child.ID) {
		return child.ID, false, nil
	}
	return child.ID, true, n.putJob(jobEntry{Job: child, SubmitTime: time.Now()})
}

// jobHeld reports whether the catalog has an entry for id, a purge's tombstone
// included.
func (n *Node) jobHeld(id string) bool {
	held := false
	n.jobs.RangeAll(func(e gossip.Entry) bool {
		held = e.Key == id
		return !held
	})
	return held
}

// ForcePeriodic implements POST /v1/job/<id>/periodic/force: launch a child of a
// periodic job now, as `nomad job periodic force` does, even if prohibit_overlap
// would skip it. Any peer may: the child is named by this second, so a force and a
// tick in the same second launch one child.
func (n *Node) ForcePeriodic(ctx context.Context, id string) (api.PeriodicForceResponse, error) {
	je, err := n.lookupJob(id)
	if err != nil {
		return api.PeriodicForceResponse{}, err
	}
	switch {
	case je.Job.Periodic == nil:
		return api.PeriodicForceResponse{}, badRequest("job %q is not periodic: only a job with a periodic block launches children", id)
	case je.Stop:
		return api.PeriodicForceResponse{}, badRequest("job %q is stopped: run it again before forcing a launch", id)
	case !je.Job.Periodic.IsEnabled():
		return api.PeriodicForceResponse{}, badRequest("job %q has periodic { enabled = false }: enable it and run it again before forcing a launch", id)
	}
	child, launched, err := n.launchChild(je, time.Now())
	if err != nil {
		return api.PeriodicForceResponse{}, err
	}
	if launched {
		n.log.Info("periodic job launched by force", "job", id, "child", child)
	}
	return api.PeriodicForceResponse{JobID: child}, nil
}

// children lists the jobs a periodic parent launched, oldest first.
func (n *Node) children(parent string, byJob map[string][]allocRecord) []api.JobListStub {
	var out []api.JobListStub
	n.jobs.Range(func(e gossip.Entry) bool {
		if _, _, ok := jobspec.ParseChildID(e.Key); !ok {
			return true
		}
		if je, err := n.jobOf(e.Key, e.Value); err == nil && je.Job.ParentID == parent {
			out = append(out, jobStub(je, byJob[e.Key]))
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

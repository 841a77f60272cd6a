package node

import (
	"context"
	"maps"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// This file is the owner side of allocations: this peer's own records (single
// writer), persisted in bbolt and published in the gossip alloc table, and the
// runners that carry them out.

// updateLocal applies f to one of this peer's allocation records, stamps the change,
// persists it and publishes it. Unknown ids are ignored.
func (n *Node) updateLocal(id string, f func(*allocRecord)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	la := n.local[id]
	if la == nil {
		return
	}
	rec := la.rec.clone()
	before := rec.ClientStatus
	f(&rec)
	if rec.ClientStatus != before {
		rec.ModifyTime = time.Now()
		if rec.ClientStatus == placement.ClientRunning {
			rec.StartedAt = rec.ModifyTime
		}
		n.log.Info("allocation status", "alloc", id, "slot", rec.Slot(), "from", before, "to", rec.ClientStatus)
	}
	la.rec = rec
	n.saveLocked(rec)
}

// saveLocked publishes rec and queues it for the store. n.mu must be held. Records
// are written by the persister in batches (one fsync for many changes), so a status
// change never waits on the disk; a peer killed in between loses at most the last
// few changes, which its tasks' recovery repairs.
func (n *Node) saveLocked(rec allocRecord) {
	n.dirty[rec.ID] = encodeAlloc(rec)
	select {
	case n.persistCh <- struct{}{}:
	default:
	}
	if n.leaving.Load() {
		return
	}
	n.allocs.SetOwn(rec.ID, n.dirty[rec.ID])
}

// persist is the component that writes queued allocation records to the store.
func (n *Node) persist(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.persistCh:
		}
		n.flush()
	}
}

// flush writes every queued record (and the alloc table's version) in one transaction.
func (n *Node) flush() {
	n.mu.Lock()
	recs := n.dirty
	n.dirty = map[string][]byte{}
	n.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	counters := map[string]uint64{"allocs_version": n.allocs.Version(n.cfg.Name)}
	if err := n.store.PutAllocs(recs, counters); err != nil {
		n.log.Error("persisting allocations", "count", len(recs), "err", err)
	}
}

// createLocal records a new allocation this peer accepted (id, for slot p of job,
// under the coordinator's epoch) and starts its runner. The record is placement's
// NewAlloc, so it holds the group's resources and static ports from the start. It
// returns false if the allocation cannot be created here; a duplicate award of an
// existing id is accepted again (idempotent).
func (n *Node) createLocal(id string, p placement.Placement, epoch placement.Epoch, job *jobspec.Job) bool {
	g := job.LookupGroup(p.Group)
	if g == nil {
		return false
	}
	n.mu.Lock()
	if _, dup := n.local[id]; dup {
		n.mu.Unlock()
		return true
	}
	if n.leaving.Load() {
		n.mu.Unlock()
		return false // shutting down: stopAllLocal has taken its snapshot
	}
	rec := allocRecord{Alloc: placement.NewAlloc(job, p, id, n.id, epoch, time.Now()), NodeName: n.cfg.Name}
	portMap, ports, err := assignPorts(g, n.heldPortsLocked(), n.portRand, portFree)
	if err != nil {
		n.mu.Unlock()
		n.log.Warn("refusing an allocation", "job", job.ID, "group", g.Name, "err", err)
		return false
	}
	rec.PortMap, rec.Ports, rec.HostIP = portMap, ports, n.advertiseAddr()
	rec.Hooks = g.LifecycleHooks()
	if bridgeMode(g) {
		rec.NetworkMode, rec.PortTo = "bridge", insidePorts(g, portMap)
	}
	r := n.newLocalRunner(rec, job, g)
	n.local[rec.ID] = &localAlloc{rec: rec, runner: r}
	n.saveLocked(rec)
	n.mu.Unlock()
	n.startCh <- r
	n.metrics.placed.Inc()
	return true
}

// newLocalRunner makes the runner of a local allocation: its ports' environment,
// its service checks and, in bridge mode, its network.
func (n *Node) newLocalRunner(rec allocRecord, job *jobspec.Job, g *jobspec.Group) *runner {
	r := newRunner(rec.ID, job, g, n.drv, n.updateLocal, n.log)
	r.index = rec.Index
	r.starts = n.starts
	r.ports, r.hostIP, r.allocIP = rec.PortMap, rec.HostIP, rec.AllocIP
	// A reattached allocation resumes its lifecycle where its record says it was.
	r.completed, r.failed = maps.Clone(rec.Completed), failedTasks(rec)
	for name := range rec.TaskStates {
		r.ran[name] = true
	}
	r.env = portEnv(g, rec.PortMap, rec.HostIP, rec.AllocIP)
	r.allocDir = allocDirPath(n.cfg.DataDir, rec.ID)
	r.checks = checkSpecs(g, rec.PortMap, rec.HostIP)
	r.services = serviceLookup{
		instances: func(name string) []api.ServiceRegistration { regs, _ := n.Service(name, true); return regs },
		all:       n.Services,
	}
	r.changes = n.changes.wait
	if rec.NetworkMode == "bridge" {
		r.bridge, r.bridgeErr = n.bridge, n.bridgeErr
	}
	r.hostVolumes = n.cfg.HostVolumes
	r.artifacts = artifactFetcher{client: n.artifactClient, dir: artifactStageDir(n.cfg.DataDir), attrs: n.fp.Attributes}
	return r
}

// stopLocal asks one local allocation to stop, recording why.
func (n *Node) stopLocal(id, reason string) bool {
	n.mu.Lock()
	la := n.local[id]
	n.mu.Unlock()
	if la == nil {
		return false
	}
	var r *runner
	n.updateLocal(id, func(a *allocRecord) { // under n.mu, like recoverTasks
		if a.DesiredStatus != placement.DesiredStop {
			a.DesiredStatus = placement.DesiredStop
			a.DesiredDescription = reason
		}
		r = la.runner
		if r == nil && !clientDone(a) {
			// No runner (yet): recovery has not run, or this record's tasks are
			// gone. Recovery stops any task left of it (its record is done).
			a.ClientStatus = placement.ClientComplete
			a.ClientDescription = "stopped"
		}
	})
	if r != nil {
		r.stop()
	}
	return true
}

// stopLocalJob stops every local allocation of a job.
func (n *Node) stopLocalJob(jobID, reason string) {
	n.mu.Lock()
	var ids []string
	for id, la := range n.local {
		if la.rec.JobID == jobID && la.rec.DesiredStatus != placement.DesiredStop {
			ids = append(ids, id)
		}
	}
	n.mu.Unlock()
	for _, id := range ids {
		n.stopLocal(id, reason)
	}
}

// stopAllLocal stops every local allocation and waits for their runners.
func (n *Node) stopAllLocal(reason string) {
	n.mu.Lock()
	var runners []*runner
	var ids []string
	for id, la := range n.local {
		if la.rec.DesiredStatus != placement.DesiredStop && !la.rec.Terminal() {
			ids = append(ids, id)
		}
		if la.runner != nil {
			runners = append(runners, la.runner)
		}
	}
	n.mu.Unlock()
	for _, id := range ids {
		n.stopLocal(id, reason)
	}
	for _, r := range runners {
		<-r.done
	}
}

// failedTasks lists the tasks of an allocation that failed for good: dead and
// failed (a task to be restarted is pending), so the allocation has failed.
func failedTasks(rec allocRecord) map[string]bool {
	var failed map[string]bool
	for name, s := range rec.TaskStates {
		if s.State == "dead" && s.Failed {
			if failed == nil {
				failed = map[string]bool{}
			}
			failed[name] = true
		}
	}
	return failed
}

// clientDone reports whether a's owner has finished with it (complete, failed or
// lost). Unlike Alloc.Terminal it ignores DesiredStatus: an allocation asked to stop
// still runs until its runner (or recovery) says it ended.
func clientDone(a *allocRecord) bool {
	switch a.ClientStatus {
	case placement.ClientComplete, placement.ClientFailed, placement.ClientLost:
		return true
	}
	return false
}

// endLocked ends a local allocation that has no runner: it writes the terminal
// status at once (saved and published). n.mu must be held.
func (n *Node) endLocked(la *localAlloc, status, desc string) {
	before := la.rec.ClientStatus
	la.rec.ClientStatus, la.rec.ClientDescription = status, desc
	la.rec.ModifyTime = time.Now()
	n.log.Info("allocation status", "alloc", la.rec.ID, "slot", la.rec.Slot(), "from", before, "to", status, "why", desc)
	n.saveLocked(la.rec)
}

// destroyTasks stops (kill signal, kill_timeout, SIGKILL) and removes tasks in the
// background.
func destroyTasks(tasks map[string]*exec.Task) {
	for _, t := range tasks {
		go func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			t.Stop(stopCtx)
			t.Destroy()
		}()
	}
}

// taskAlive reports whether a recovered task's process still runs. Done alone does
// not tell right after Recover: for a container found stopped it closes only once the
// task's logs have drained. Signal 0 reaches only a live init process (libcontainer
// checks its pid and start time).
func taskAlive(t *exec.Task) bool { return t.Signal(syscall.Signal(0)) == nil }

// recoverTasks reattaches to the containers a previous process of this peer left
// running (SIGKILL, crash). Every allocation the old process had not finished ends
// here in one of two ways: it gets a runner that adopts its live tasks and will
// publish a terminal status when they end (a runner told to stop at once when the
// allocation was asked to stop or its job was stopped while the peer was down), or,
// when none of its tasks is alive, a terminal status is written at once:
//   - complete, when it was asked to stop or its job was stopped, purged or lost
//     its group while the peer was down;
//   - lost, otherwise (the host died with its tasks): it is not restarted in place,
//     the coordinator's Reconcile replaces it (a batch slot that completed elsewhere
//     meanwhile is never rerun).
//
// Tasks of no live allocation are stopped.
func (n *Node) recoverTasks(ctx context.Context) {
	tasks, err := n.drv.Recover()
	if err != nil {
		n.log.Error("recovering tasks", "err", err)
	}
	byAlloc := map[string]map[string]*exec.Task{}
	n.mu.Lock()
	for _, t := range tasks {
		matched := false
		for id, la := range n.local {
			if !strings.HasPrefix(t.ID(), id+"-") || clientDone(&la.rec) || la.runner != nil {
				continue
			}
			if byAlloc[id] == nil {
				byAlloc[id] = map[string]*exec.Task{}
			}
			byAlloc[id][strings.TrimPrefix(t.ID(), id+"-")] = t
			matched = true
		}
		if !matched {
			destroyTasks(map[string]*exec.Task{t.ID(): t})
		}
	}
	var toStart []*runner
	for id, la := range n.local {
		if clientDone(&la.rec) || la.runner != nil {
			continue
		}
		je, ok := n.jobEntry(la.rec.JobID)
		g := (*jobspec.Group)(nil)
		if ok {
			g = je.Job.LookupGroup(la.rec.Group)
		}
		live := 0
		for _, t := range byAlloc[id] {
			if taskAlive(t) {
				live++
			}
		}
		stopped := !ok || je.Stop || g == nil || la.rec.DesiredStatus == placement.DesiredStop
		if stopped && la.rec.DesiredStatus != placement.DesiredStop {
			la.rec.DesiredStatus = placement.DesiredStop
			la.rec.DesiredDescription = "job stopped while the peer was down"
			n.saveLocked(la.rec)
		}
		switch {
		case live == 0 && len(failedTasks(la.rec)) > 0:
			// A task had failed for good (its poststop tasks, if any, did not
			// outlive the peer): the allocation failed, as its runner would say.
			// Its tasks keep their logs until it is forgotten.
			n.endLocked(la, placement.ClientFailed, descTaskFailed)
			continue
		case stopped && (live == 0 || g == nil):
			n.endLocked(la, placement.ClientComplete, "stopped while the peer was down")
			destroyTasks(byAlloc[id])
			continue
		case live == 0:
			n.endLocked(la, placement.ClientLost, "task did not survive the peer's restart")
			destroyTasks(byAlloc[id])
			continue
		}
		r := n.newLocalRunner(la.rec, je.Job, g)
		for name, t := range byAlloc[id] {
			r.recovered[name] = t
		}
		if stopped {
			// Asked to stop before the crash: the runner finishes the stop (kill
			// signal, kill_timeout) and then publishes complete; until then the
			// allocation holds its resources and ports.
			r.stop()
		}
		la.runner = r
		toStart = append(toStart, r)
		n.log.Info("reattached allocation", "alloc", id, "slot", la.rec.Slot(), "tasks", len(byAlloc[id]), "live", live)
	}
	// Allocations that ended (here, or before recovery ran) with their network
	// still there: it goes too.
	var detach []string
	for id, la := range n.local {
		if la.runner == nil && clientDone(&la.rec) && n.attachedLocked(&la.rec) {
			detach = append(detach, id)
		}
	}
	n.mu.Unlock()
	n.detachLost(detach)
	for _, r := range toStart {
		n.goRun(ctx, r)
	}
}

// jobEntry reads a job from the replicated catalog.
func (n *Node) jobEntry(id string) (jobEntry, bool) {
	e, ok := n.jobs.Get(id)
	if !ok || e.Deleted {
		return jobEntry{}, false
	}
	je, err := n.jobOf(id, e.Value)
	if err != nil {
		return jobEntry{}, false
	}
	return je, true
}

func isDone(r *runner) bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

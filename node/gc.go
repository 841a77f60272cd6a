package node

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

// This file is what a peer forgets of its own allocations, and when: a purged job's
// finished allocations at once (gcLocal), and the terminal allocations of the jobs
// the catalog still holds once placement.Collect says the coordinators no longer
// need them (collectTerminal). Forgetting one takes its record out of the store and
// of the gossip table, and removes its task directories (logs) and its /alloc dir.

// gcAllocs is the component that collects this peer's terminal allocations of live
// jobs every GCInterval, and whenever an allocation's runner ends (gcKick).
func (n *Node) gcAllocs(ctx context.Context) error {
	t := time.NewTicker(n.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.gcKick:
		}
		n.collectTerminal(time.Now())
	}
}

// goRun runs r on a goroutine of its own (counted in n.wg), with ctx's values but
// not its cancellation: a runner outlives the request that created it and stops only
// when told to. When it returns, its allocation is finished: the collector looks.
func (n *Node) goRun(ctx context.Context, r *runner) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		r.run(context.WithoutCancel(ctx))
		n.kickGC()
	}()
}

// kickGC asks the collector for a pass soon (never blocks).
func (n *Node) kickGC() {
	select {
	case n.gcKick <- struct{}{}:
	default:
	}
}

// collectTerminal forgets the finished allocations of live jobs that
// placement.Collect chooses at now.
func (n *Node) collectTerminal(now time.Time) {
	if n.leaving.Load() {
		return // shutting down: the records stay as the others last saw them
	}
	n.mu.Lock()
	var own []placement.Alloc
	due := false // some allocation is old enough: else only a count over the maximum collects
	for _, la := range n.local {
		if finished(la) {
			own = append(own, la.rec.Alloc)
			due = due || now.Sub(la.rec.ModifyTime) >= n.cfg.AllocGCThreshold
		}
	}
	n.mu.Unlock()
	if !due && len(own) <= n.cfg.GCMaxAllocs {
		return // the common case: no need to read the cluster's tables
	}
	in := placement.GCInput{Own: own, Jobs: map[string]*jobspec.Job{}, Allocs: map[string][]placement.Alloc{}, Now: now,
		Policy: placement.GCPolicy{Threshold: n.cfg.AllocGCThreshold, MaxAllocs: n.cfg.GCMaxAllocs}}
	for _, a := range own {
		if _, decoded := in.Jobs[a.JobID]; decoded {
			continue // a job's allocations share one decode
		}
		if je, ok := n.jobEntry(a.JobID); ok {
			in.Jobs[a.JobID] = je.Job
		}
	}
	for _, a := range n.clusterAllocs() {
		if in.Jobs[a.JobID] != nil {
			in.Allocs[a.JobID] = append(in.Allocs[a.JobID], a.Alloc)
		}
	}
	if ids := placement.Collect(in); len(ids) > 0 {
		n.forgetLocal(ids, "collected")
	}
}

// gcLocal forgets this peer's finished allocations of jobs that were purged (or are
// unknown).
func (n *Node) gcLocal() {
	n.mu.Lock()
	var gone []string
	for id, la := range n.local {
		if !finished(la) {
			continue
		}
		if _, ok := n.jobs.Get(la.rec.JobID); ok {
			continue
		}
		gone = append(gone, id)
	}
	n.mu.Unlock()
	n.forgetLocal(gone, "job purged")
}

// finished reports whether a local allocation is over for good: terminal, and its
// runner (if any) has returned. n.mu must be held.
func finished(la *localAlloc) bool {
	return la.rec.Terminal() && (la.runner == nil || isDone(la.runner))
}

// forgetLocal forgets the finished allocations ids of this peer (others are left
// alone): their records leave the store and the gossip table, their task directories
// (kept until now for `alloc logs`) and shared allocation directory are destroyed.
func (n *Node) forgetLocal(ids []string, why string) {
	n.mu.Lock()
	var gone []string
	tasks := map[string][]string{}
	for _, id := range ids {
		la := n.local[id]
		if la == nil || !finished(la) {
			continue
		}
		gone = append(gone, id)
		for name := range la.rec.TaskStates {
			tasks[id] = append(tasks[id], name)
		}
		delete(n.local, id)
		delete(n.dirty, id)
	}
	n.mu.Unlock()
	for _, id := range gone {
		n.metrics.collected.Inc() // counted before the API stops showing it
		if !n.leaving.Load() {
			n.allocs.DeleteOwn(id)
		}
		if err := n.store.DeleteAlloc(id); err != nil {
			n.log.Warn("forgetting allocation", "alloc", id, "err", err)
		}
		for _, name := range tasks[id] {
			if err := n.drv.RemoveTask(taskID(id, name)); err != nil {
				n.log.Warn("removing a task of a forgotten allocation", "alloc", id, "task", name, "err", err)
			}
		}
		if err := os.RemoveAll(allocDirPath(n.cfg.DataDir, id)); err != nil {
			n.log.Warn("removing the shared allocation directory", "alloc", id, "err", err)
		}
		n.log.Debug("forgot allocation", "alloc", id, "why", why)
	}
}

// parseGCConfig reads peer.hcl's alloc_gc_threshold, gc_interval, job_gc_threshold (durations) and
// gc_max_allocs (a count) into c. Errors name the file, line and column, the field,
// the value and what is accepted.
func parseGCConfig(body *hclsyntax.Body, c *Config) error {
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"alloc_gc_threshold", &c.AllocGCThreshold}, {"gc_interval", &c.GCInterval}, {"job_gc_threshold", &c.JobGCThreshold}} {
		a, ok := body.Attributes[f.name]
		if !ok {
			continue
		}
		v, diags := a.Expr.Value(nil)
		d, err := time.Duration(0), errors.New("not a string")
		if !diags.HasErrors() && v.Type() == cty.String && !v.IsNull() {
			d, err = time.ParseDuration(v.AsString())
		}
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: %s: got %s, want a positive duration such as \"1h\" or \"30s\"", pos(a.Expr.Range()), f.name, describeValue(v, diags))
		}
		*f.dst = d
	}
	if a, ok := body.Attributes["gc_max_allocs"]; ok {
		v, diags := a.Expr.Value(nil)
		var n int64
		ok := !diags.HasErrors() && v.Type() == cty.Number && !v.IsNull()
		if ok {
			var acc big.Accuracy
			n, acc = v.AsBigFloat().Int64()
			ok = acc == big.Exact && n >= 1 && n <= 1<<31-1
		}
		if !ok {
			return fmt.Errorf("%s: gc_max_allocs: got %s, want a whole number of allocations >= 1", pos(a.Expr.Range()), describeValue(v, diags))
		}
		c.GCMaxAllocs = int(n)
	}
	return nil
}

package integration

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// API returns a client for host i's HTTP API: the peer's own client package, so the harness
// reads exactly what an operator's `peer` CLI reads. Bound each call with a context.
func (c *Cluster) API(i int) *api.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api[i] == nil {
		c.api[i] = api.NewClient(fmt.Sprintf("http://%s:%d", c.Hosts[i].Addr, c.opts.HTTPPort))
	}
	return c.api[i]
}

// callTimeout bounds each API call of the harness: a frozen or partitioned peer must not
// stall a check.
const callTimeout = 5 * time.Second

// call runs f with a context bounded by callTimeout.
func call[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return f(ctx)
}

// Up returns the indexes of hosts whose process runs and is not frozen: the peers an
// operator could ask.
func (c *Cluster) Up() []int {
	var out []int
	for _, h := range c.Hosts {
		if h.Running() && !h.Frozen() {
			out = append(out, h.Index)
		}
	}
	return out
}

// Submit submits a job file through host i's API and records the job in the cluster's
// ledger of submitted jobs, which Check holds the cluster to.
func (c *Cluster) Submit(ctx context.Context, i int, hcl string) (string, error) {
	resp, err := call(ctx, func(ctx context.Context) (api.JobRegisterResponse, error) {
		return c.API(i).Register(ctx, api.JobRegisterRequest{JobHCL: hcl})
	})
	if err != nil {
		return "", err
	}
	id := resp.JobID
	c.mu.Lock()
	if c.jobs == nil {
		c.jobs = map[string]bool{}
	}
	c.jobs[id] = false
	c.mu.Unlock()
	return id, nil
}

// StopJob stops a job through host i's API and records it as stopped in the ledger.
func (c *Cluster) StopJob(ctx context.Context, i int, id string) error {
	if _, err := call(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.API(i).StopJob(ctx, id, false)
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.jobs[id] = true
	c.mu.Unlock()
	return nil
}

// Submitted returns the ledger: job id -> stopped.
func (c *Cluster) Submitted() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.jobs))
	for k, v := range c.jobs {
		out[k] = v
	}
	return out
}

// Report is the result of one invariant check. Each list holds one human-readable line per
// violation; an empty report is a healthy cluster.
type Report struct {
	Live    []string // hosts whose API was asked
	Short   []string // a job not at its desired count of running allocations (per view)
	Doubled []string // a slot with two running allocations
	Lost    []string // a submitted, not stopped job unknown to a live peer
	Orphans []string // a process in a host's cgroup that no live peer accounts for
	Ghosts  []string // an allocation a live peer reports running with no process on its host
	Errors  []string // API errors and checks that could not run
}

// OK reports whether no invariant is violated.
func (r *Report) OK() bool {
	return len(r.Short)+len(r.Doubled)+len(r.Lost)+len(r.Orphans)+len(r.Ghosts)+len(r.Errors) == 0
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "live %v", r.Live)
	for _, s := range []struct {
		name  string
		lines []string
	}{{"not at count", r.Short}, {"doubled", r.Doubled}, {"lost", r.Lost}, {"orphans", r.Orphans}, {"ghosts", r.Ghosts}, {"errors", r.Errors}} {
		if len(s.lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%d):", s.name, len(s.lines))
		for i, l := range s.lines {
			if i == 8 {
				fmt.Fprintf(&b, "\n  ... %d more", len(s.lines)-i)
				break
			}
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// Check reads the cluster through the API of every live peer, as an operator would, and
// checks the invariants against the ledger of submitted jobs:
//   - every job is at its desired count of running allocations (batch: every slot running
//     or complete), in every live peer's view; a stopped job has none running;
//   - no slot has two running allocations;
//   - every submitted, not stopped job is known to every live peer;
//   - every process in a host's cgroup is that host's peer or belongs to an allocation that
//     a live peer reports running on that host (no orphans);
//   - every allocation a live peer reports running has a process on its host (no ghosts).
func (c *Cluster) Check(ctx context.Context) *Report {
	r := &Report{}
	jobs := c.Submitted()
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	runningOn := map[string]map[string]bool{} // node name or id -> running alloc ids
	for _, i := range c.Up() {
		h := c.Hosts[i]
		cl := c.API(i)
		r.Live = append(r.Live, h.Name)
		known, err := call(ctx, cl.Jobs)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", h.Name, err))
			continue
		}
		knownSet := map[string]bool{}
		for _, j := range known {
			knownSet[j.ID] = true
		}
		for _, id := range ids {
			stopped := jobs[id]
			if !stopped && !knownSet[id] {
				r.Lost = append(r.Lost, fmt.Sprintf("job %s unknown to %s", id, h.Name))
				continue
			}
			allocs, err := call(ctx, func(ctx context.Context) ([]api.Alloc, error) { return cl.JobAllocs(ctx, id) })
			if err != nil {
				if !stopped {
					r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", h.Name, err))
				}
				continue
			}
			for _, a := range allocs {
				if running(a) {
					for _, n := range []string{a.NodeName, a.NodeID} {
						if runningOn[n] == nil {
							runningOn[n] = map[string]bool{}
						}
						runningOn[n][a.ID] = true
					}
				}
			}
			var job *api.Job
			if !stopped {
				if job, err = call(ctx, func(ctx context.Context) (*api.Job, error) { return cl.Job(ctx, id) }); err != nil {
					r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", h.Name, err))
					continue
				}
			}
			checkJob(r, h.Name, id, job, allocs)
		}
	}
	c.checkOrphans(r, runningOn)
	return r
}

// checkJob checks one job's allocations as seen by peer view; job is nil for a stopped job.
func checkJob(r *Report, view, id string, job *api.Job, allocs []api.Alloc) {
	bySlot := map[string][]api.Alloc{}
	for _, a := range allocs {
		bySlot[slot(a)] = append(bySlot[slot(a)], a)
	}
	slots := make([]string, 0, len(bySlot))
	for s := range bySlot {
		slots = append(slots, s)
	}
	sort.Strings(slots)
	for _, s := range slots {
		var where []string
		for _, a := range bySlot[s] {
			if running(a) {
				where = append(where, short(a.ID)+"@"+a.NodeName)
			}
		}
		if len(where) > 1 {
			r.Doubled = append(r.Doubled, fmt.Sprintf("%s (view of %s): running %s", s, view, strings.Join(where, ", ")))
		}
	}
	if job == nil || job.Job == nil || job.Stop {
		n := 0
		for _, a := range allocs {
			if running(a) {
				n++
			}
		}
		if n > 0 {
			r.Short = append(r.Short, fmt.Sprintf("stopped job %s (view of %s): %d allocations still running", id, view, n))
		}
		return
	}
	for _, g := range job.Groups {
		got := 0
		for idx := 0; idx < g.Count; idx++ {
			for _, a := range bySlot[fmt.Sprintf("%s/%s[%d]", id, g.Name, idx)] {
				if (running(a) && a.DesiredStatus != "stop") || (job.Type == "batch" && a.ClientStatus == "complete") {
					got++
					break
				}
			}
		}
		extra := 0
		for _, a := range allocs {
			if a.TaskGroup == g.Name && a.Index >= g.Count && running(a) && a.DesiredStatus != "stop" {
				extra++
			}
		}
		if got != g.Count || extra > 0 {
			r.Short = append(r.Short, fmt.Sprintf("%s/%s (view of %s): %d of %d slots filled, %d running beyond the count", id, g.Name, view, got, g.Count, extra))
		}
	}
}

// checkOrphans looks at every host's cgroup tree: a process other than the host's peer must
// sit in a container cgroup whose path names an allocation that some live peer reports
// running on that host. A host whose peer is down must have only such processes too.
// Conversely, every allocation reported running on a host must have a process there.
func (c *Cluster) checkOrphans(r *Report, running map[string]map[string]bool) {
	matched, containers := 0, 0
	for _, h := range c.Hosts {
		m, n := checkHost(r, h, running[h.Name])
		matched, containers = matched+m, containers+n
	}
	if containers > 0 && matched == 0 && len(running) > 0 {
		r.Errors = append(r.Errors, "no container cgroup path names an allocation id: the exec driver's cgroup naming changed, orphan detection cannot match processes to allocations")
	}
}

// checkHost checks one host against the allocations reported running on it and returns how
// many container processes it matched to an allocation, out of how many it found.
func checkHost(r *Report, h *Host, running map[string]bool) (matched, containers int) {
	ps, err := h.cg.procs()
	if err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", h.Name, err))
		return 0, 0
	}
	peer := h.PID()
	var paths []string
	for _, p := range ps {
		if p.PID == peer {
			continue
		}
		if p.Rel == "" {
			if peer != 0 && parentPID(p.PID) == peer {
				continue // a child of the peer on its way into a container
			}
			r.Orphans = append(r.Orphans, fmt.Sprintf("%s: pid %d (%s) in the host's cgroup, not the peer", h.Name, p.PID, p.Comm))
			continue
		}
		containers++
		paths = append(paths, p.Rel)
		ok := false
		for id := range running {
			if strings.Contains(p.Rel, id) {
				ok = true
				break
			}
		}
		if ok {
			matched++
			continue
		}
		r.Orphans = append(r.Orphans, fmt.Sprintf("%s: pid %d (%s) in cgroup %s: no live peer reports an allocation running there", h.Name, p.PID, p.Comm, p.Rel))
	}
	for id := range running {
		if !slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(p, id) }) {
			r.Ghosts = append(r.Ghosts, fmt.Sprintf("%s: allocation %s reported running, but no process of it runs there", h.Name, id))
		}
	}
	return matched, containers
}

// slot is an allocation's deterministic slot, "job/group[index]".
func slot(a api.Alloc) string { return fmt.Sprintf("%s/%s[%d]", a.JobID, a.TaskGroup, a.Index) }

// running reports whether an allocation's task runs, whatever its desired status.
func running(a api.Alloc) bool { return a.ClientStatus == "running" }

// parentPID returns pid's parent, or 0.
func parentPID(pid int) int {
	if f := procStat(pid); len(f) >= 2 {
		n, _ := strconv.Atoi(f[1])
		return n
	}
	return 0
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// WaitFor polls cond every 50 ms until it returns true or timeout passes, and returns how
// long it waited and whether cond held. It measures as well as waits: scenarios report the
// durations; tests never assert on them.
func WaitFor(cond func() bool, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

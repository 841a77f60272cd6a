package node

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// This file is the HTTP API's backend: every answer comes from the replicated state,
// so any peer answers for the whole cluster.

var _ backend = (*Node)(nil)

// rowKey names one allocation row: its owner and its key.
type rowKey struct{ owner, id string }

// decodedRow is a row as rangeAllocs last decoded it, with the bytes it came from.
type decodedRow struct {
	raw  []byte
	rec  allocRecord
	seen uint64 // the rangeAllocs call that last saw it
}

// rangeAllocs calls fn with every allocation of every peer's table, decoded. Rows
// decode once: the coordinator reads the whole table on every pass and the API on
// every request, while a row changes only with its allocation's status. fn must not
// keep or change what it is given (clone it), nor call back into rangeAllocs.
func (n *Node) rangeAllocs(fn func(a *allocRecord)) {
	n.decodeMu.Lock()
	defer n.decodeMu.Unlock()
	if n.decoded == nil {
		n.decoded = map[rowKey]*decodedRow{}
	}
	n.decodes++
	rows := 0
	for owner, table := range n.allocs.All() {
		for id, b := range table {
			k := rowKey{owner, id}
			d := n.decoded[k]
			if d == nil || !bytes.Equal(d.raw, b) {
				a, err := decodeAlloc(b)
				if err != nil {
					n.log.Debug("unreadable allocation row", "owner", owner, "alloc", id, "err", err)
					continue
				}
				d = &decodedRow{raw: b, rec: a}
				n.decoded[k] = d
			}
			d.seen = n.decodes
			rows++
			fn(&d.rec)
		}
	}
	if len(n.decoded) > rows { // rows gone since: forget them
		for k, d := range n.decoded {
			if d.seen != n.decodes {
				delete(n.decoded, k)
			}
		}
	}
}

// clusterAllocs returns every peer's allocations (copies the caller may change),
// ordered by job, group, index and creation.
func (n *Node) clusterAllocs() []allocRecord { return n.allocsWhere(nil) }

// allocsWhere is clusterAllocs of the allocations keep accepts (all if keep is nil).
func (n *Node) allocsWhere(keep func(a *allocRecord) bool) []allocRecord {
	var out []allocRecord
	n.rangeAllocs(func(a *allocRecord) {
		if keep == nil || keep(a) {
			out = append(out, a.clone())
		}
	})
	slices.SortFunc(out, func(x, y allocRecord) int { return compareAllocs(&x.Alloc, &y.Alloc) })
	return out
}

// compareAllocs orders allocations by job, group, index and creation time.
func compareAllocs(x, y *placement.Alloc) int {
	return cmp.Or(cmp.Compare(x.JobID, y.JobID), cmp.Compare(x.Group, y.Group), cmp.Compare(x.Index, y.Index), x.CreateTime.Compare(y.CreateTime))
}

// showLost marks, for display, the live allocations of peers that are not alive as
// lost: their owner cannot say so itself, and placement already treats them so.
func (n *Node) showLost(recs []allocRecord) []allocRecord {
	alive := map[string]bool{}
	for _, m := range n.g.Members() {
		alive[m.Tags.NodeID] = m.Status == gossip.StatusAlive
	}
	for i := range recs {
		if !recs[i].Terminal() && !alive[recs[i].NodeID] {
			recs[i].ClientStatus = placement.ClientLost
			recs[i].ClientDescription = "its peer is down"
		}
	}
	return recs
}

// jobStatus is Nomad's: dead when stopped (or all allocations of a batch job are
// done), running when any allocation runs, else pending.
func jobStatus(je jobEntry, allocs []allocRecord) string {
	if je.Stop {
		return "dead"
	}
	if je.Job.Periodic != nil {
		return "running" // a parent runs nothing itself; it is alive until stopped, as in Nomad
	}
	running, live := false, false
	for _, a := range allocs {
		if a.ClientStatus == placement.ClientRunning {
			running = true
		}
		if !a.Terminal() {
			live = true
		}
	}
	switch {
	case running:
		return "running"
	case je.Job.Type == jobspec.TypeBatch && !live && len(allocs) > 0:
		return "dead"
	}
	return "pending"
}

// ListJobs implements the API's GET /v1/jobs.
func (n *Node) ListJobs() []api.JobListStub {
	byJob := map[string][]allocRecord{}
	for _, a := range n.showLost(n.clusterAllocs()) {
		byJob[a.JobID] = append(byJob[a.JobID], a)
	}
	out := []api.JobListStub{}
	n.jobs.Range(func(e gossip.Entry) bool {
		if e.Deleted {
			return true
		}
		je, err := n.jobOf(e.Key, e.Value)
		if err != nil {
			return true
		}
		out = append(out, jobStub(je, byJob[e.Key]))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// jobStub is a job's row in GET /v1/jobs.
func jobStub(je jobEntry, allocs []allocRecord) api.JobListStub {
	sum := map[string]int{}
	for _, a := range allocs {
		if a.DesiredStatus == placement.DesiredRun || a.ClientStatus == placement.ClientRunning {
			sum[a.ClientStatus]++
		}
	}
	return api.JobListStub{ID: je.Job.ID, Name: je.Job.Name, Type: je.Job.Type, Version: je.Job.Version,
		Stop: je.Stop, Status: jobStatus(je, allocs), Summary: sum,
		Periodic: je.Job.Periodic != nil, ParentID: je.Job.ParentID, SubmitTime: je.SubmitTime}
}

func (n *Node) lookupJob(id string) (jobEntry, error) {
	je, ok := n.jobEntry(id)
	if !ok {
		return je, fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	return je, nil
}

// GetJob implements GET /v1/job/<id>.
func (n *Node) GetJob(id string) (*api.Job, error) {
	je, err := n.lookupJob(id)
	if err != nil {
		return nil, err
	}
	byJob := map[string][]allocRecord{}
	for _, a := range n.clusterAllocs() {
		byJob[a.JobID] = append(byJob[a.JobID], a)
	}
	allocs := byJob[id]
	out := &api.Job{Job: je.Job, Stop: je.Stop, Status: jobStatus(je, allocs),
		PlacementFailures: n.infoLines("unplaced/" + id), Deployment: n.infoLines("deploying/" + id),
		RevertedFrom: je.RevertedFrom}
	if p := je.Job.Periodic; p == nil {
		out.Stable = !je.Stop && placement.Stable(je.Job, placementAllocs(allocs), time.Now())
	} else {
		if !je.Stop && p.IsEnabled() {
			out.NextLaunch = p.Next(time.Now()).UTC()
		}
		out.Children = n.children(id, byJob)
	}
	return out, nil
}

// infoLines gathers the lines every peer published under key (publishLines).
func (n *Node) infoLines(key string) []string {
	var out []string
	for _, rows := range n.infos.All() {
		if b, ok := rows[key]; ok {
			out = append(out, strings.Split(string(b), "\n")...)
		}
	}
	return out
}

// PromoteJob promotes the canaries of a job's current version: the rollout goes on
// and replaces the old allocations.
func (n *Node) PromoteJob(ctx context.Context, id string) error {
	je, ok := n.jobEntry(id)
	if !ok {
		return fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	switch {
	case !je.Job.HasCanaries():
		return badRequest("job %q has no canaries to promote: no group sets update { canary = N }", id)
	case je.Stop:
		return badRequest("job %q is stopped: nothing to promote", id)
	case je.Promoted:
		return nil
	}
	je.Promoted, je.PromoteTime = true, time.Now()
	n.log.Info("job promoted", "job", id, "version", je.Job.Version)
	return n.putJob(je)
}

// SubmitJob validates a job and writes it to the replicated catalog (and so to every
// peer's store). Resubmitting an unchanged running job keeps its version.
func (n *Node) SubmitJob(ctx context.Context, job *jobspec.Job) (api.JobRegisterResponse, error) {
	job, err := checkedJob(job)
	if err != nil {
		return api.JobRegisterResponse{}, err
	}
	version := uint64(0)
	var stable *jobspec.Job
	if old, ok := n.jobEntry(job.ID); ok {
		if (old.Job.Periodic == nil) != (job.Periodic == nil) {
			was, is := "periodic", "not periodic"
			if old.Job.Periodic == nil {
				was, is = "not periodic", "periodic"
			}
			return api.JobRegisterResponse{}, badRequest("job %q exists and is %s; this version is %s: as in Nomad, a job cannot be changed to or from periodic; purge it first (peer job stop -purge %s)", job.ID, was, is, job.ID)
		}
		job.Version = old.Job.Version
		if !old.Stop && old.Job.Hash() == job.Hash() {
			return api.JobRegisterResponse{JobID: job.ID, Version: old.Job.Version}, nil
		}
		version = old.Job.Version + 1
		stable = n.stableVersion(old)
	}
	job.Version = version
	if err := n.putJob(jobEntry{Job: job, SubmitTime: time.Now(), Stable: stable}); err != nil {
		return api.JobRegisterResponse{}, err
	}
	n.metrics.submitted.Inc()
	n.log.Info("job submitted", "job", job.ID, "version", version)
	return api.JobRegisterResponse{JobID: job.ID, Version: version}, nil
}

func placementAllocs(recs []allocRecord) []placement.Alloc {
	out := make([]placement.Alloc, len(recs))
	for i, a := range recs {
		out[i] = a.Alloc
	}
	return out
}

// stableVersion is what a job's next version remembers as stable: the current
// version if it fully rolled out, else the one the current version remembered.
func (n *Node) stableVersion(cur jobEntry) *jobspec.Job {
	if !cur.Stop && placement.Stable(cur.Job, placementAllocs(n.clusterAllocs()), time.Now()) {
		return cur.Job
	}
	return cur.Stable
}

// autoRevert resubmits a job's last stable version after a rollout of the current
// one failed (update.auto_revert), as a new version. Nothing happens when no version
// was stable yet, or when the current one already runs the stable groups.
// Each failed version is handled once: the coordinator reconciles the job again on
// every change while its rollout stays failed.
func (n *Node) autoRevert(je jobEntry, why string) {
	key := fmt.Sprintf("%s@%d", je.Job.ID, je.Job.Version)
	if _, done := n.revertsDone.LoadOrStore(key, true); done {
		return
	}
	log := n.log.With("job", je.Job.ID, "version", je.Job.Version)
	st := je.Stable
	if st == nil {
		log.Warn("rollout failed and auto_revert has no stable version to go back to", "why", why)
		return
	}
	same := len(st.Groups) == len(je.Job.Groups)
	for _, g := range je.Job.Groups {
		sg := st.LookupGroup(g.Name)
		same = same && sg != nil && placement.GroupHash(sg) == placement.GroupHash(g)
	}
	if same {
		return
	}
	job := cloneJob(st)
	job.Version = je.Job.Version + 1
	log.Warn("rollout failed: reverting to the last stable version", "stable_version", st.Version, "new_version", job.Version, "why", why)
	if err := n.putJob(jobEntry{Job: job, SubmitTime: time.Now(), Stable: st, RevertedFrom: je.Job.Version}); err != nil {
		log.Error("reverting", "err", err)
		n.revertsDone.Delete(key) // the next pass tries again
	}
}

// checkedJob is a copy of a submitted job with its defaults filled in (a job arriving
// as JSON may leave them out, and must validate and hash like the same job from
// HCL), validated, and with every task's spec checked as the driver will build it.
func checkedJob(job *jobspec.Job) (*jobspec.Job, error) {
	if job == nil {
		return nil, badRequest("no job given")
	}
	job = cloneJob(job)
	job.Canonicalize()
	if err := job.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	for _, g := range job.Groups {
		for _, t := range g.Tasks {
			if _, err := taskSpec("check", 0, job, g, t); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
			}
		}
	}
	return job, nil
}

// PlanJob implements POST /v1/job/<id>/plan: what submitting job would do, changing
// nothing (placement.PlanJob over this peer's view of the cluster).
func (n *Node) PlanJob(ctx context.Context, job *jobspec.Job) (api.JobPlan, error) {
	job, err := checkedJob(job)
	if err != nil {
		return api.JobPlan{}, err
	}
	plan := api.JobPlan{JobID: job.ID}
	if old, ok := n.jobEntry(job.ID); ok {
		plan.Exists, plan.CurrentVersion = true, old.Job.Version
		if !old.Stop && old.Job.Hash() == job.Hash() {
			plan.Version = old.Job.Version
			return plan, nil // nothing would change
		}
		job.Version = old.Job.Version + 1
	}
	plan.Version = job.Version
	if job.Periodic != nil {
		// A parent places nothing; each child is placed when it is launched.
		if job.Periodic.IsEnabled() {
			plan.NextPeriodicLaunch = job.Periodic.Next(time.Now()).UTC()
		}
		return plan, nil
	}
	v := n.snapshot()
	var all []placement.Alloc
	for _, as := range v.allocs {
		all = append(all, as...)
	}
	for _, g := range placement.PlanJob(job, all, v.nodes, v.now) {
		plan.Groups = append(plan.Groups, api.GroupPlan(g))
	}
	return plan, nil
}

func (n *Node) putJob(je jobEntry) error {
	b, err := encodeJob(je)
	if err != nil {
		return err
	}
	n.replicate(n.jobs.Put(je.Job.ID, b))
	return nil
}

// replicate hands a job entry to up to two other alive peers directly and waits
// until one holds it (or BidTimeout passes), so that a job a user was told is
// submitted survives this peer dying the next instant. Gossip spreads it further.
func (n *Node) replicate(e gossip.Entry) {
	var targets []string
	for _, m := range n.g.Members() {
		if m.Status == gossip.StatusAlive && m.Name != n.cfg.Name {
			targets = append(targets, m.Name)
		}
	}
	if len(targets) == 0 {
		return
	}
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	targets = targets[:min(2, len(targets))]
	ctx, cancel := context.WithTimeout(context.Background(), max(n.cfg.BidTimeout, 3*time.Second))
	defer cancel()
	acked := make(chan error, len(targets))
	for _, t := range targets {
		go func() { acked <- n.call(ctx, t, rpcJobPut, e, nil) }()
	}
	for range targets {
		if err := <-acked; err == nil {
			return
		} else {
			n.log.Debug("replicating job entry", "job", e.Key, "err", err)
		}
	}
	n.log.Warn("no peer acknowledged the job entry; gossip will spread it", "job", e.Key)
}

// cloneJob deep-copies a job through its JSON form (which round-trips, per jobspec).
func cloneJob(j *jobspec.Job) *jobspec.Job {
	b, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	var out jobspec.Job
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}

// StopJob marks a job stopped (its allocations are stopped by their owners), or with
// purge removes it from the catalog.
func (n *Node) StopJob(ctx context.Context, id string, purge bool) error {
	je, ok := n.jobEntry(id)
	if !ok {
		return fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	if purge {
		n.replicate(n.jobs.Delete(id))
		n.log.Info("job purged", "job", id)
		return nil
	}
	if je.Stop {
		return nil
	}
	je.Job = cloneJob(je.Job)
	je.Job.Version++
	je.Stop, je.StopTime = true, time.Now()
	n.log.Info("job stopped", "job", id)
	return n.putJob(je)
}

// ScaleJob sets one group's count as a new job version.
func (n *Node) ScaleJob(ctx context.Context, id, group string, count int) error {
	je, ok := n.jobEntry(id)
	if !ok {
		return fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	job := cloneJob(je.Job)
	g := job.LookupGroup(group)
	if g == nil {
		var names []string
		for _, g := range job.Groups {
			names = append(names, g.Name)
		}
		return badRequest("job %q has no group %q (groups: %s)", id, group, strings.Join(names, ", "))
	}
	if job.Type == jobspec.TypeSystem {
		return badRequest("job %q is a system job: it runs one allocation on every peer and cannot be scaled", id)
	}
	if g.Count == count && !je.Stop {
		return nil
	}
	g.Count = count
	job.Version++
	n.log.Info("job scaled", "job", id, "group", group, "count", count)
	return n.putJob(jobEntry{Job: job, SubmitTime: time.Now(), Stable: n.stableVersion(je)})
}

// JobAllocs implements GET /v1/job/<id>/allocations.
func (n *Node) JobAllocs(id string) ([]api.Alloc, error) {
	_, known := n.jobEntry(id)
	out := []api.Alloc{}
	for _, a := range n.showLost(n.allocsWhere(func(a *allocRecord) bool { return a.JobID == id })) {
		out = append(out, a.api())
	}
	if !known && len(out) == 0 {
		return nil, fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	return out, nil
}

func (n *Node) findAlloc(id string) (allocRecord, error) {
	all := n.showLost(n.clusterAllocs())
	ids := make([]string, len(all))
	for i, a := range all {
		ids[i] = a.ID
	}
	full, err := lookupPrefix(id, ids)
	if errors.Is(err, ErrNotFound) {
		return allocRecord{}, fmt.Errorf("allocation: %w (or collected: a peer forgets a terminal allocation alloc_gc_threshold after it ended, or beyond gc_max_allocs)", err)
	}
	if err != nil {
		return allocRecord{}, fmt.Errorf("allocation: %w", err)
	}
	for _, a := range all {
		if a.ID == full {
			return a, nil
		}
	}
	return allocRecord{}, fmt.Errorf("%w: allocation %q", ErrNotFound, id)
}

// GetAlloc implements GET /v1/allocation/<id>; id may be a unique prefix.
func (n *Node) GetAlloc(id string) (api.Alloc, error) {
	a, err := n.findAlloc(id)
	return a.api(), err
}

// AllocLogs copies a task's log to w: from the driver when the allocation is local,
// else from its owner's HTTP API.
func (n *Node) AllocLogs(ctx context.Context, id, task, stream string, follow bool, w io.Writer) error {
	a, err := n.findAlloc(id)
	if err != nil {
		return err
	}
	if task == "" {
		if je, ok := n.jobEntry(a.JobID); ok {
			if g := je.Job.LookupGroup(a.Group); g != nil && len(g.Tasks) == 1 {
				task = g.Tasks[0].Name
			}
		}
		if task == "" {
			return badRequest("allocation %s has several tasks: name one", a.ID)
		}
	}
	if a.NodeID != n.id {
		return n.proxyLogs(ctx, a, task, stream, follow, w)
	}
	rc, err := n.drv.Logs(taskID(a.ID, task), stream, follow)
	if err != nil {
		if strings.Contains(err.Error(), exec.ErrNotFound.Error()) {
			return fmt.Errorf("%w: task %q of allocation %s has no logs on this peer", ErrNotFound, task, a.ID)
		}
		return err
	}
	defer rc.Close()
	go func() { <-ctx.Done(); rc.Close() }()
	_, err = io.Copy(w, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (n *Node) proxyLogs(ctx context.Context, a allocRecord, task, stream string, follow bool, w io.Writer) error {
	base, err := n.peerAPI(a)
	if err != nil {
		return err
	}
	q := url.Values{"task": {task}, "type": {stream}}
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/allocation/"+a.ID+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reading logs from %s: %w", a.NodeName, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, strings.TrimSpace(string(msg)))
		}
		return fmt.Errorf("logs from %s: %s", a.NodeName, strings.TrimSpace(string(msg)))
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// nodeInfos decodes every peer's published nodeInfo, by peer name.
func (n *Node) nodeInfos() map[string]nodeInfo {
	n.decodeMu.Lock()
	defer n.decodeMu.Unlock()
	out := map[string]nodeInfo{}
	cache := make(map[string]decodedInfo, len(n.infoCache))
	for owner, rows := range n.infos.All() {
		b, ok := rows["info"]
		if !ok {
			continue
		}
		d, ok := n.infoCache[owner]
		if !ok || !bytes.Equal(d.raw, b) {
			d = decodedInfo{raw: b}
			if json.Unmarshal(b, &d.info) != nil {
				continue
			}
		}
		cache[owner] = d
		out[owner] = d.info
	}
	n.infoCache = cache
	return out
}

// decodedInfo is a peer's published nodeInfo as nodeInfos last decoded it, with the
// bytes it came from. Its maps are shared by every caller: nobody changes them.
type decodedInfo struct {
	raw  []byte
	info nodeInfo
}

func memberStatus(s gossip.MemberStatus) string {
	switch s {
	case gossip.StatusAlive:
		return "ready"
	case gossip.StatusLeft, gossip.StatusLeaving:
		return "left"
	}
	return "down"
}

// ListNodes implements GET /v1/nodes.
func (n *Node) ListNodes() []api.Node {
	infos := n.nodeInfos()
	running := map[string]int{}
	for _, a := range n.clusterAllocs() {
		if !a.Terminal() {
			running[a.NodeID]++
		}
	}
	out := []api.Node{}
	for _, m := range n.g.Members() {
		info := infos[m.Name]
		elig := "eligible"
		if !m.Tags.Eligible {
			elig = "ineligible"
		}
		host, _, _ := strings.Cut(m.Addr, ":")
		out = append(out, api.Node{
			ID: m.Tags.NodeID, Name: m.Name, Address: host, HTTPAddr: info.HTTPAddr,
			Datacenter: m.Tags.Datacenter, Class: m.Tags.Class, Status: memberStatus(m.Status),
			SchedulingEligibility: elig, Drain: m.Tags.Draining,
			CPUTotal: int(m.Tags.CPUTotal), CPUFree: int(m.Tags.CPUFree),
			MemoryTotalMB: int(m.Tags.MemTotalMB), MemoryFreeMB: int(m.Tags.MemFreeMB),
			Attributes: info.Attributes, Meta: info.Meta, HostVolumes: apiHostVolumes(info.HostVolumes),
			Allocs: running[m.Tags.NodeID],
		})
	}
	return out
}

// GetNode implements GET /v1/node/<id>: id, unique id prefix, or name.
func (n *Node) GetNode(id string) (api.Node, error) {
	nodes := n.ListNodes()
	var ids []string
	for _, nd := range nodes {
		if nd.Name == id {
			return nd, nil
		}
		ids = append(ids, nd.ID)
	}
	full, err := lookupPrefix(id, ids)
	if err != nil {
		return api.Node{}, fmt.Errorf("node: %w", err)
	}
	for _, nd := range nodes {
		if nd.ID == full {
			return nd, nil
		}
	}
	return api.Node{}, fmt.Errorf("%w: node %q", ErrNotFound, id)
}

// nodeSetRequest is the "node.set" RPC: change a peer's drain or eligibility flag.
type nodeSetRequest struct {
	Drain    *bool
	Eligible *bool
}

// SetDrain implements POST /v1/node/<id>/drain.
func (n *Node) SetDrain(ctx context.Context, id string, enable bool) error {
	return n.setNode(ctx, id, nodeSetRequest{Drain: &enable})
}

// SetEligibility implements POST /v1/node/<id>/eligibility.
func (n *Node) SetEligibility(ctx context.Context, id string, eligible bool) error {
	return n.setNode(ctx, id, nodeSetRequest{Eligible: &eligible})
}

func (n *Node) setNode(ctx context.Context, id string, req nodeSetRequest) error {
	nd, err := n.GetNode(id)
	if err != nil {
		return err
	}
	if nd.ID == n.id {
		n.applyNodeSet(req)
		return nil
	}
	if nd.Status != "ready" {
		return fmt.Errorf("node %s is %s: it cannot be changed until it is back", nd.Name, nd.Status)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.call(ctx, nd.Name, rpcNodeSet, req, nil)
}

// applyNodeSet changes this peer's own flags and advertises them at once. Draining
// also makes the peer ineligible, as in Nomad; turning drain off makes it eligible.
func (n *Node) applyNodeSet(req nodeSetRequest) {
	n.mu.Lock()
	if req.Drain != nil {
		n.draining = *req.Drain
		n.eligible = !*req.Drain
	}
	if req.Eligible != nil {
		n.eligible = *req.Eligible
	}
	n.mu.Unlock()
	if err := n.g.SetTagsNow(n.tags()); err != nil {
		n.log.Warn("advertising node flags", "err", err)
	}
	n.wake()
}

// Self implements GET /v1/agent/self.
func (n *Node) Self() api.AgentSelf {
	n.mu.Lock()
	own := len(n.local)
	n.mu.Unlock()
	jobs := 0
	n.jobs.Range(func(e gossip.Entry) bool {
		if !e.Deleted {
			jobs++
		}
		return true
	})
	return api.AgentSelf{Name: n.cfg.Name, NodeID: n.id, Version: Version, Datacenter: n.cfg.Datacenter,
		Address: n.advertiseAddr(), HTTPAddr: n.HTTPAddr(), Members: len(n.g.Members()), Jobs: jobs, Allocs: own}
}

// Members implements GET /v1/agent/members.
func (n *Node) Members() []api.Member {
	out := []api.Member{}
	for _, m := range n.g.Members() {
		out = append(out, api.Member{Name: m.Name, ID: m.Tags.NodeID, Addr: m.Addr, Status: string(m.Status), DC: m.Tags.Datacenter})
	}
	return out
}

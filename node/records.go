package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// Names of the replicated structures in gossip.
const (
	mapJobs    = "jobs"   // LWW map: job id -> jobEntry
	tableAlloc = "allocs" // single-writer table: alloc id -> allocRecord, owned by the runner's peer
	tableNode  = "node"   // single-writer table: "info" -> nodeInfo, each peer's own attributes
)

// jobEntry is the value of a job in the replicated catalog. A stop keeps the job
// with Stop set (Nomad's "dead" job); a purge deletes the key (an LWW tombstone).
type jobEntry struct {
	Job        *jobspec.Job
	Stop       bool
	SubmitTime time.Time
	// StopTime is when Stop was set (zero for a job stopped before it was kept):
	// job_gc_threshold counts from it.
	StopTime time.Time `json:",omitempty"`
	// Promoted: a user promoted the canaries of this version (`peer job promote`),
	// at PromoteTime. A new version starts unpromoted.
	Promoted    bool      `json:",omitempty"`
	PromoteTime time.Time `json:",omitempty"`
	// Stable is the job's last version that fully rolled out (placement.Stable), as
	// it was when the next version was submitted: what auto_revert goes back to.
	Stable *jobspec.Job `json:",omitempty"`
	// RevertedFrom is the version whose failed rollout auto_revert undid by
	// resubmitting Stable as this version.
	RevertedFrom uint64 `json:",omitempty"`
}

func encodeJob(e jobEntry) ([]byte, error) { return json.Marshal(e) }

func decodeJob(b []byte) (jobEntry, error) {
	var e jobEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decoding job entry: %w", err)
	}
	if e.Job == nil {
		return e, fmt.Errorf("decoding job entry: no job")
	}
	return e, nil
}

// cachedJob is a catalog entry as jobOf last decoded it, with the bytes it came from.
type cachedJob struct {
	raw   []byte
	entry jobEntry
}

// jobOf is decodeJob of the catalog's entry for key, decoded once per change: the
// coordinator reads every job on every pass, and the API on every request. The jobs
// it returns are shared, as a runner's job is: whoever changes one clones it first
// (cloneJob).
func (n *Node) jobOf(key string, b []byte) (jobEntry, error) {
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	if c, ok := n.jobCache[key]; ok && bytes.Equal(c.raw, b) {
		return c.entry, nil
	}
	je, err := decodeJob(b)
	if err != nil {
		return je, err
	}
	if n.jobCache == nil {
		n.jobCache = map[string]cachedJob{}
	}
	n.jobCache[key] = cachedJob{raw: b, entry: je}
	return je, nil
}

// forgetJobs drops the decoded jobs the catalog no longer holds.
func (n *Node) forgetJobs(held map[string]bool) {
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	maps.DeleteFunc(n.jobCache, func(key string, _ cachedJob) bool { return !held[key] })
}

// allocRecord is what an owner publishes about one of its allocations: placement's
// Alloc plus what only people read.
type allocRecord struct {
	placement.Alloc
	NodeName          string
	ClientDescription string                     `json:",omitempty"`
	TaskStates        map[string]api.TaskState   `json:",omitempty"`
	PortMap           map[string]int             `json:",omitempty"` // port label -> host port (static or dynamic)
	Checks            map[string]api.CheckStatus `json:",omitempty"` // "<service>/<check>" -> last status change
	HostIP            string                     `json:",omitempty"` // the address the ports are on
	NetworkMode       string                     `json:",omitempty"` // the group's network mode: "bridge", else host networking
	PortTo            map[string]int             `json:",omitempty"` // bridge mode: port label -> port inside the allocation
	AllocIP           string                     `json:",omitempty"` // bridge mode: the allocation's address on the peer's bridge
	Completed         map[string]bool            `json:",omitempty"` // tasks that ran to completion (exit 0): never started again
	// Hooks are the lifecycle hooks of the group's tasks in the job version the
	// allocation runs (task -> "prestart", "poststop sidecar", ...; main tasks
	// absent): the catalog keeps only the job's current and last stable versions.
	Hooks map[string]string `json:",omitempty"`
}

func encodeAlloc(a allocRecord) []byte {
	b, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("encoding alloc %s: %v", a.ID, err)) // only plain data: cannot fail
	}
	return b
}

func decodeAlloc(b []byte) (allocRecord, error) {
	var a allocRecord
	err := json.Unmarshal(b, &a)
	return a, err
}

// clone returns a copy that shares no maps or slices with a.
func (a allocRecord) clone() allocRecord {
	a.TaskStates = maps.Clone(a.TaskStates)
	a.PortMap = maps.Clone(a.PortMap)
	a.PortTo = maps.Clone(a.PortTo)
	a.Checks = maps.Clone(a.Checks)
	a.Completed = maps.Clone(a.Completed)
	a.Hooks = maps.Clone(a.Hooks)
	a.Alloc = a.Alloc.Clone()
	return a
}

func (a allocRecord) api() api.Alloc {
	return api.Alloc{
		ID: a.ID, JobID: a.JobID, TaskGroup: a.Group, Index: a.Index, Slot: a.Slot(),
		NodeID: a.NodeID, NodeName: a.NodeName, ClientStatus: a.ClientStatus, DesiredStatus: a.DesiredStatus,
		ClientDescription: a.ClientDescription, DesiredDescription: a.DesiredDescription,
		JobVersion: a.JobVersion, Canary: a.Canary, CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
		RestartCount: a.RestartCount, PreviousAlloc: a.PreviousAlloc, TaskStates: a.TaskStates,
		Ports: a.ports(), Checks: a.checks(), NetworkMode: a.NetworkMode, AllocIP: a.AllocIP,
		TaskLifecycles: a.Hooks,
	}
}

// checks lists the allocation's service checks by service and name.
func (a allocRecord) checks() []api.CheckStatus {
	var cs []api.CheckStatus
	for _, c := range a.Checks {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(x, y api.CheckStatus) int {
		return strings.Compare(x.Service+"/"+x.Name, y.Service+"/"+y.Name)
	})
	return cs
}

// ports lists the allocation's ports by label.
func (a allocRecord) ports() []api.Port {
	var ps []api.Port
	for label, v := range a.PortMap {
		ps = append(ps, api.Port{Label: label, Value: v, HostIP: a.HostIP, To: a.PortTo[label]})
	}
	slices.SortFunc(ps, func(x, y api.Port) int { return strings.Compare(x.Label, y.Label) })
	return ps
}

// nodeInfo is what a peer publishes about itself beyond its serf tags (which are
// limited to 512 bytes): the attributes and meta constraints select on.
type nodeInfo struct {
	Name       string
	HTTPAddr   string
	Attributes map[string]string
	Meta       map[string]string
	// HostVolumes are the peer's host volumes by name (path and read_only).
	HostVolumes map[string]placement.HostVolume `json:",omitempty"`
}

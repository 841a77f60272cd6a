package placement

import (
	"slices"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// Node is one peer as placement sees it: the identity, attributes and capacity it
// advertises in gossip, and what the member list says about its liveness.
//
// A Node is a value; placement never keeps or mutates one. CPUFree and MemoryFreeMB
// are the *advertised* free capacity (possibly stale): coordinators filter candidates
// with them, while a bidder computes its exact free capacity from its own allocations
// (see MakeBid and FreeResources).
type Node struct {
	ID         string
	Name       string
	Datacenter string
	Class      string
	Attributes map[string]string
	Meta       map[string]string
	// HostVolumes are the host volumes the peer's config declares, by name.
	HostVolumes map[string]HostVolume

	CPUTotal      int // MHz available to allocations
	MemoryTotalMB int // MiB available to allocations
	CPUFree       int // advertised free MHz
	MemoryFreeMB  int // advertised free MiB

	Eligible bool // scheduling eligibility, set by the operator
	Alive    bool // the member list believes the peer is alive
	Draining bool // the operator asked its allocations to move away
}

// HostVolume is a directory a peer offers to allocations under a name (Nomad's client
// host_volume); a group's volume block asks for one by that name.
type HostVolume struct {
	Path     string
	ReadOnly bool // allocations may only mount it read-only
}

// Schedulable reports whether new allocations may go to n: alive, eligible, not draining.
func (n *Node) Schedulable() bool { return n.Alive && n.Eligible && !n.Draining }

// Desired statuses of an allocation: what its coordinator wants.
const (
	DesiredRun  = "run"
	DesiredStop = "stop"
)

// Client statuses of an allocation: what its owner observes.
const (
	ClientPending  = "pending"
	ClientRunning  = "running"
	ClientComplete = "complete"
	ClientFailed   = "failed"
	ClientLost     = "lost"
)

// Epoch fences a job's coordinators: a coordinator acts under an epoch higher than any it
// has seen for the job, and peers refuse offers and awards carrying a lower one.
type Epoch uint64

// Alloc is one placed instance of a task group: the record its owner (the peer in NodeID)
// stores, publishes to the cluster, and shows in the API. It fills the slot
// "job/group[index]"; system jobs use index 0 on every peer (their slot is the peer).
//
// An Alloc is a value. Only its owner writes it; placement only reads it.
type Alloc struct {
	ID         string
	JobID      string
	Group      string
	Index      int
	JobVersion uint64
	SpecHash   string // GroupHash of the group it runs (from Placement.SpecHash)
	NodeID     string

	DesiredStatus      string // DesiredRun or DesiredStop
	DesiredDescription string // why, when DesiredStop
	ClientStatus       string // ClientPending, ClientRunning, ClientComplete, ClientFailed or ClientLost

	Resources jobspec.Resources // per instance: the group's TotalResources when placed
	Ports     []int             // static host ports the allocation holds

	CreateTime time.Time
	ModifyTime time.Time // last change of ClientStatus
	StartedAt  time.Time // when ClientStatus last became running (zero if never)

	// ChecksPassingSince is when every service check of the allocation last started
	// passing; zero while any fails or none has run (see Alloc.healthy).
	ChecksPassingSince time.Time `json:",omitzero"`

	RestartCount  int
	Reschedules   []time.Time // times this slot was rescheduled after failures, oldest first
	PreviousAlloc string      // the allocation this one replaced, if any
	Epoch         Epoch       // the coordinator epoch it was awarded under
	// Canary marks a new-version allocation placed beside its slot's old one, before
	// the rollout was promoted (update.canary).
	Canary bool `json:",omitempty"`
}

// Clone returns a copy of a that shares nothing with it.
func (a Alloc) Clone() Alloc {
	a.Reschedules = slices.Clone(a.Reschedules)
	a.Ports = slices.Clone(a.Ports)
	return a
}

// Slot returns the slot a fills: "job/group[index]".
func (a *Alloc) Slot() string { return jobspec.SlotName(a.JobID, a.Group, a.Index) }

// Terminal reports whether a is over: asked to stop, or finished, failed or lost.
// A terminal allocation fills no slot (while stopping it may still hold resources:
// see HoldsResources).
func (a *Alloc) Terminal() bool {
	if a.DesiredStatus == DesiredStop {
		return true
	}
	switch a.ClientStatus {
	case ClientComplete, ClientFailed, ClientLost:
		return true
	}
	return false
}

// HoldsResources reports whether a still occupies its peer: pending or running, even if
// asked to stop (its process may take kill_timeout to exit). Capacity and static ports
// count these; slots count only allocations that are not Terminal.
func (a *Alloc) HoldsResources() bool {
	return a.ClientStatus == ClientPending || a.ClientStatus == ClientRunning
}

// healthySince is when a last became healthy, zero if it is not: running, and when
// byChecks (health_check "checks" on a group with service checks) every check
// passing too; healthy counts from the later of the two.
func (a *Alloc) healthySince(byChecks bool) time.Time {
	if a.ClientStatus != ClientRunning || a.StartedAt.IsZero() {
		return time.Time{}
	}
	if !byChecks {
		return a.StartedAt
	}
	if a.ChecksPassingSince.IsZero() {
		return time.Time{}
	}
	if a.ChecksPassingSince.After(a.StartedAt) {
		return a.ChecksPassingSince
	}
	return a.StartedAt
}

// healthy reports whether a has been healthy (see healthySince) for at least
// minHealthy at now.
func (a *Alloc) healthy(now time.Time, minHealthy time.Duration, byChecks bool) bool {
	since := a.healthySince(byChecks)
	return !since.IsZero() && !now.Before(since.Add(minHealthy))
}

// Usage is an amount of CPU (MHz) and memory (MiB).
type Usage struct {
	CPU      int
	MemoryMB int
}

func usageOf(r jobspec.Resources) Usage { return Usage{CPU: r.CPU, MemoryMB: r.MemoryMB} }

func (u Usage) add(v Usage) Usage    { return Usage{u.CPU + v.CPU, u.MemoryMB + v.MemoryMB} }
func (u Usage) sub(v Usage) Usage    { return Usage{u.CPU - v.CPU, u.MemoryMB - v.MemoryMB} }
func (u Usage) times(k int) Usage    { return Usage{u.CPU * k, u.MemoryMB * k} }
func (u Usage) fits(free Usage) bool { return u.CPU <= free.CPU && u.MemoryMB <= free.MemoryMB }

// Used sums the resources held by the allocations in allocs (see HoldsResources).
func Used(allocs []Alloc) Usage {
	var u Usage
	for i := range allocs {
		if allocs[i].HoldsResources() {
			u = u.add(usageOf(allocs[i].Resources))
		}
	}
	return u
}

// FreeResources is n's exact free capacity given the allocations it runs: its totals
// minus what they hold (see HoldsResources). A peer advertises this as CPUFree/MemoryFreeMB.
func FreeResources(n Node, allocs []Alloc) Usage {
	return Usage{CPU: n.CPUTotal, MemoryMB: n.MemoryTotalMB}.sub(Used(allocs))
}

// NewAlloc is the record a winning peer creates when it accepts an award for p: pending,
// owned by nodeID, under the coordinator's epoch, holding the group's resources and
// static ports, and carrying p's reschedule history. id must be unique (node makes it).
func NewAlloc(job *jobspec.Job, p Placement, id, nodeID string, epoch Epoch, now time.Time) Alloc {
	a := Alloc{ID: id, JobID: job.ID, Group: p.Group, Index: p.Index, JobVersion: p.JobVersion,
		SpecHash: p.SpecHash, NodeID: nodeID, DesiredStatus: DesiredRun, ClientStatus: ClientPending,
		CreateTime: now, ModifyTime: now, Reschedules: p.Reschedules, PreviousAlloc: p.PreviousAlloc, Epoch: epoch,
		Canary: p.Canary}
	if g := job.LookupGroup(p.Group); g != nil {
		a.Resources = g.TotalResources()
		a.Ports = NewStack(job, g).ports
	}
	return a
}

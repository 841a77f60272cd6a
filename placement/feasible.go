package placement

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
)

// Feasibility is a chain of small stages, each answering one question about one peer
// for one task group, each testable alone, each rejection carrying a reason:
//
//	status      -> alive, eligible, not draining?
//	datacenter  -> in one of the job's datacenters ("*" globs)?
//	constraints -> every node-local constraint of the job and group holds?
//	volumes     -> every host volume the group asks for, writable where it must be?
//	capacity    -> enough CPU and memory (advertised, or exact on the bidder)?
//	ports       -> no static port the group needs already held on the peer?
//	distinct    -> distinct_hosts: no allocation of this job/group already here?
//
// distinct_property needs the whole cluster's allocations, so the coordinator enforces
// it while awarding (see Award), from BidRequest.PropertyCounts.

// Feasibility stage names, carried in Rejection.Stage.
const (
	StageStatus     = "status"
	StageDatacenter = "datacenter"
	StageConstraint = "constraint"
	StageVolumes    = "volumes"
	StageCapacity   = "capacity"
	StagePorts      = "ports"
	StageDistinct   = "distinct"
)

// Rejection says why a peer cannot take an instance of a group.
type Rejection struct {
	NodeID string
	Stage  string
	// Reason is the same for every peer rejected for the same cause, phrased to follow
	// "N peers": "lack free memory", "fail constraint ${node.class} = gpu". Explain
	// counts peers by it.
	Reason string
	// Detail is this peer's particulars: "needs 512 MiB, has 256 MiB free".
	Detail string
}

func (r Rejection) String() string {
	s := "peer " + r.NodeID + ": " + singular(r.Reason)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// Stack is the feasibility chain for one task group of one job, compiled once per
// decision (constraints parsed, resources summed). It is immutable after NewStack and
// safe to share.
type Stack struct {
	job   *jobspec.Job
	group *jobspec.Group
	need  Usage
	ports []int
	// volumes are the labels of the group's volume requests, sorted so that the
	// volumes stage's reason is stable.
	volumes []string

	constraints []constraint // node-local ones
	// distinctHosts is set by a distinct_hosts constraint; jobWide when it is on the job
	// (no two allocations of the job on one peer) rather than on the group.
	distinctHosts, jobWide bool
	distinctProps          []distinctProperty
}

type distinctProperty struct {
	attr    string
	limit   int
	jobWide bool
}

// key is where PropertyCounts counts this property: the group's allocations under the
// attribute, or the whole job's under "job:"+attribute.
func (dp distinctProperty) key() string {
	if dp.jobWide {
		return "job:" + dp.attr
	}
	return dp.attr
}

// NewStack compiles the feasibility chain for group of job.
func NewStack(job *jobspec.Job, group *jobspec.Group) *Stack {
	s := &Stack{job: job, group: group, need: usageOf(group.TotalResources()), volumes: slices.Sorted(maps.Keys(group.Volumes))}
	if group.Network != nil {
		for _, p := range group.Network.Ports {
			if p.Static > 0 {
				s.ports = append(s.ports, p.Static)
			}
		}
	}
	add := func(cs []jobspec.Constraint, jobLevel bool) {
		for _, jc := range cs {
			c := compileConstraint(jc)
			switch {
			case c.err == nil && c.Operand == OpDistinctHosts:
				if v, _ := strconv.ParseBool(strings.TrimSpace(jc.RTarget)); v || jc.RTarget == "" {
					s.distinctHosts = true
					s.jobWide = s.jobWide || jobLevel
				}
			case c.err == nil && c.Operand == OpDistinctProp:
				limit := 1
				if n, err := strconv.Atoi(strings.TrimSpace(jc.RTarget)); err == nil && n > 0 {
					limit = n
				}
				s.distinctProps = append(s.distinctProps, distinctProperty{jc.LTarget, limit, jobLevel})
			default:
				s.constraints = append(s.constraints, c)
			}
		}
	}
	add(job.Constraints, true)
	add(group.Constraints, false)
	return s
}

// Need is what one instance of the group holds on a peer.
func (s *Stack) Need() Usage { return s.need }

// CheckNode runs the stages that the advertised view can answer: status, datacenter,
// constraints and advertised capacity. A coordinator uses it to choose whom to ask.
func (s *Stack) CheckNode(n *Node) (Rejection, bool) {
	return s.check(n, Usage{n.CPUFree, n.MemoryFreeMB}, nil, nil, modeView)
}

// CheckEmpty runs CheckNode's stages as if the peer ran nothing: whether it could
// take the group at all (status, datacenter, constraints, volumes, total capacity).
// A rolling update stops no old allocation for a version no peer could take.
func (s *Stack) CheckEmpty(n *Node) (Rejection, bool) {
	return s.check(n, Usage{n.CPUTotal, n.MemoryTotalMB}, nil, nil, modeView)
}

// CheckFit runs the stages that do not depend on capacity or on other allocations:
// status, datacenter and constraints. System jobs use it to decide which peers must run
// them (a peer already running the job has no free capacity for a second copy).
func (s *Stack) CheckFit(n *Node) (Rejection, bool) {
	return s.check(n, Usage{}, nil, nil, modeFit)
}

// CheckLocal runs the whole chain as a bidder does, from its exact local state: the
// free capacity it computed, and the allocations it runs and ports it has reserved
// (for static ports and distinct_hosts).
func (s *Stack) CheckLocal(n *Node, allocs []Alloc, free Usage, reservedPorts []int) (Rejection, bool) {
	return s.check(n, free, allocs, reservedPorts, modeLocal)
}

// state is what the stages look at besides the peer itself.
type state struct {
	free          Usage
	allocs        []Alloc
	reservedPorts []int
}

// mode says how much of the chain runs: up to the constraints (modeFit), up to
// advertised capacity (modeView), or everything, on a bidder's exact state (modeLocal).
type mode int

const (
	modeFit mode = iota
	modeView
	modeLocal
)

// chain is the feasibility chain, in order: cheap and common rejections first. Each
// stage runs in its mode and the richer ones.
var chain = [...]struct {
	name  string
	mode  mode
	check func(s *Stack, n *Node, st *state) (reason, detail string)
}{
	{StageStatus, modeFit, func(_ *Stack, n *Node, _ *state) (string, string) { return checkStatus(n) }},
	{StageDatacenter, modeFit, func(s *Stack, n *Node, _ *state) (string, string) { return checkDatacenter(s.job.Datacenters, n) }},
	{StageConstraint, modeFit, func(s *Stack, n *Node, _ *state) (string, string) { return s.checkConstraints(n) }},
	{StageVolumes, modeFit, func(s *Stack, n *Node, _ *state) (string, string) { return checkVolumes(s.group, s.volumes, n) }},
	{StageCapacity, modeView, func(s *Stack, n *Node, st *state) (string, string) { return checkCapacity(s.need, n, st.free) }},
	{StagePorts, modeLocal, func(s *Stack, _ *Node, st *state) (string, string) {
		return checkPorts(s.ports, st.allocs, st.reservedPorts)
	}},
	{StageDistinct, modeLocal, func(s *Stack, _ *Node, st *state) (string, string) { return s.checkDistinctHosts(st.allocs) }},
}

func (s *Stack) check(n *Node, free Usage, allocs []Alloc, reservedPorts []int, m mode) (Rejection, bool) {
	st := state{free, allocs, reservedPorts}
	for _, stage := range chain {
		if stage.mode > m {
			continue
		}
		if reason, detail := stage.check(s, n, &st); reason != "" {
			return Rejection{NodeID: n.ID, Stage: stage.name, Reason: reason, Detail: detail}, false
		}
	}
	return Rejection{}, true
}

// checkStatus: only alive, eligible peers that are not draining take new allocations.
func checkStatus(n *Node) (reason, detail string) {
	switch {
	case !n.Alive:
		return "are down", ""
	case !n.Eligible:
		return "are ineligible", ""
	case n.Draining:
		return "are draining", ""
	}
	return "", ""
}

func checkDatacenter(patterns []string, n *Node) (reason, detail string) {
	if matchDatacenter(patterns, n.Datacenter) {
		return "", ""
	}
	return "are not in datacenter " + strings.Join(patterns, " or "), "datacenter is " + strconv.Quote(n.Datacenter)
}

func (s *Stack) checkConstraints(n *Node) (reason, detail string) {
	for i := range s.constraints {
		if reason, detail := s.constraints[i].check(n); reason != "" {
			return reason, detail
		}
	}
	return "", ""
}

// checkVolumes: the peer must offer every host volume the group asks for, and offer
// it writable unless the request is read-only (Nomad's "missing compatible host
// volumes"). Requests are checked in the order of labels (sorted by NewStack).
func checkVolumes(g *jobspec.Group, labels []string, n *Node) (reason, detail string) {
	for _, label := range labels {
		req := g.Volumes[label]
		if req.Type != jobspec.VolumeTypeHost {
			continue // validation refuses other types
		}
		hv, ok := n.HostVolumes[req.Source]
		switch {
		case !ok:
			return "lack host volume " + strconv.Quote(req.Source), "volume " + strconv.Quote(label) + " needs it"
		case hv.ReadOnly && !req.ReadOnly:
			return "have host volume " + strconv.Quote(req.Source) + " read-only",
				"volume " + strconv.Quote(label) + " needs it writable; set read_only = true to mount it read-only"
		}
	}
	return "", ""
}

// checkCapacity compares one instance's need with free. A peer whose total capacity can
// never hold the instance gets its own reason, so "no peer can ever fit this" is visible.
func checkCapacity(need Usage, n *Node, free Usage) (reason, detail string) {
	itoa := strconv.Itoa // details are built for every rejected peer: keep them cheap
	switch {
	case need.CPU > n.CPUTotal:
		return "are too small for " + itoa(need.CPU) + " MHz cpu", "has " + itoa(n.CPUTotal) + " MHz in all"
	case need.MemoryMB > n.MemoryTotalMB:
		return "are too small for " + itoa(need.MemoryMB) + " MiB memory", "has " + itoa(n.MemoryTotalMB) + " MiB in all"
	case need.CPU > free.CPU:
		return "lack free cpu", "needs " + itoa(need.CPU) + " MHz, has " + itoa(free.CPU) + " MHz free"
	case need.MemoryMB > free.MemoryMB:
		return "lack free memory", "needs " + itoa(need.MemoryMB) + " MiB, has " + itoa(free.MemoryMB) + " MiB free"
	}
	return "", ""
}

// checkPorts rejects a peer where a static port the group needs is already held by a
// live allocation or a pending reservation.
func checkPorts(want []int, allocs []Alloc, reserved []int) (reason, detail string) {
	for _, p := range want {
		if slices.Contains(reserved, p) {
			return "have static port " + strconv.Itoa(p) + " in use", "reserved by a pending award"
		}
		for i := range allocs {
			if allocs[i].HoldsResources() && slices.Contains(allocs[i].Ports, p) {
				return "have static port " + strconv.Itoa(p) + " in use", "held by " + allocs[i].Slot()
			}
		}
	}
	return "", ""
}

func (s *Stack) checkDistinctHosts(allocs []Alloc) (reason, detail string) {
	if !s.distinctHosts {
		return "", ""
	}
	for i := range allocs {
		a := &allocs[i]
		if !a.Terminal() && a.JobID == s.job.ID && (s.jobWide || a.Group == s.group.Name) {
			return "host " + a.JobID + " already (distinct_hosts)", "runs " + a.Slot()
		}
	}
	return "", ""
}

// ReasonCount is one line of an explanation: how many peers were rejected for Reason.
type ReasonCount struct {
	Reason string
	Peers  int
}

// Summarise counts rejections by reason, most frequent first (ties by reason).
func Summarise(rejs []Rejection) []ReasonCount {
	counts := make(map[string]int)
	for _, r := range rejs {
		counts[r.Reason]++
	}
	out := make([]ReasonCount, 0, len(counts))
	for reason, n := range counts {
		out = append(out, ReasonCount{reason, n})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		if c := cmp.Compare(b.Peers, a.Peers); c != 0 {
			return c
		}
		return cmp.Compare(a.Reason, b.Reason)
	})
	return out
}

// Explain says why peers were rejected, for `peer job status`:
// "3 peers lack free memory, 2 peers fail constraint ${node.class} = gpu".
func Explain(rejs []Rejection) string {
	var b strings.Builder
	for i, rc := range Summarise(rejs) {
		if i > 0 {
			b.WriteString(", ")
		}
		reason := rc.Reason
		if rc.Peers == 1 {
			reason = singular(reason)
		}
		b.WriteString(nPeers(rc.Peers) + " " + reason)
	}
	return b.String()
}

// nPeers is "1 peer" or "N peers".
func nPeers(n int) string {
	if n == 1 {
		return "1 peer"
	}
	return strconv.Itoa(n) + " peers"
}

// singular turns a reason phrased for "N peers" into one for "1 peer".
func singular(reason string) string {
	verb, rest, _ := strings.Cut(reason, " ")
	forms := map[string]string{"are": "is", "lack": "lacks", "fail": "fails", "have": "has",
		"host": "hosts", "reject": "rejects", "reach": "reaches", "bid": "bids"}
	if s, ok := forms[verb]; ok {
		verb = s
	}
	if rest == "" {
		return verb
	}
	return verb + " " + rest
}

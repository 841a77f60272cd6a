package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

// The peer-to-peer RPC methods. Payloads are JSON (gossip carries them as opaque
// bytes), so a job travels exactly as the API shows it.
const (
	rpcBid     = "bid"      // coordinator -> candidate: placement.BidRequest -> placement.Bid
	rpcAward   = "award"    // coordinator -> winner: awardRequest -> awardResponse
	rpcStop    = "stop"     // coordinator -> owner: stopRequest -> {}
	rpcNodeSet = "node.set" // any peer -> target: nodeSetRequest -> {}
	rpcJobPut  = "job.put"  // submitting peer -> others: gossip.Entry -> {} (synchronous replication)
	rpcRelease = "release"  // coordinator -> bidders that won nothing: request id -> {} (drop the hold)
)

// awardRequest gives a winner slots of a group, under the coordinator's epoch. The
// coordinator chose the allocation ids, so a retried award is idempotent.
type awardRequest struct {
	RequestID string
	JobID     string
	Epoch     placement.Epoch
	Job       *jobspec.Job
	Group     string
	Allocs    []awardedAlloc
	// Coordinator and PassedOver, as in placement.BidRequest: the winner checks the
	// claim to coordinate (placement.OutrankedBy) as bidders do.
	Coordinator string   `json:",omitempty"`
	PassedOver  []string `json:",omitempty"`
}

type awardedAlloc struct {
	ID            string
	Index         int
	PreviousAlloc string
	Reschedules   []time.Time
	SpecHash      string
	Canary        bool `codec:",omitempty"`
}

// placement is the slot a is awarded for, as placement.NewAlloc takes it.
func (a awardedAlloc) placement(group string, version uint64) placement.Placement {
	return placement.Placement{Group: group, Index: a.Index, JobVersion: version, SpecHash: a.SpecHash,
		PreviousAlloc: a.PreviousAlloc, Reschedules: a.Reschedules, Canary: a.Canary}
}

type awardResponse struct {
	Accepted []string // allocation ids created
	Reason   string   // when some were refused
}

// stopRequest asks an allocation's owner to stop it.
type stopRequest struct {
	AllocID string
	JobID   string
	Epoch   placement.Epoch
	Reason  string
}

// errStaleEpoch refuses a message from a coordinator that has been superseded.
var errStaleEpoch = errors.New("stale coordinator epoch")

// errNotCoordinator refuses an award from a coordinator that has not heard of a peer
// that ranks above it for the job (placement.OutrankedBy).
var errNotCoordinator = errors.New("not the job's coordinator")

func (n *Node) registerRPC() {
	handle := func(method string, f func(ctx context.Context, from string, req []byte) (any, error)) {
		n.g.Handle(method, func(ctx context.Context, from string, req []byte) ([]byte, error) {
			resp, err := f(ctx, from, req)
			if err != nil {
				return nil, err
			}
			return json.Marshal(resp)
		})
	}
	handle(rpcBid, func(ctx context.Context, from string, b []byte) (any, error) {
		var req placement.BidRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("bid request: %w", err)
		}
		return n.bid(req)
	})
	handle(rpcAward, func(ctx context.Context, from string, b []byte) (any, error) {
		var req awardRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("award: %w", err)
		}
		return n.accept(req)
	})
	handle(rpcStop, func(ctx context.Context, from string, b []byte) (any, error) {
		var req stopRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("stop: %w", err)
		}
		if !n.observeEpoch(req.JobID, req.Epoch) {
			return nil, n.staleErr(req.JobID, req.Epoch)
		}
		n.stopLocal(req.AllocID, req.Reason)
		return struct{}{}, nil
	})
	handle(rpcJobPut, func(ctx context.Context, from string, b []byte) (any, error) {
		var e gossip.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("job.put: %w", err)
		}
		n.jobs.Load([]gossip.Entry{e}) // merged by LWW; Load fires no callback ...
		if cur, ok := n.jobs.Get(e.Key); (ok && cur.Version == e.Version && cur.Writer == e.Writer) || (!ok && e.Deleted) {
			n.onJobChange(e) // ... so persist and react here
		}
		return struct{}{}, nil
	})
	handle(rpcRelease, func(ctx context.Context, from string, b []byte) (any, error) {
		var id string
		if err := json.Unmarshal(b, &id); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		n.mu.Lock()
		delete(n.holds, id)
		n.mu.Unlock()
		return struct{}{}, nil
	})
	handle(rpcNodeSet, func(ctx context.Context, from string, b []byte) (any, error) {
		var req nodeSetRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("node.set: %w", err)
		}
		n.applyNodeSet(req)
		return struct{}{}, nil
	})
}

// staleErr refuses a message under epoch e, saying which epoch this peer has seen, so
// that a superseded coordinator can catch up at once (see noteStale).
func (n *Node) staleErr(job string, e placement.Epoch) error {
	n.mu.Lock()
	high := n.epochs.Highest(job)
	n.mu.Unlock()
	return fmt.Errorf("%w: job %s epoch %d; highest seen %d", errStaleEpoch, job, e, high)
}

// noteStale handles an RPC error from a peer that refused our epoch: observe the
// epoch it reported and reconcile again at once, under a higher one.
func (n *Node) noteStale(job string, err error) {
	msg := err.Error()
	i := strings.LastIndex(msg, "highest seen ")
	if !strings.Contains(msg, errStaleEpoch.Error()) || i < 0 {
		return
	}
	var high uint64
	if _, err := fmt.Sscan(msg[i+len("highest seen "):], &high); err != nil {
		return
	}
	n.mu.Lock()
	n.epochs.Observe(job, placement.Epoch(high))
	n.mu.Unlock()
	n.wake()
}

// call makes an RPC with JSON payloads; to self it is a direct call.
func (n *Node) call(ctx context.Context, nodeName, method string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var raw []byte
	if err := n.g.Call(ctx, nodeName, method, b, &raw); err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(raw, resp)
}

// observeEpoch records e for job and reports whether a message under e is acceptable
// (e is not lower than the highest epoch seen). Higher epochs are persisted.
func (n *Node) observeEpoch(job string, e placement.Epoch) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	higher := e > n.epochs.Highest(job)
	if !n.epochs.Accept(job, e) {
		return false
	}
	n.epochs.Observe(job, e)
	if higher { // only a new epoch costs a write
		n.store.PutEpoch(job, uint64(e))
	}
	return true
}

// localState is this peer's exact view for bidding. n.mu must be held.
func (n *Node) localStateLocked(now time.Time) placement.LocalState {
	self := n.selfNode()
	var allocs []placement.Alloc
	for _, la := range n.local {
		allocs = append(allocs, la.rec.Alloc)
	}
	var rs []placement.Reservation
	for id, r := range n.holds {
		if r.Active(now) {
			rs = append(rs, r)
		} else {
			delete(n.holds, id)
		}
	}
	return placement.LocalState{Node: self, Allocs: allocs, Reservations: rs}
}

// selfNode is this peer as placement sees it.
func (n *Node) selfNode() placement.Node {
	cpu, mem := n.capacity()
	return placement.Node{
		ID: n.id, Name: n.cfg.Name, Datacenter: n.cfg.Datacenter, Class: n.cfg.NodeClass,
		Attributes: n.fp.Attributes, Meta: n.cfg.Meta, HostVolumes: n.cfg.HostVolumes, CPUTotal: cpu, MemoryTotalMB: mem,
		Eligible: n.eligible, Alive: true, Draining: n.draining,
	}
}

// outrankedBy checks a coordinator's claim to coordinate job against this peer's
// member list: it returns a live peer this one knows that ranks above coordinator for
// the job and that coordinator did not pass over, i.e. has not heard of (see
// placement.OutrankedBy). A request that names no coordinator is not checked.
func (n *Node) outrankedBy(job, coordinator string, passedOver []string) (string, bool) {
	if coordinator == "" {
		return "", false
	}
	members := n.g.Members()
	nodes := make([]placement.Node, 0, len(members))
	for _, m := range members {
		if m.Tags.NodeID == "" {
			continue
		}
		nodes = append(nodes, n.memberNode(m, nodeInfo{})) // OutrankedBy reads only IDs, Alive and Eligible
	}
	return placement.OutrankedBy(job, coordinator, passedOver, nodes)
}

// bid answers a coordinator's request with this peer's exact state, and holds the
// capacity it bids until the award comes or the hold expires. A coordinator that has
// not heard of the job's real coordinator gets a bid that defers to it (Bid.DeferTo),
// checked before its epoch is observed: its epoch must not fence the real one's.
func (n *Node) bid(req placement.BidRequest) (placement.Bid, error) {
	if above, ok := n.outrankedBy(req.JobID, req.Coordinator, req.PassedOver); ok {
		n.log.Debug("deferring a coordinator to a peer it has not heard of", "job", req.JobID, "coordinator", req.Coordinator, "above", above)
		return placement.Bid{RequestID: req.RequestID, NodeID: n.id, DeferTo: above}, nil
	}
	if !n.observeEpoch(req.JobID, req.Epoch) {
		return placement.Bid{}, n.staleErr(req.JobID, req.Epoch)
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.eligible || n.draining {
		return placement.Bid{RequestID: req.RequestID, NodeID: n.id, Reason: "node is ineligible or draining"}, nil
	}
	if req.Job != nil {
		if g := req.Job.LookupGroup(req.Group); g != nil {
			if d := n.missingDriver(g); d != "" {
				return placement.Bid{RequestID: req.RequestID, NodeID: n.id, Reason: "driver " + d + " is not enabled on this peer"}, nil
			}
			if err := n.capsRefused(g); err != nil {
				return placement.Bid{RequestID: req.RequestID, NodeID: n.id, Reason: err.Error()}, nil
			}
			if bridgeMode(g) && n.bridgeErr != nil {
				return placement.Bid{RequestID: req.RequestID, NodeID: n.id, Reason: n.bridgeErr.Error()}, nil
			}
		}
	}
	b := placement.MakeBid(req, n.localStateLocked(now), now)
	if b.MaxSlots > 0 {
		n.holds[req.RequestID] = b.Reservation
		n.prefetchImages(req)
	}
	n.metrics.bids.Inc()
	return b, nil
}

// accept carries out an award: this peer creates the allocation records (it owns
// them) and starts their runners, and releases the auction's hold.
func (n *Node) accept(req awardRequest) (awardResponse, error) {
	if above, ok := n.outrankedBy(req.JobID, req.Coordinator, req.PassedOver); ok {
		return awardResponse{}, fmt.Errorf("%w: peer %s ranks above %s for job %s", errNotCoordinator, above, req.Coordinator, req.JobID)
	}
	if !n.observeEpoch(req.JobID, req.Epoch) {
		return awardResponse{}, n.staleErr(req.JobID, req.Epoch)
	}
	if req.Job == nil || req.Job.LookupGroup(req.Group) == nil {
		return awardResponse{}, fmt.Errorf("award for job %q group %q without the job", req.JobID, req.Group)
	}
	if d := n.missingDriver(req.Job.LookupGroup(req.Group)); d != "" {
		return awardResponse{}, fmt.Errorf("driver %s is not enabled on %s", d, n.cfg.Name)
	}
	if bridgeMode(req.Job.LookupGroup(req.Group)) && n.bridgeErr != nil {
		return awardResponse{}, n.bridgeErr
	}
	if err := n.capsRefused(req.Job.LookupGroup(req.Group)); err != nil {
		return awardResponse{}, err
	}
	n.mu.Lock()
	delete(n.holds, req.RequestID)
	n.mu.Unlock()
	var resp awardResponse
	for _, a := range req.Allocs {
		if n.createLocal(a.ID, a.placement(req.Group, req.Job.Version), req.Epoch, req.Job) {
			resp.Accepted = append(resp.Accepted, a.ID)
		}
	}
	return resp, nil
}

// capsRefused says why this peer's allow_caps refuses a container task of g (nil if
// none): the task would not start here.
func (n *Node) capsRefused(g *jobspec.Group) error {
	for _, t := range g.Tasks {
		if normDriver(t.Driver) != jobspec.DriverContainer {
			continue
		}
		if _, err := exec.Capabilities(t.Config.CapAdd, t.Config.CapDrop, n.cfg.AllowCaps); err != nil {
			return fmt.Errorf("task %q: %w", t.Name, err)
		}
	}
	return nil
}

// missingDriver names a driver g's tasks need that this peer does not offer ("" if none).
func (n *Node) missingDriver(g *jobspec.Group) string {
	for _, t := range g.Tasks {
		if !n.cfg.HasDriver(t.Driver) || n.fp.Attributes["attr.driver."+normDriver(t.Driver)] == "" {
			return t.Driver
		}
	}
	return ""
}

func normDriver(d string) string {
	if d == jobspec.DriverDocker {
		return jobspec.DriverContainer
	}
	return d
}

// prefetchImages starts preparing the container images of a group this peer bid on,
// so that an award finds them unpacked (exec caches images by digest and unpacks each
// once). Best effort: a failure shows again, with its reason, when the task starts.
func (n *Node) prefetchImages(req placement.BidRequest) {
	g := req.Job.LookupGroup(req.Group)
	if g == nil {
		return
	}
	for _, t := range g.Tasks {
		if normDriver(t.Driver) != jobspec.DriverContainer || t.Config.Image == "" {
			continue
		}
		if _, busy := n.prefetching.LoadOrStore(t.Config.Image, true); busy {
			continue
		}
		go func() {
			defer n.prefetching.Delete(t.Config.Image)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := n.drv.PrepareImage(ctx, t.Config.Image); err != nil {
				n.log.Debug("prefetching image", "image", t.Config.Image, "err", err)
			}
		}()
	}
}

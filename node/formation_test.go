package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

// TestCoordinatorThatHasNotHeardOfAPeer: while a cluster forms, a peer that has not
// yet heard of the last one to join can see itself as a job's coordinator while every
// other peer sees that last one, and both act under epoch 1, which epochs do not fence.
// In `make demo` every slot of a job was placed twice that way, and the extras stopped
// by the doubled-slot rule. The test plays such a peer: a gossip peer of its own,
// joined to nobody, that ranks second for the job (so it would coordinate in a view
// without the first), asks p1 for a bid and awards it a slot, as the job's coordinator
// has already placed every slot under epoch 1. p1 knows the first peer: it defers the
// request to it and refuses the award, so each slot has had one allocation, ever.
func TestCoordinatorThatHasNotHeardOfAPeer(t *testing.T) {
	c := newCluster(t, 3)
	const jobID = "formation"
	hcl := sleepJob(jobID, 3)
	submit(t, c.peers[0].client, hcl)
	c.waitRunning(c.peers[0].client, jobID, 3)

	nodes, err := c.peers[0].client.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var view []placement.Node
	for _, n := range nodes {
		view = append(view, placement.Node{ID: n.ID, Alive: true, Eligible: true})
	}
	top := placement.Ranked(jobID, view)[0]
	stale := ""
	for i := 0; stale == ""; i++ {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		if r := placement.Ranked(jobID, append(view, placement.Node{ID: id, Alive: true, Eligible: true})); r[1] == id {
			stale = id
		}
	}

	gcfg := gossip.DefaultLocalConfig()
	gcfg.NodeName, gcfg.BindAddr = "stale", c.net+"9"
	g, err := gossip.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown()
	p1 := c.peers[0]
	call := func(method string, req, resp any) error {
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if err := g.CallAddr(context.Background(), p1.name, p1.addr+":4647", method, b, &raw); err != nil {
			return err
		}
		return json.Unmarshal(raw, resp)
	}

	job, err := jobspec.Parse(jobID+".hcl", []byte(hcl), nil)
	if err != nil {
		t.Fatal(err)
	}
	job.Version = 1
	req := placement.NewBidRequest(job, "g", []int{0}, nil, view, time.Now())
	req.RequestID, req.Epoch, req.Coordinator = "stale-request", 1, stale
	var bid placement.Bid
	if err := call("bid", req, &bid); err != nil {
		t.Fatalf("bid request: %v", err)
	}
	if bid.DeferTo != top || bid.MaxSlots != 0 {
		t.Errorf("p1's bid to a coordinator that has not heard of %s: DeferTo %q, MaxSlots %d; want DeferTo %q and no slots",
			top, bid.DeferTo, bid.MaxSlots, top)
	}

	award := map[string]any{"RequestID": req.RequestID, "JobID": jobID, "Epoch": 1, "Job": job, "Group": "g",
		"Coordinator": stale, "Allocs": []map[string]any{{"ID": "stale-alloc", "Index": 0, "SpecHash": placement.GroupHash(job.LookupGroup("g"))}}}
	var resp struct{ Accepted []string }
	err = call("award", award, &resp)
	if err == nil || !strings.Contains(err.Error(), "not the job's coordinator") || !strings.Contains(err.Error(), top) {
		t.Errorf("award from a coordinator that has not heard of %s: err %v, accepted %v; want it refused naming %s", top, err, resp.Accepted, top)
	}

	allocs, err := p1.client.JobAllocs(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	perSlot := map[string]int{}
	for _, a := range allocs {
		perSlot[a.Slot]++
	}
	if len(perSlot) != 3 || perSlot[jobID+"/g[0]"] != 1 || perSlot[jobID+"/g[1]"] != 1 || perSlot[jobID+"/g[2]"] != 1 {
		t.Fatalf("allocations per slot, ever: %v; want one in each of 3 slots (%s)", perSlot, describe(allocs))
	}

	// A coordinator that saw the first peer die (it passes it over) is bid for, as
	// before: that is a successor taking over, and epochs fence the two.
	req.RequestID, req.PassedOver = "successor-request", []string{top}
	bid = placement.Bid{}
	if err := call("bid", req, &bid); err != nil {
		t.Fatalf("bid request: %v", err)
	}
	if bid.DeferTo != "" || bid.MaxSlots != 1 {
		t.Fatalf("p1's bid to a coordinator that passed over %s: DeferTo %q, MaxSlots %d; want a bid for the slot", top, bid.DeferTo, bid.MaxSlots)
	}
	var none struct{}
	if err := call("release", req.RequestID, &none); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// TestStatusRowsFollowTheCoordinator: when a job's coordination moves to another peer
// (here its coordinator turns ineligible), the old coordinator takes back its
// "cannot place" lines: `peer job status` shows the new coordinator's, once, not
// both peers' for ever.
func TestStatusRowsFollowTheCoordinator(t *testing.T) {
	c := newCluster(t, 3)
	bg := context.Background()
	const jobID = "nowhere"
	hcl := strings.Replace(sleepJob(jobID, 1), `group "g" {`, "constraint {\n    attribute = \"${attr.kernel.name}\"\n    value     = \"windows\"\n  }\n  group \"g\" {", 1)
	submit(t, c.peers[0].client, hcl)
	failures := func() []string {
		job, err := c.peers[0].client.Job(bg, jobID)
		if err != nil {
			return []string{err.Error(), err.Error()}
		}
		return job.PlacementFailures
	}
	c.waitFor(20*time.Second, "one coordinator's placement failure", func() (bool, string) {
		f := failures()
		return len(f) == 1 && strings.Contains(f[0], "kernel.name"), fmt.Sprint(f)
	})
	nodes, err := c.peers[0].client.Nodes(bg)
	if err != nil {
		t.Fatal(err)
	}
	var view []placement.Node
	for _, n := range nodes {
		view = append(view, placement.Node{ID: n.ID, Alive: true, Eligible: true})
	}
	coord, _ := placement.Coordinator(jobID, view)
	if err := c.peers[0].client.Eligibility(bg, coord, false); err != nil {
		t.Fatal(err)
	}
	// The new coordinator's line names the old one as ineligible; the old one's line,
	// written before, must go.
	c.waitFor(20*time.Second, "the new coordinator's placement failure", func() (bool, string) {
		f := failures()
		return slices.ContainsFunc(f, func(l string) bool { return strings.Contains(l, "are ineligible") }), fmt.Sprint(f)
	})
	time.Sleep(3 * time.Second) // a pass or more of every peer's coordinator loop
	if f := failures(); len(f) != 1 || !strings.Contains(f[0], "are ineligible") {
		t.Errorf("placement failures after coordination moved: %q, want the new coordinator's line only", f)
	}
}

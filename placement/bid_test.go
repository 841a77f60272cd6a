package placement

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testJob is a service job "web" with one group "api" of count instances of cpu MHz
// and mem MiB, changed by opts.
func testJob(count, cpu, mem int, opts ...func(j *jobspec.Job)) *jobspec.Job {
	j := &jobspec.Job{ID: "web", Type: jobspec.TypeService, Datacenters: []string{"dc1"}, Version: 1,
		Groups: []*jobspec.Group{{Name: "api", Count: count,
			Tasks: []*jobspec.Task{{Name: "srv", Resources: jobspec.Resources{CPU: cpu, MemoryMB: mem}}}}}}
	for _, o := range opts {
		o(j)
	}
	return j
}

func sizedNode(id string, cpu, mem int) Node {
	return Node{ID: id, Name: id, Datacenter: "dc1", CPUTotal: cpu, MemoryTotalMB: mem, CPUFree: cpu,
		MemoryFreeMB: mem, Alive: true, Eligible: true, Attributes: map[string]string{}, Meta: map[string]string{}}
}

func running(job, group string, index int, node string, cpu, mem int) Alloc {
	return Alloc{ID: fmt.Sprintf("%s-%s-%d-%s", job, group, index, node), JobID: job, Group: group, Index: index,
		NodeID: node, DesiredStatus: DesiredRun, ClientStatus: ClientRunning, JobVersion: 1,
		Resources: jobspec.Resources{CPU: cpu, MemoryMB: mem}, CreateTime: t0, StartedAt: t0}
}

func request(job *jobspec.Job, slots ...int) BidRequest {
	req := NewBidRequest(job, job.Groups[0].Name, slots, nil, nil, t0)
	req.RequestID, req.Seed = "r1", Seed(job.ID, 1)
	return req
}

func TestBinPackScore(t *testing.T) {
	total := Usage{1000, 1000}
	tests := []struct {
		name string
		used Usage
		want float64
	}{
		{"empty peer", Usage{0, 0}, 0},
		{"full peer", Usage{1000, 1000}, 1},
		{"half full", Usage{500, 500}, (20 - 2*math.Pow(10, 0.5)) / 18},
		{"over-full is clamped", Usage{2000, 2000}, 1},
		{"zero capacity", Usage{0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tot := total
			if tt.name == "zero capacity" {
				tot = Usage{}
			}
			if got := BinPackScore(tot, tt.used); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("BinPackScore(%v, %v) = %v, want %v", tot, tt.used, got, tt.want)
			}
		})
	}
}

func TestMakeBid(t *testing.T) {
	job := testJob(5, 500, 1024)
	withPort := testJob(5, 500, 1024, func(j *jobspec.Job) {
		j.Groups[0].Network = &jobspec.Network{Ports: []jobspec.Port{{Label: "http", Static: 8080}}}
	})
	distinct := testJob(5, 500, 1024, func(j *jobspec.Job) {
		j.Constraints = []jobspec.Constraint{{Operand: OpDistinctHosts, RTarget: "true"}}
	})
	node := sizedNode("n1", 4000, 4096)
	tests := []struct {
		name      string
		req       BidRequest
		local     LocalState
		wantSlots int
		reason    string
	}{
		{"memory limits slots", request(job, 0, 1, 2, 3, 4), LocalState{Node: node}, 4, ""},
		{"capped by slots asked", request(job, 0, 1), LocalState{Node: node}, 2, ""},
		{"existing allocs count", request(job, 0, 1, 2, 3, 4),
			LocalState{Node: node, Allocs: []Alloc{running("db", "x", 0, "n1", 100, 2048)}}, 2, ""},
		{"other auction's hold counts", request(job, 0, 1, 2, 3, 4),
			LocalState{Node: node, Reservations: []Reservation{{RequestID: "other", Resources: Usage{0, 3072}, Expires: t0.Add(time.Second)}}}, 1, ""},
		{"expired hold is ignored", request(job, 0, 1, 2, 3, 4),
			LocalState{Node: node, Reservations: []Reservation{{RequestID: "other", Resources: Usage{0, 3072}, Expires: t0}}}, 4, ""},
		{"own earlier hold is replaced", request(job, 0, 1, 2, 3, 4),
			LocalState{Node: node, Reservations: []Reservation{{RequestID: "r1", Resources: Usage{0, 4096}, Expires: t0.Add(time.Second)}}}, 4, ""},
		{"stopping alloc still holds its memory", request(job, 0, 1, 2, 3, 4), LocalState{Node: node, Allocs: []Alloc{func() Alloc {
			a := running("db", "x", 0, "n1", 100, 2048)
			a.DesiredStatus = DesiredStop
			return a
		}()}}, 2, ""},
		{"full peer", request(job, 0), LocalState{Node: node, Allocs: []Alloc{running("db", "x", 0, "n1", 100, 4000)}}, 0, "lack free memory"},
		{"static port allows one", request(withPort, 0, 1, 2), LocalState{Node: node}, 1, ""},
		{"static port held by a reservation", request(withPort, 0),
			LocalState{Node: node, Reservations: []Reservation{{RequestID: "other", Ports: []int{8080}, Expires: t0.Add(time.Second)}}}, 0, "have static port 8080 in use"},
		{"distinct hosts allows one", request(distinct, 0, 1), LocalState{Node: node}, 1, ""},
		{"distinct hosts already here", request(distinct, 1),
			LocalState{Node: node, Allocs: []Alloc{running("web", "api", 0, "n1", 500, 1024)}}, 0, "host web already (distinct_hosts)"},
		{"request without job", BidRequest{RequestID: "r1", Slots: []int{0}}, LocalState{Node: node}, 0, "bid on a request without a job"},
		{"request for unknown group", func() BidRequest { r := request(job, 0); r.Group = "nope"; return r }(), LocalState{Node: node}, 0, "naming no group"},
		{"request for no slots", request(job), LocalState{Node: node}, 0, "for no slots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bid := MakeBid(tt.req, tt.local, t0)
			if bid.MaxSlots != tt.wantSlots || len(bid.PerSlot) != tt.wantSlots {
				t.Fatalf("MaxSlots = %d (PerSlot %d), want %d; reason %q %q", bid.MaxSlots, len(bid.PerSlot), tt.wantSlots, bid.Reason, bid.Detail)
			}
			if !strings.Contains(bid.Reason, tt.reason) || (tt.reason == "") != (bid.Reason == "") {
				t.Fatalf("Reason = %q, want %q", bid.Reason, tt.reason)
			}
			if tt.wantSlots > 0 {
				r := bid.Reservation
				if r.Slots != tt.wantSlots || r.RequestID != "r1" || !r.Expires.Equal(t0.Add(DefaultHold)) {
					t.Fatalf("Reservation = %+v, want %d slots for r1 until %v", r, tt.wantSlots, t0.Add(DefaultHold))
				}
			}
		})
	}
}

// A peer's score for each further slot reflects how it fills: bin-pack rises, and
// anti-affinity against the group's own allocations sets in from the second.
func TestMakeBidPerSlotScores(t *testing.T) {
	job := testJob(4, 1000, 1024)
	bid := MakeBid(request(job, 0, 1, 2, 3), LocalState{Node: sizedNode("n1", 4000, 4096)}, t0)
	if bid.MaxSlots != 4 {
		t.Fatalf("MaxSlots = %d, want 4", bid.MaxSlots)
	}
	want := []SlotScore{{BinPackScore(Usage{4000, 4096}, Usage{1000, 1024}), 1}}
	for k := 1; k < 4; k++ {
		used := Usage{1000 * (k + 1), 1024 * (k + 1)}
		want = append(want, SlotScore{BinPackScore(Usage{4000, 4096}, used) - float64(k+1)/4, 2})
	}
	for k := range want {
		if math.Abs(bid.PerSlot[k].Sum-want[k].Sum) > 1e-9 || bid.PerSlot[k].Scorers != want[k].Scorers {
			t.Errorf("PerSlot[%d] = %+v, want %+v", k, bid.PerSlot[k], want[k])
		}
	}
}

func TestAward(t *testing.T) {
	job := testJob(4, 1000, 1024)
	req := request(job, 0, 1, 2, 3)
	bidOn := func(n Node, allocs ...Alloc) Bid { return MakeBid(req, LocalState{Node: n, Allocs: allocs}, t0) }
	half := bidOn(sizedNode("half", 4000, 4096), running("db", "x", 0, "half", 2000, 2048))
	empty := bidOn(sizedNode("empty", 4000, 4096))
	full := bidOn(sizedNode("full", 1000, 512))
	stale := empty
	stale.RequestID, stale.NodeID = "old", "stale"
	deferring := Bid{RequestID: req.RequestID, NodeID: "knower", DeferTo: "top"}

	tests := []struct {
		name     string
		bids     []Bid
		want     map[string]int // awards per node
		unplaced string         // reason substring of the unplaced slots
	}{
		{"packs the fuller peer first", []Bid{empty, half}, map[string]int{"half": 2, "empty": 2}, ""},
		{"no bids", nil, map[string]int{}, "no peer bid"},
		{"refusals are explained", []Bid{full}, map[string]int{}, "1 peer is too small for 1024 MiB memory"},
		{"capacity runs out", []Bid{half, full}, map[string]int{"half": 2}, "bidding peers are full (1 peer offered 2 slots in all; limited by free cpu on 1): 1 peer is too small"},
		{"stale request ignored", []Bid{stale}, map[string]int{}, "no peer bid"},
		{"duplicate bid counted once", []Bid{half, half}, map[string]int{"half": 2}, "bidding peers are full"},
		{"a bid deferring to another coordinator stops every award", []Bid{empty, half, deferring},
			map[string]int{}, "peer knower sees top, which ranks above this coordinator for the job: deferring to it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awards, unplaced := Award(req, tt.bids, req.Seed)
			got := map[string]int{}
			for _, a := range awards {
				got[a.NodeID]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("awards per peer = %v, want %v", got, tt.want)
			}
			if len(awards)+len(unplaced) != len(req.Slots) {
				t.Fatalf("%d awards + %d unplaced != %d slots", len(awards), len(unplaced), len(req.Slots))
			}
			for _, u := range unplaced {
				if tt.unplaced == "" || !strings.Contains(u.Reason, tt.unplaced) {
					t.Fatalf("unplaced slot %d: %q, want reason containing %q", u.Slot, u.Reason, tt.unplaced)
				}
			}
		})
	}
}

func TestAwardSpreadAndDistinctProperty(t *testing.T) {
	nodes := []Node{sizedNode("a1", 8000, 8192), sizedNode("a2", 8000, 8192), sizedNode("b1", 8000, 8192)}
	nodes[0].Datacenter, nodes[1].Datacenter, nodes[2].Datacenter = "dc1", "dc1", "dc2"
	for i := range nodes {
		nodes[i].Meta["rack"] = nodes[i].ID[:1]
	}
	spread := testJob(4, 100, 128, func(j *jobspec.Job) {
		j.Datacenters = []string{"*"}
		j.Spreads = []jobspec.Spread{{Attribute: "${node.datacenter}", Weight: 100}}
	})
	distinct := testJob(4, 100, 128, func(j *jobspec.Job) {
		j.Datacenters = []string{"*"}
		j.Groups[0].Constraints = []jobspec.Constraint{{LTarget: "${meta.rack}", Operand: OpDistinctProp, RTarget: "1"}}
	})
	tests := []struct {
		name     string
		job      *jobspec.Job
		want     map[string]int // awards per datacenter or rack
		key      func(n Node) string
		unplaced int
	}{
		{"spread evens out datacenters", spread, map[string]int{"dc1": 2, "dc2": 2}, func(n Node) string { return n.Datacenter }, 0},
		{"distinct_property allows one per rack", distinct, map[string]int{"a": 1, "b": 1}, func(n Node) string { return n.Meta["rack"] }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.job, 0, 1, 2, 3)
			var bids []Bid
			for _, n := range nodes {
				bids = append(bids, MakeBid(req, LocalState{Node: n}, t0))
			}
			awards, unplaced := Award(req, bids, req.Seed)
			got := map[string]int{}
			for _, a := range awards {
				i := slices.IndexFunc(nodes, func(n Node) bool { return n.ID == a.NodeID })
				got[tt.key(nodes[i])]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(unplaced) != tt.unplaced {
				t.Fatalf("awards = %v with %d unplaced %v, want %v with %d", got, len(unplaced), unplaced, tt.want, tt.unplaced)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	var nodes []Node
	for i := range 100 {
		n := sizedNode(fmt.Sprintf("n%03d", i), 4000, 4096)
		n.MemoryFreeMB = 4096 - 40*i // n099 is the fullest
		nodes = append(nodes, n)
	}
	nodes[5].Alive = false
	nodes[6].Datacenter = "dc2"
	job := testJob(10, 500, 128)
	small, rejected := Candidates(job, "api", 4, nodes[:10], 2, 7)
	if len(small) != 8 || Explain(rejected) != "1 peer is down, 1 peer is not in datacenter dc1" {
		t.Fatalf("small cluster: %d candidates, rejections %q; want all 8 feasible and both reasons", len(small), Explain(rejected))
	}
	got, _ := Candidates(job, "api", 3, nodes, 2, 7)
	if len(got) != 6 {
		t.Fatalf("large cluster: %d candidates, want d x missing = 6", len(got))
	}
	for _, best := range []string{"n099", "n098", "n097"} {
		if !slices.ContainsFunc(got, func(n Node) bool { return n.ID == best }) {
			t.Errorf("candidates %v lack best fit %s", ids(got), best)
		}
	}
	rev := slices.Clone(nodes)
	slices.Reverse(rev)
	again, _ := Candidates(job, "api", 3, rev, 2, 7)
	if !slices.Equal(ids(got), ids(again)) {
		t.Fatalf("input order changed the sample: %v vs %v", ids(got), ids(again))
	}
	if other, _ := Candidates(job, "api", 3, nodes, 2, 8); slices.Equal(ids(got), ids(other)) {
		t.Errorf("a different seed drew the same random half: %v", ids(other))
	}
	if none, rej := Candidates(job, "api", 3, nil, 2, 7); len(none) != 0 || len(rej) != 0 {
		t.Fatal("empty cluster: want no candidates and no rejections")
	}
}

func TestNilAndEmptyInputs(t *testing.T) {
	req := NewBidRequest(nil, "api", []int{0}, nil, nil, t0)
	if bid := MakeBid(req, LocalState{Node: sizedNode("n1", 1000, 1000)}, t0); bid.MaxSlots != 0 || bid.Reason == "" {
		t.Fatalf("bid on a nil job = %+v, want a refusal with a reason", bid)
	}
	if _, unplaced := Award(req, nil, 1); len(unplaced) != 1 || unplaced[0].Reason != "the request carries no job" {
		t.Fatalf("Award on a nil job: unplaced = %v", unplaced)
	}
	if c, r := Candidates(nil, "api", 1, threePeers(), 2, 1); c != nil || r != nil {
		t.Fatal("Candidates on a nil job must return nothing")
	}
	if _, unplaced := Award(request(testJob(1, 1, 1), 0), []Bid{{RequestID: "r1", NodeID: "x"}}, 1); len(unplaced) != 1 ||
		!strings.Contains(unplaced[0].Reason, "1 peer bids no slots, without a reason") {
		t.Fatalf("a bare zero bid: unplaced = %v", unplaced)
	}
}

// A spread and a distinct_property on the same attribute count each allocation once.
func TestPropertyCountsShareAttributes(t *testing.T) {
	job := testJob(3, 100, 128, func(j *jobspec.Job) {
		j.Spreads = []jobspec.Spread{{Attribute: "${meta.rack}", Weight: 50}}
		j.Groups[0].Constraints = []jobspec.Constraint{{LTarget: "${meta.rack}", Operand: OpDistinctProp, RTarget: "2"}}
	})
	nodes := threePeers()
	for i := range nodes {
		nodes[i].Meta["rack"] = "r1"
	}
	allocs := []Alloc{running("web", "api", 0, "n1", 100, 128), running("web", "api", 1, "n2", 100, 128), running("web", "other", 0, "n3", 100, 128)}
	got := PropertyCounts(job, job.Groups[0], allocs, nodes)
	if got["${meta.rack}"]["r1"] != 2 {
		t.Fatalf("PropertyCounts = %v, want r1 counted twice (the group's two allocations)", got)
	}
}

func ids(ns []Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// Awards never exceed a bid's MaxSlots nor a peer's capacity, whatever the bids and
// holds, and do not depend on the order bids arrive in.
func TestAwardProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		count := rapid.IntRange(1, 30).Draw(t, "count")
		job := testJob(count, rapid.IntRange(0, 2000).Draw(t, "cpu"), rapid.IntRange(1, 4096).Draw(t, "mem"))
		slots := make([]int, count)
		for i := range slots {
			slots[i] = i
		}
		req := request(job, slots...)
		nPeers := rapid.IntRange(0, 8).Draw(t, "peers")
		locals := map[string]LocalState{}
		var bids []Bid
		for i := range nPeers {
			n := sizedNode(fmt.Sprintf("p%d", i), rapid.IntRange(0, 16000).Draw(t, "peercpu"), rapid.IntRange(0, 16384).Draw(t, "peermem"))
			local := LocalState{Node: n}
			if rapid.Bool().Draw(t, "busy") {
				local.Allocs = []Alloc{running("other", "g", 0, n.ID, rapid.IntRange(0, n.CPUTotal).Draw(t, "ucpu"), rapid.IntRange(0, n.MemoryTotalMB).Draw(t, "umem"))}
			}
			if rapid.Bool().Draw(t, "held") {
				local.Reservations = []Reservation{{RequestID: "x", Resources: Usage{rapid.IntRange(0, 2000).Draw(t, "rcpu"), rapid.IntRange(0, 2000).Draw(t, "rmem")}, Expires: t0.Add(time.Second)}}
			}
			locals[n.ID] = local
			bids = append(bids, MakeBid(req, local, t0))
		}
		awards, unplaced := Award(req, bids, req.Seed)
		if len(awards)+len(unplaced) != count {
			t.Fatalf("%d awards + %d unplaced, want %d slots accounted for", len(awards), len(unplaced), count)
		}
		per := map[string]int{}
		for _, a := range awards {
			per[a.NodeID]++
		}
		for _, b := range bids {
			if per[b.NodeID] > b.MaxSlots {
				t.Fatalf("peer %s awarded %d slots, bid %d", b.NodeID, per[b.NodeID], b.MaxSlots)
			}
			l := locals[b.NodeID]
			var held Usage
			for _, r := range l.Reservations {
				held = held.add(r.Resources)
			}
			used := Used(l.Allocs).add(held).add(usageOf(req.Resources).times(per[b.NodeID]))
			if per[b.NodeID] > 0 && !used.fits(Usage{l.Node.CPUTotal, l.Node.MemoryTotalMB}) {
				t.Fatalf("peer %s over-committed: %v used of %d/%d", b.NodeID, used, l.Node.CPUTotal, l.Node.MemoryTotalMB)
			}
		}
		shuffled := rapid.Permutation(bids).Draw(t, "order")
		again, _ := Award(req, shuffled, req.Seed)
		if fmt.Sprint(again) != fmt.Sprint(awards) {
			t.Fatalf("bid order changed the awards:\n%v\n%v", awards, again)
		}
	})
}

func TestActiveReservations(t *testing.T) {
	rs := []Reservation{{RequestID: "old", Expires: t0.Add(-time.Second)}, {RequestID: "edge", Expires: t0},
		{RequestID: "live", Expires: t0.Add(time.Second)}}
	got := ActiveReservations(rs, t0)
	if len(got) != 1 || got[0].RequestID != "live" {
		t.Fatalf("ActiveReservations = %v, want only the one expiring after now", got)
	}
}

func TestNewAlloc(t *testing.T) {
	job := testJob(2, 300, 512, func(j *jobspec.Job) {
		j.Groups[0].Network = &jobspec.Network{Ports: []jobspec.Port{{Label: "http", Static: 8080}, {Label: "dyn"}}}
	})
	p := Placement{Group: "api", Index: 1, JobVersion: 1, SpecHash: GroupHash(job.Groups[0]), PreviousAlloc: "old",
		Reschedules: []time.Time{t0}, Reason: ReasonReschedule}
	a := NewAlloc(job, p, "a9", "n2", 7, t0)
	want := Alloc{ID: "a9", JobID: "web", Group: "api", Index: 1, JobVersion: 1, SpecHash: p.SpecHash, NodeID: "n2",
		DesiredStatus: DesiredRun, ClientStatus: ClientPending, Resources: jobspec.Resources{CPU: 300, MemoryMB: 512, MemoryMaxMB: 512},
		Ports: []int{8080}, CreateTime: t0, ModifyTime: t0, Reschedules: []time.Time{t0}, PreviousAlloc: "old", Epoch: 7}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Fatalf("NewAlloc =\n%+v\nwant\n%+v", a, want)
	}
	if a.Slot() != "web/api[1]" || a.Terminal() || !a.HoldsResources() {
		t.Fatalf("a new allocation must fill web/api[1], be live and hold resources: %+v", a)
	}
	// Reconcile sees it as current: nothing to do for that slot once it runs.
	a.ClientStatus, a.StartedAt = ClientRunning, t0
	b := NewAlloc(job, Placement{Group: "api", Index: 0, JobVersion: 1, SpecHash: p.SpecHash}, "a8", "n1", 7, t0)
	b.ClientStatus, b.StartedAt = ClientRunning, t0
	if res := Reconcile(ReconcileInput{Job: job, Allocs: []Alloc{a, b}, Nodes: threePeers(), Now: t0}); !res.Empty() {
		t.Fatalf("Reconcile over fresh allocations = %v, want nothing to do", describe(res))
	}
}

// TestBidCountsReplacedAsFree: an allocation the request replaces holds nothing in the
// bidder's eyes, so a replacement that fits only in its room is bid for.
func TestBidCountsReplacedAsFree(t *testing.T) {
	job := testJob(1, 100, 900)
	node := Node{ID: "n1", Alive: true, Eligible: true, Datacenter: "dc1", CPUTotal: 1000, MemoryTotalMB: 1000}
	old := Alloc{ID: "old", JobID: "other", Group: "api", NodeID: "n1", DesiredStatus: DesiredRun, ClientStatus: ClientRunning,
		Resources: jobspec.Resources{CPU: 100, MemoryMB: 500}}
	req := NewBidRequest(job, "api", []int{0}, nil, []Node{node}, t0)
	req.RequestID = "r1"
	if b := MakeBid(req, LocalState{Node: node, Allocs: []Alloc{old}}, t0); b.MaxSlots != 0 {
		t.Fatalf("bid with the old allocation holding 500 MiB: %d slots, want none", b.MaxSlots)
	}
	req.Replacing = []string{"old"}
	if b := MakeBid(req, LocalState{Node: node, Allocs: []Alloc{old}}, t0); b.MaxSlots != 1 {
		t.Errorf("bid replacing it: %d slots (%s %s), want 1", b.MaxSlots, b.Reason, b.Detail)
	}
	free := FreeingReplaced([]Node{{ID: "n1", MemoryFreeMB: 500}}, []Alloc{old}, req.Replacing)
	if free[0].MemoryFreeMB != 1000 {
		t.Errorf("the coordinator's view frees %d MiB on n1, want 1000", free[0].MemoryFreeMB)
	}
}

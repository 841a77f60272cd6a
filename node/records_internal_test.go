package node

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// tablesNode is a Node with nothing but its allocation and node-info tables, on one
// in-memory gossip peer.
func tablesNode(t testing.TB) *Node {
	t.Helper()
	cfg := gossip.DefaultLocalConfig()
	cfg.NodeName = "p1"
	cfg.Transport = gossip.NewMemNetwork(1).NewTransport(cfg.NodeName)
	g, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return &Node{g: g, allocs: g.Table(tableAlloc), infos: g.Table(tableNode), log: slog.New(slog.DiscardHandler)}
}

// clusterAllocs decodes each row once and keeps it while its bytes stay the same:
// a changed row is decoded again, a removed one forgotten, and what callers get is
// theirs to change.
func TestClusterAllocsFollowTheirRows(t *testing.T) {
	n := tablesNode(t)
	t0 := time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	rec := func(id string, index int, status string) allocRecord {
		return allocRecord{Alloc: placement.Alloc{ID: id, JobID: "web", Group: "g", Index: index, ClientStatus: status, CreateTime: t0, Ports: []int{8080}},
			TaskStates: map[string]api.TaskState{"t": {State: status}}}
	}
	n.allocs.SetOwn("b", encodeAlloc(rec("b", 1, placement.ClientPending)))
	n.allocs.SetOwn("a", encodeAlloc(rec("a", 0, placement.ClientPending)))
	got := n.clusterAllocs()
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("clusterAllocs = %v, want a then b (by index)", ids(got))
	}
	got[0].TaskStates["t"] = api.TaskState{State: "changed by a caller"}
	got[0].Ports[0] = 1
	n.allocs.SetOwn("b", encodeAlloc(rec("b", 1, placement.ClientRunning)))
	got = n.clusterAllocs()
	if got[0].TaskStates["t"].State != placement.ClientPending || got[0].Ports[0] != 8080 {
		t.Errorf("a caller's change reached the cache: %+v", got[0])
	}
	if got[1].ClientStatus != placement.ClientRunning {
		t.Errorf("b's row changed to running, clusterAllocs still says %q", got[1].ClientStatus)
	}
	v := n.snapshot()
	if as := v.allocs["web"]; len(as) != 2 || as[0].ID != "a" || as[1].ClientStatus != placement.ClientRunning {
		t.Errorf("snapshot's allocations of web = %+v, want a, then b running", as)
	}
	n.allocs.DeleteOwn("a")
	if got = n.clusterAllocs(); len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("after a's row went: %v, want [b]", ids(got))
	}
	if len(n.decoded) != 1 {
		t.Errorf("the decode cache holds %d rows, want 1: a's row went", len(n.decoded))
	}
}

// nodeInfos follows each peer's published info row the same way.
func TestNodeInfosFollowTheirRows(t *testing.T) {
	n := tablesNode(t)
	n.infos.SetOwn("info", mustJSON(nodeInfo{Meta: map[string]string{"rack": "r1"}}))
	if got := n.nodeInfos()["p1"].Meta["rack"]; got != "r1" {
		t.Fatalf("meta.rack = %q, want r1", got)
	}
	n.infos.SetOwn("info", mustJSON(nodeInfo{Meta: map[string]string{"rack": "r2"}}))
	if got := n.nodeInfos()["p1"].Meta["rack"]; got != "r2" {
		t.Errorf("after the row changed: meta.rack = %q, want r2", got)
	}
	n.infos.DeleteOwn("info")
	if got, ok := n.nodeInfos()["p1"]; ok {
		t.Errorf("after the row went: %+v, want none", got)
	}
}

func ids(as []allocRecord) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// jobOf decodes a catalog entry once while its bytes stay the same, again when they
// change, and forgets jobs the catalog no longer holds.
func TestJobOfFollowsTheCatalog(t *testing.T) {
	n := &Node{}
	entry := func(version uint64) []byte {
		b, err := encodeJob(jobEntry{Job: &jobspec.Job{ID: "web", Version: version}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v1 := entry(1)
	a, err := n.jobOf("web", v1)
	if err != nil || a.Job.Version != 1 {
		t.Fatalf("jobOf = %+v, %v; want version 1", a.Job, err)
	}
	if b, _ := n.jobOf("web", slices.Clone(v1)); b.Job != a.Job {
		t.Error("the same entry was decoded again")
	}
	if c, _ := n.jobOf("web", entry(2)); c.Job.Version != 2 {
		t.Errorf("after the entry changed: version %d, want 2", c.Job.Version)
	}
	if _, err := n.jobOf("bad", []byte("{")); err == nil {
		t.Error("an unreadable entry decoded")
	}
	n.forgetJobs(map[string]bool{"other": true})
	if len(n.jobCache) != 0 {
		t.Errorf("after web left the catalog the cache holds %d jobs", len(n.jobCache))
	}
}

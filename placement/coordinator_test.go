package placement

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func peers(ids ...string) []Node {
	ns := make([]Node, len(ids))
	for i, id := range ids {
		ns[i] = Node{ID: id, Name: id, Alive: true, Eligible: true}
	}
	return ns
}

func TestCoordinator(t *testing.T) {
	dead := peers("a", "b", "c")
	dead[0].Alive = false
	inelig := peers("a", "b", "c")
	inelig[1].Eligible = false
	draining := peers("a", "b", "c")
	for i := range draining {
		draining[i].Draining = true
	}
	tests := []struct {
		name   string
		job    string
		nodes  []Node
		wantOK bool
		// want is checked against Ranked: the coordinator is the first ranked peer.
	}{
		{"empty view", "web", nil, false},
		{"one peer", "web", peers("a"), true},
		{"three peers", "web", peers("a", "b", "c"), true},
		{"skips dead", "web", dead, true},
		{"skips ineligible", "web", inelig, true},
		{"draining peers still coordinate", "web", draining, true},
		{"all dead", "web", []Node{{ID: "a", Eligible: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Coordinator(tt.job, tt.nodes)
			if ok != tt.wantOK {
				t.Fatalf("Coordinator ok = %v, want %v", ok, tt.wantOK)
			}
			ranked := Ranked(tt.job, tt.nodes)
			if !ok {
				if len(ranked) != 0 {
					t.Fatalf("Ranked = %v, want empty", ranked)
				}
				return
			}
			if ranked[0] != got {
				t.Fatalf("Coordinator = %q, Ranked[0] = %q", got, ranked[0])
			}
			for _, n := range tt.nodes {
				if (!n.Alive || !n.Eligible) && slices.Contains(ranked, n.ID) {
					t.Fatalf("Ranked %v includes unusable peer %q", ranked, n.ID)
				}
			}
		})
	}
}

// The hash is part of the wire protocol: peers of different versions must agree.
// These values pin it.
func TestCoordinatorHashIsStable(t *testing.T) {
	if hrw("web", "peer-1") != 13650867242644374294 {
		t.Fatalf("hrw(web, peer-1) = %d: the rendezvous hash changed, which splits mixed-version clusters", hrw("web", "peer-1"))
	}
	if Seed("web", 1) == Seed("web", 2) || Seed("web", 1) != Seed("web", 1) {
		t.Fatal("Seed must be a function of (job, round) that changes with the round")
	}
}

func TestCoordinatorSpreadsJobs(t *testing.T) {
	nodes := peers("a", "b", "c", "d")
	count := map[string]int{}
	for i := range 4000 {
		id, _ := Coordinator(fmt.Sprintf("job-%d", i), nodes)
		count[id]++
	}
	for id, c := range count {
		if c < 800 || c > 1200 {
			t.Errorf("peer %s coordinates %d of 4000 jobs, want about 1000 (counts %v)", id, c, count)
		}
	}
}

func TestCoordinatorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := rapid.SliceOfNDistinct(rapid.IntRange(0, 40), 1, 12, rapid.ID[int]).Draw(t, "ids")
		n := len(ids)
		nodes := make([]Node, n)
		for i, id := range ids {
			nodes[i] = Node{ID: fmt.Sprintf("p%d", id),
				Alive: rapid.Bool().Draw(t, "alive"), Eligible: rapid.Bool().Draw(t, "eligible")}
		}
		job := rapid.StringMatching(`[a-z]{1,6}`).Draw(t, "job")
		want, ok := Coordinator(job, nodes)

		// Same view, any order: same coordinator and same succession.
		perm := rapid.Permutation(nodes).Draw(t, "order")
		got, ok2 := Coordinator(job, perm)
		if got != want || ok != ok2 {
			t.Fatalf("order changed the coordinator: %q vs %q", got, want)
		}
		if !slices.Equal(Ranked(job, nodes), Ranked(job, perm)) {
			t.Fatal("order changed the succession")
		}
		if !ok {
			return
		}
		// Removing any peer that is not the coordinator does not change it.
		drop := rapid.IntRange(0, n-1).Draw(t, "drop")
		if nodes[drop].ID == want {
			return
		}
		rest := slices.Delete(slices.Clone(nodes), drop, drop+1)
		if got, _ := Coordinator(job, rest); got != want {
			t.Fatalf("removing %q moved coordination from %q to %q", nodes[drop].ID, want, got)
		}
		// When the coordinator dies, the next in succession takes over.
		ranked := Ranked(job, nodes)
		var without []Node
		for _, nd := range nodes {
			if nd.ID != want {
				without = append(without, nd)
			}
		}
		next, ok := Coordinator(job, without)
		if len(ranked) > 1 && (!ok || next != ranked[1]) {
			t.Fatalf("after %q dies, coordinator = %q, want successor %q", want, next, ranked[1])
		}
	})
}

// TestOutrankedBy: a peer refuses a coordinator when it knows a live peer that ranks
// above it for the job and that the coordinator did not pass over.
func TestOutrankedBy(t *testing.T) {
	const job = "sleep" // ranks n3, n2, n1
	if r := Ranked(job, peers("n1", "n2", "n3")); !slices.Equal(r, []string{"n3", "n2", "n1"}) {
		t.Fatalf("Ranked(%q) = %v: the cases below assume n3, n2, n1", job, r)
	}
	n3dead := peers("n1", "n2", "n3")
	n3dead[2].Alive = false
	n3inelig := peers("n1", "n2", "n3")
	n3inelig[2].Eligible = false
	tests := []struct {
		name       string
		coord      string
		coordView  []Node // what the coordinator sees: its PassedOver
		bidderView []Node
		want       string // "" for none
	}{
		{"the coordinator has not heard of a higher peer", "n2", peers("n1", "n2"), peers("n1", "n2", "n3"), "n3"},
		{"the bidder has not heard of the coordinator either", "n2", peers("n2"), peers("n1", "n3"), "n3"},
		{"the highest of several", "n1", peers("n1"), peers("n1", "n2", "n3"), "n3"},
		{"the same view", "n3", peers("n1", "n2", "n3"), peers("n1", "n2", "n3"), ""},
		{"lower peers do not count", "n2", peers("n1", "n2"), peers("n1", "n2"), ""},
		{"the coordinator saw the higher peer die", "n2", n3dead, peers("n1", "n2", "n3"), ""},
		{"the coordinator sees the higher peer ineligible", "n2", n3inelig, peers("n1", "n2", "n3"), ""},
		{"the bidder sees the higher peer dead", "n2", peers("n1", "n2"), n3dead, ""},
		{"the bidder sees the higher peer ineligible", "n2", peers("n1", "n2"), n3inelig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passed := PassedOver(job, tt.coord, tt.coordView)
			got, ok := OutrankedBy(job, tt.coord, passed, tt.bidderView)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("OutrankedBy(%s, passed over %v) = %q, %v; want %q", tt.coord, passed, got, ok, tt.want)
			}
		})
	}
}

// TestOutrankedByProperties: a coordinator is never refused by a peer that sees what
// it sees, nor by any peer when it is the coordinator of every view.
func TestOutrankedByProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := rapid.SliceOfNDistinct(rapid.IntRange(0, 40), 1, 10, rapid.ID[int]).Draw(t, "ids")
		var mine, theirs []Node
		for _, id := range ids {
			n := Node{ID: fmt.Sprintf("p%d", id), Alive: rapid.Bool().Draw(t, "alive"), Eligible: rapid.Bool().Draw(t, "eligible")}
			if rapid.Bool().Draw(t, "I know it") {
				mine = append(mine, n)
			}
			n.Alive = rapid.Bool().Draw(t, "they see it alive")
			if rapid.Bool().Draw(t, "they know it") {
				theirs = append(theirs, n)
			}
		}
		job := rapid.StringMatching(`[a-z]{1,6}`).Draw(t, "job")
		coord, ok := Coordinator(job, mine)
		if !ok {
			return
		}
		passed := PassedOver(job, coord, mine)
		if by, refused := OutrankedBy(job, coord, passed, mine); refused {
			t.Fatalf("refused by its own view, for %s", by)
		}
		by, refused := OutrankedBy(job, coord, passed, theirs)
		if top, ok := Coordinator(job, append(slices.Clone(theirs), Node{ID: coord, Alive: true, Eligible: true})); ok && top == coord && refused {
			t.Fatalf("%s coordinates in their view too, but they defer to %s", coord, by)
		}
		if refused && (slices.Contains(passed, by) || !slices.ContainsFunc(theirs, func(n Node) bool { return n.ID == by && n.Alive && n.Eligible })) {
			t.Fatalf("refused for %s, passed over or not live in their view", by)
		}
	})
}

func TestEpochTracker(t *testing.T) {
	var tr EpochTracker
	if !tr.Accept("web", 0) {
		t.Fatal("a fresh tracker must accept epoch 0")
	}
	e := tr.Next("web")
	if e != 1 {
		t.Fatalf("Next = %d, want 1", e)
	}
	tr.Observe("web", 5)
	steps := []struct {
		epoch Epoch
		want  bool
	}{{4, false}, {5, true}, {7, true}, {6, false}, {7, true}}
	for _, s := range steps {
		if got := tr.Accept("web", s.epoch); got != s.want {
			t.Fatalf("Accept(web, %d) = %v, want %v (highest %d)", s.epoch, got, s.want, tr.Highest("web"))
		}
	}
	if got := tr.Next("web"); got != 8 {
		t.Fatalf("Next after seeing 7 = %d, want 8", got)
	}
	if !tr.Accept("other", 1) {
		t.Fatal("epochs are per job: another job's epoch must not fence this one")
	}
	tr.Forget("web")
	if tr.Highest("web") != 0 {
		t.Fatal("Forget must drop the job's epoch")
	}
}

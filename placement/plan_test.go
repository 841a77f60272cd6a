package placement

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestPlanJob(t *testing.T) {
	image2 := func(j *jobspec.Job) {
		j.Version = 2
		j.Groups[0].Tasks[0].Config.Image = "web:2"
	}
	running := func(ids ...string) []Alloc {
		var out []Alloc
		for i, id := range ids {
			out = append(out, alloc(id, i, fmt.Sprintf("n%d", i%3+1), ClientRunning))
		}
		return out
	}
	// Each peer has room for exactly one 3000 MB allocation.
	full := func() []Alloc {
		out := running("a0", "a1", "a2")
		for i := range out {
			out[i].Resources.MemoryMB, out[i].SpecHash = 3000, GroupHash(testJob(3, 100, 3000).Groups[0])
		}
		return out
	}
	tests := []struct {
		name   string
		job    *jobspec.Job
		allocs []Alloc
		want   string
	}{
		{"a new job creates every slot", testJob(3, 100, 128), nil, "api: create 3"},
		{"a new version replaces, and a bigger count creates", testJob(3, 100, 128, image2), running("a0", "a1"), "api: create 1 update 2"},
		{"an unchanged group is left alone", testJob(2, 100, 128, func(j *jobspec.Job) { j.Version = 2 }), running("a0", "a1"), "api: ignore 2"},
		{"a smaller count destroys the highest slots", testJob(1, 100, 128), running("a0", "a1", "a2"), "api: destroy 2 ignore 1"},
		{"canaries first", testJob(3, 100, 128, image2, func(j *jobspec.Job) { j.Update = &jobspec.Update{MaxParallel: 1, Canary: 1} }),
			running("a0", "a1", "a2"), "api: update 3 canary 1"},
		{"too big for every peer", testJob(2, 100, 5000), nil,
			"api: create 2 unplaced [2 slot(s): no peer can take it: 3 peers are too small for 5000 MiB memory]"},
		{"an update may use the capacity of what it replaces", testJob(3, 100, 3000, image2), full(), "api: update 3"},
		{"a new group beside a full cluster does not fit", testJob(3, 100, 3000, func(j *jobspec.Job) {
			j.Version = 2
			g := *j.Groups[0]
			g.Name, g.Count = "more", 1
			j.Groups = append(j.Groups, &g)
		}), full(), "api: ignore 3; more: create 1 unplaced [1 slot(s): no peer can take it: 3 peers lack free memory]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range PlanJob(tt.job, tt.allocs, threePeers(), t0) {
				s := p.Group + ":"
				for _, f := range []struct {
					what string
					n    int
				}{{"create", p.Create}, {"destroy", p.Destroy}, {"update", p.Update}, {"ignore", p.Ignore}, {"canary", p.Canary}} {
					if f.n > 0 {
						s += fmt.Sprintf(" %s %d", f.what, f.n)
					}
				}
				if len(p.Unplaced) > 0 {
					s += fmt.Sprintf(" unplaced %v", p.Unplaced)
				}
				got = append(got, s)
			}
			if g := strings.Join(got, "; "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

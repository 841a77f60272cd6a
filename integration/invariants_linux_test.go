package integration

import (
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

func TestCheckJob(t *testing.T) {
	job := func(typ string, count int) *api.Job {
		return &api.Job{Job: &jobspec.Job{ID: "web", Type: typ, Groups: []*jobspec.Group{{Name: "g", Count: count}}}}
	}
	alloc := func(id string, idx int, node, status, desired string) api.Alloc {
		return api.Alloc{ID: id, JobID: "web", TaskGroup: "g", Index: idx, NodeName: node, ClientStatus: status, DesiredStatus: desired}
	}
	cases := []struct {
		name           string
		job            *api.Job
		allocs         []api.Alloc
		short, doubled int
	}{
		{"at count", job("service", 2), []api.Alloc{alloc("a", 0, "h0", "running", "run"), alloc("b", 1, "h1", "running", "run")}, 0, 0},
		{"one lost, not replaced", job("service", 2), []api.Alloc{alloc("a", 0, "h0", "running", "run"), alloc("b", 1, "h1", "lost", "stop")}, 1, 0},
		{"lost and replaced", job("service", 2), []api.Alloc{alloc("a", 0, "h0", "running", "run"), alloc("b", 1, "h1", "lost", "stop"), alloc("c", 1, "h2", "running", "run")}, 0, 0},
		{"doubled slot", job("service", 2), []api.Alloc{alloc("a", 0, "h0", "running", "run"), alloc("b", 1, "h1", "running", "run"), alloc("c", 1, "h2", "running", "stop")}, 0, 1},
		{"beyond the count", job("service", 1), []api.Alloc{alloc("a", 0, "h0", "running", "run"), alloc("b", 1, "h1", "running", "run")}, 1, 0},
		{"pending is not running", job("service", 1), []api.Alloc{alloc("a", 0, "h0", "pending", "run")}, 1, 0},
		{"batch complete counts", job("batch", 1), []api.Alloc{alloc("a", 0, "h0", "lost", "stop"), alloc("b", 0, "h1", "complete", "run")}, 0, 0},
		{"service complete does not", job("service", 1), []api.Alloc{alloc("b", 0, "h1", "complete", "run")}, 1, 0},
		{"stopped job still running", nil, []api.Alloc{alloc("a", 0, "h0", "running", "stop")}, 1, 0},
		{"stopped job drained", nil, []api.Alloc{alloc("a", 0, "h0", "complete", "stop")}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			checkJob(r, "h9", "web", tc.job, tc.allocs)
			if len(r.Short) != tc.short || len(r.Doubled) != tc.doubled {
				t.Errorf("short %q, doubled %q; want %d short, %d doubled", r.Short, r.Doubled, tc.short, tc.doubled)
			}
		})
	}
}

package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// TestPlan: `peer job plan` says what a submission would do (creates, replacements,
// a dry-run auction's failures) and changes nothing.
func TestPlan(t *testing.T) {
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	ctx := context.Background()
	parse := func(src string) *jobspec.Job {
		t.Helper()
		job, err := jobspec.Parse("plan.hcl", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	describe := func(p api.JobPlan) string {
		var gs []string
		for _, g := range p.Groups {
			gs = append(gs, fmt.Sprintf("%s create %d update %d ignore %d unplaced %q", g.Group, g.Create, g.Update, g.Ignore, g.Unplaced))
		}
		return fmt.Sprintf("exists %v version %d->%d: %s", p.Exists, p.CurrentVersion, p.Version, strings.Join(gs, "; "))
	}
	plan := func(via *api.Client, src string) string {
		t.Helper()
		p, err := via.Plan(ctx, parse(src))
		if err != nil {
			t.Fatal(err)
		}
		return describe(p)
	}

	if got, want := plan(p1, canaryJob(3600)), `exists false version 0->0: g create 2 update 0 ignore 0 unplaced []`; got != want {
		t.Errorf("plan of a new job:\n got %s\nwant %s", got, want)
	}
	if _, err := p1.Job(ctx, "cn"); err == nil {
		t.Fatal("planning a job submitted it")
	}
	submit(t, p1, canaryJob(3600))
	c.waitFor(30*time.Second, "both allocations running", func() (bool, string) {
		allocs, err := p2.JobAllocs(ctx, "cn")
		if err != nil {
			return false, err.Error()
		}
		return countRunning(allocs, 0) == 2, describeAllocs(allocs)
	})
	if got, want := plan(p2, canaryJob(3600)), `exists true version 0->0: `; got != want {
		t.Errorf("plan of the running job:\n got %s\nwant %s", got, want)
	}
	if got, want := plan(p2, canaryJob(3601)), `exists true version 0->1: g create 0 update 2 ignore 0 unplaced []`; got != want {
		t.Errorf("plan of a new version:\n got %s\nwant %s", got, want)
	}
	huge := strings.Replace(canaryJob(3601), "memory = 32", "memory = 100000000", 1)
	if got := plan(p1, huge); !strings.Contains(got, `unplaced ["2 slot(s): no peer can take it: 2 peers are too small for 100000000 MiB memory"]`) {
		t.Errorf("plan of a job too big for any peer: %s, want its two slots unplaced, saying why", got)
	}
	job, err := p1.Job(ctx, "cn")
	if err != nil || job.Version != 0 {
		t.Errorf("after plans, the job is at version %v (%v), want 0: a plan changes nothing", job.Version, err)
	}
}

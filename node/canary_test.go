package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// canaryJob is two sleepers; version picks what they sleep, so a new version
// replaces them. With canary = 1 the rollout waits for a promotion.
func canaryJob(seconds int) string {
	return fmt.Sprintf(`job "cn" {
  update {
    max_parallel     = 1
    min_healthy_time = "500ms"
    healthy_deadline = "30s"
    canary           = 1
  }
  group "g" {
    count = 2
    task "sleep" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sleep"
        args    = ["%d"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, seconds)
}

// TestCanaryPromote: a new version of a job with canary = 1 runs one canary beside
// the two old allocations and replaces nothing until `peer job promote`; then the
// canary keeps its slot, and the other slot rolls over.
func TestCanaryPromote(t *testing.T) {
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	ctx := context.Background()

	submit(t, p1, canaryJob(3600))
	c.waitFor(30*time.Second, "both allocations of v0 running", func() (bool, string) {
		allocs, err := p2.JobAllocs(ctx, "cn")
		if err != nil {
			return false, err.Error()
		}
		return countRunning(allocs, 0) == 2, describeAllocs(allocs)
	})

	submit(t, p2, canaryJob(3601))
	var canaryID string
	c.waitFor(30*time.Second, "one healthy v1 canary beside two v0 allocations, waiting for promotion", func() (bool, string) {
		job, allocs, err := jobAndAllocs(p1, "cn")
		if err != nil {
			return false, err.Error()
		}
		canaryID = ""
		for _, a := range allocs {
			if a.Canary && a.JobVersion == 1 && a.ClientStatus == "running" {
				canaryID = a.ID
			}
		}
		status := strings.Join(job.Deployment, "; ")
		return canaryID != "" && countRunning(allocs, 0) == 2 && strings.Contains(status, "1 of 1 canaries of version 1 healthy; promote with: peer job promote cn"),
			fmt.Sprintf("deployment %q, allocations %s", status, describeAllocs(allocs))
	})
	// Nothing old is replaced while the rollout waits: the coordinator reconciles
	// every time an allocation changes, and the canary has been healthy for a while.
	time.Sleep(time.Second)
	allocs, _ := p2.JobAllocs(ctx, "cn")
	if n := countRunning(allocs, 0); n != 2 {
		t.Fatalf("%d v0 allocations running before the promotion, want 2: %s", n, describeAllocs(allocs))
	}

	if err := p2.Promote(ctx, "cn"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(45*time.Second, "two v1 allocations running (the canary one of them), no v0 left, no deployment status", func() (bool, string) {
		job, allocs, err := jobAndAllocs(p1, "cn")
		if err != nil {
			return false, err.Error()
		}
		canaryRuns := false
		for _, a := range allocs {
			canaryRuns = canaryRuns || a.ID == canaryID && a.ClientStatus == "running" && a.DesiredStatus == "run"
		}
		return countRunning(allocs, 1) == 2 && countRunning(allocs, 0) == 0 && canaryRuns && len(job.Deployment) == 0,
			fmt.Sprintf("deployment %q, allocations %s", job.Deployment, describeAllocs(allocs))
	})

	err := p1.Promote(ctx, "nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("promoting an unknown job: %v, want an error naming it", err)
	}
}

// countRunning counts the allocations of a job version that run and should.
func countRunning(allocs []api.Alloc, version uint64) int {
	n := 0
	for _, a := range allocs {
		if a.JobVersion == version && a.ClientStatus == "running" && a.DesiredStatus == "run" {
			n++
		}
	}
	return n
}

func describeAllocs(allocs []api.Alloc) string {
	var parts []string
	for _, a := range allocs {
		canary := ""
		if a.Canary {
			canary = " canary"
		}
		parts = append(parts, fmt.Sprintf("%s %s v%d%s %s/%s", a.ID[:8], a.Slot, a.JobVersion, canary, a.ClientStatus, a.DesiredStatus))
	}
	return strings.Join(parts, ", ")
}

// jobAndAllocs reads a job and its allocations as `peer job status ID` does.
func jobAndAllocs(c *api.Client, id string) (*api.Job, []api.Alloc, error) {
	job, err := c.Job(context.Background(), id)
	if err != nil {
		return nil, nil, err
	}
	allocs, err := c.JobAllocs(context.Background(), id)
	return job, allocs, err
}

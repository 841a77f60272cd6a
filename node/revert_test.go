package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAutoRevert: a stable version, then a new version whose check fails, with
// update { auto_revert = true }: once the new allocation misses healthy_deadline the
// job goes back to the stable version by itself (a new version, saying so), and both
// slots end up running the stable spec with passing checks.
func TestAutoRevert(t *testing.T) {
	requireBusyboxHTTPD(t)
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	withRevert := func(path string) string {
		return strings.Replace(healthJob(path), `healthy_deadline = "5s"`, "healthy_deadline = \"5s\"\n    auto_revert      = true", 1)
	}

	submit(t, p1, withRevert("/busybox-static/copyright"))
	c.waitFor(45*time.Second, "version 0 stable: both allocations' checks passing for min_healthy_time", func() (bool, string) {
		job, allocs, err := jobAndAllocs(p2, "hc")
		if err != nil {
			return false, err.Error()
		}
		return job.Stable, fmt.Sprintf("stable %v; %s", job.Stable, describeChecks(allocs))
	})

	submit(t, p2, withRevert("/no/such/page"))
	c.waitFor(60*time.Second, "version 2 (the stable spec, reverted from 1) running both slots with passing checks", func() (bool, string) {
		job, allocs, err := jobAndAllocs(p1, "hc")
		if err != nil {
			return false, err.Error()
		}
		passing := 0
		for _, a := range allocs {
			if a.JobVersion == 1 && a.ClientStatus == "running" && a.DesiredStatus == "run" {
				return false, "a version 1 allocation still runs: " + describeChecks(allocs)
			}
			if a.ClientStatus == "running" && a.DesiredStatus == "run" && checksAre(a, "passing") {
				passing++
			}
		}
		return job.Version == 2 && job.RevertedFrom == 1 && passing == 2,
			fmt.Sprintf("version %d reverted from %d; %s", job.Version, job.RevertedFrom, describeChecks(allocs))
	})
	job, _ := p1.Job(context.Background(), "hc")
	if got := job.Groups[0].Services[0].Checks[0].Path; got != "/busybox-static/copyright" {
		t.Errorf("reverted job checks path %q, want the stable version's", got)
	}
}

package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rolloutJob is sleepJob's with two allocations of memory MB each, rolled out one
// at a time with short deadlines and auto_revert.
func rolloutJob(memory int) string {
	job := strings.Replace(sleepJob("roll", 2), "    task", `    update {
      max_parallel      = 1
      min_healthy_time  = "1s"
      healthy_deadline  = "4s"
      progress_deadline = "5s"
      auto_revert       = true
    }
    task`, 1)
	return strings.Replace(job, "memory = 64", fmt.Sprintf("memory = %d", memory), 1)
}

// TestRolloutOfAVersionNoPeerCouldRun: a new version too big for every peer stops
// none of the old allocations (it used to stop them all, one a pass); the rollout
// says why it paused, fails by its progress_deadline, and auto_revert goes back to
// the version that ran, with the same allocations still running.
func TestRolloutOfAVersionNoPeerCouldRun(t *testing.T) {
	c := newCluster(t, 2)
	via := c.peers[0].client
	bg := context.Background()
	submit(t, via, rolloutJob(32))
	var before []string
	for _, a := range c.waitRunning(via, "roll", 2) {
		before = append(before, a.ID)
	}
	c.waitFor(30*time.Second, "version 0 stable (what auto_revert goes back to)", func() (bool, string) {
		job, err := via.Job(bg, "roll")
		return err == nil && job.Stable, fmt.Sprint(job, err)
	})
	submit(t, via, rolloutJob(4<<20)) // 4 TiB
	paused := false
	c.waitFor(30*time.Second, "the rollout failed and reverted", func() (bool, string) {
		job, err := via.Job(bg, "roll")
		if err != nil {
			return false, err.Error()
		}
		paused = paused || strings.Contains(strings.Join(job.PlacementFailures, "\n"), "no peer could run the new version")
		return job.RevertedFrom == 1 && job.Version == 2, fmt.Sprintf("version %d, reverted from %d, failures %q", job.Version, job.RevertedFrom, job.PlacementFailures)
	})
	allocs, err := via.JobAllocs(bg, "roll")
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for _, a := range allocs {
		if a.ClientStatus == "running" {
			running = append(running, a.ID)
		}
		if a.DesiredStatus == "stop" {
			t.Errorf("allocation %s (version %d) was stopped: %s", a.ID, a.JobVersion, describe(allocs))
		}
	}
	slices.Sort(before)
	slices.Sort(running)
	if !slices.Equal(running, before) {
		t.Errorf("running after the revert: %v, want the first version's %v", running, before)
	}
	if !paused {
		t.Errorf("peer job status never said that no peer could run the new version")
	}
}

// TestRolloutInTheOldAllocationsRoom: on peers with room for one allocation each, a
// new version that fits only where an old allocation runs still rolls out: bidders
// count the allocation being replaced as free, and it stops once its replacement is
// awarded.
func TestRolloutInTheOldAllocationsRoom(t *testing.T) {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var totalKB int
	for _, line := range strings.Split(string(meminfo), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			totalKB, _ = strconv.Atoi(f[1])
		}
	}
	c := newCluster(t, 0)
	conf := filepath.Join(t.TempDir(), "peer.hcl")
	// 1000 MiB left for allocations on each peer.
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("reserved {\n  memory = %d\n}\n", totalKB/1024-1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	c.add(0)
	c.add(1)
	c.waitMembers(2)
	via := c.peers[0].client
	submit(t, via, rolloutJob(600)) // one a peer
	c.waitRunning(via, "roll", 2)
	submit(t, via, rolloutJob(700)) // fits only in an old one's room
	c.waitFor(60*time.Second, "version 1 running in both slots", func() (bool, string) {
		allocs, err := via.JobAllocs(context.Background(), "roll")
		if err != nil {
			return false, err.Error()
		}
		v1 := 0
		for _, a := range live(allocs)["running"] {
			if a.JobVersion == 1 {
				v1++
			}
		}
		job, _ := via.Job(context.Background(), "roll")
		return v1 == 2, fmt.Sprintf("%s; failures %q", describe(allocs), job.PlacementFailures)
	})
}

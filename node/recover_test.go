package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// stubbornJob is a service job whose task outlives its kill signal for killTimeout
// (sleep is the pid 1 of its namespace, so it ignores SIGTERM).
func stubbornJob(id string, count int, killTimeout string) string {
	return strings.Replace(sleepJob(id, count), `kill_timeout = "500ms"`, fmt.Sprintf("kill_timeout = %q", killTimeout), 1)
}

// notEnded lists the allocations of job that some live peer still reports pending or
// running, with the peer whose view it is.
func notEnded(c *cluster, job string, which func(api.Alloc) bool) (bool, string) {
	var bad []string
	for _, p := range c.peers {
		if p == nil || !p.running() {
			continue
		}
		allocs, err := p.client.JobAllocs(bg, job)
		if err != nil {
			return false, p.name + ": " + err.Error()
		}
		for _, a := range allocs {
			if which(a) && (a.ClientStatus == "running" || a.ClientStatus == "pending") {
				bad = append(bad, fmt.Sprintf("view of %s: %s@%s %s/%s", p.name, a.ID[:8], a.NodeName, a.ClientStatus, a.DesiredStatus))
			}
		}
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}

// TestStopDuringRestart (F1): a job is stopped while its task is still inside its
// kill_timeout, the owner peer is SIGKILLed (the task lives on), and restarted. Its
// allocations must end (not stay "running" beside nothing) and the task must be gone;
// an allocation reported ended has no process left.
func TestStopDuringRestart(t *testing.T) {
	c := newCluster(t, 2)
	submit(t, c.peers[0].client, stubbornJob("halt", 2, "15s"))
	before := c.waitRunning(c.peers[0].client, "halt", 2)
	victim := busiest(c, before)
	if err := c.peers[1-victim].client.StopJob(bg, "halt", false); err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, a := range before {
		if a.NodeName == c.peers[victim].name {
			mine[a.ID] = true
		}
	}
	// The owner has taken the stop (desired stop) but its task ignores SIGTERM: kill
	// the peer inside the kill_timeout.
	c.waitFor(10*time.Second, "the owner took the stop", func() (bool, string) {
		allocs, err := c.peers[victim].client.JobAllocs(bg, "halt")
		if err != nil {
			return false, err.Error()
		}
		for _, a := range allocs {
			if mine[a.ID] && a.DesiredStatus != "stop" {
				return false, describe(allocs)
			}
		}
		return true, ""
	})
	c.kill(victim, false)
	for id := range mine {
		if len(processesInCgroup(id+"-t")) == 0 {
			t.Fatalf("task of %s died with its peer; the test needs it alive across the restart", id)
		}
	}
	c.add(victim)
	c.waitMembers(2)
	// The restarted owner finishes the stop (the rest of the kill_timeout), then
	// reports the allocations complete.
	c.waitFor(45*time.Second, "every allocation of the stopped job ended, in every view", func() (bool, string) {
		return notEnded(c, "halt", func(api.Alloc) bool { return true })
	})
	c.waitFor(10*time.Second, "the stopped tasks' processes gone", func() (bool, string) {
		for id := range mine {
			if pids := processesInCgroup(id + "-t"); len(pids) > 0 {
				return false, fmt.Sprintf("task of %s still runs as %v", id, pids)
			}
		}
		return true, ""
	})
}

// TestHostKilledAllocationsNotRestartedInPlace (F2): a host dies with its tasks and its
// peer comes back at once. Its old allocations have no task left: they must end (the
// coordinator replaces them), never be reattached and restarted in place.
func TestHostKilledAllocationsNotRestartedInPlace(t *testing.T) {
	c := newCluster(t, 2)
	submit(t, c.peers[0].client, sleepJob("host", 2))
	before := c.waitRunning(c.peers[0].client, "host", 2)
	victim := busiest(c, before)
	old := map[string]bool{}
	for _, a := range before {
		if a.NodeName == c.peers[victim].name {
			old[a.ID] = true
		}
	}
	c.kill(victim, true)
	c.add(victim)
	c.waitMembers(2)
	c.waitFor(20*time.Second, "the dead host's allocations ended, in every view", func() (bool, string) {
		return notEnded(c, "host", func(a api.Alloc) bool { return old[a.ID] })
	})
	after := c.waitRunning(c.peers[1-victim].client, "host", 2)
	for _, a := range after {
		if old[a.ID] {
			t.Errorf("allocation %s of the dead host runs again in place", a.ID)
		}
	}
}

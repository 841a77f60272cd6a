package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

var bg = context.Background()

// TestCluster runs one three-peer cluster through what a user does with jobs.
func TestCluster(t *testing.T) {
	c := newCluster(t, 3)
	p1, p3 := c.peers[0].client, c.peers[2].client

	t.Run("submit to one peer, status from another", func(t *testing.T) {
		resp := submit(t, p1, sleepJob("sleep", 3))
		if resp.JobID != "sleep" || resp.Version != 0 {
			t.Fatalf("submit answered %+v, want job sleep version 0", resp)
		}
		running := c.waitRunning(p3, "sleep", 3)
		from1 := c.waitRunning(p1, "sleep", 3)
		if got, want := ids(from1), ids(running); got != want {
			t.Errorf("p1 and p3 disagree on the running allocations:\np1: %s\np3: %s", got, want)
		}
		nodes := map[string]bool{"p1": true, "p2": true, "p3": true}
		slots := map[string]bool{}
		for _, a := range running {
			if !nodes[a.NodeName] {
				t.Errorf("allocation %s runs on %q, not a peer of the cluster", a.ID, a.NodeName)
			}
			slots[a.Slot] = true
		}
		if len(slots) != 3 {
			t.Errorf("running allocations fill slots %v, want sleep/g[0..2] once each", slots)
		}
	})

	t.Run("hand-written JSON may leave defaults out", func(t *testing.T) {
		var job jobspec.Job // no Type, Priority, Datacenters, Resources, policies
		if err := json.Unmarshal([]byte(`{"ID": "bare", "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [
			{"Name": "t", "Driver": "exec", "KillTimeout": 500000000, "Config": {"command": "/bin/sleep", "args": ["3600"]}}]}]}`), &job); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // the second, identical submit keeps the version: the hash is stable
			resp, err := p1.Register(bg, api.JobRegisterRequest{Job: &job})
			if err != nil || resp.Version != 0 {
				t.Fatalf("submit %d: %+v, %v; want version 0", i+1, resp, err)
			}
		}
		c.waitRunning(p3, "bare", 1)
		if got, err := p3.Job(bg, "bare"); err != nil || got.Type != "service" || got.Priority == 0 {
			t.Errorf("job as stored: %+v, %v; want type service and a priority filled in", got, err)
		}
	})

	t.Run("container task and its logs from any peer", func(t *testing.T) {
		submit(t, p3, fmt.Sprintf(`job "hello" {
  group "g" {
    task "t" {
      driver       = "container"
      kill_timeout = "500ms"
      config {
        image   = %q
        command = "sh"
        args    = ["-c", "echo hello from shoal; sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}`, imageRef))
		a := c.waitRunning(p1, "hello", 1)[0]
		c.waitFor(10*time.Second, "the task's stdout", func() (bool, string) {
			rc, err := p1.Logs(bg, a.ID[:8], "", "stdout", false)
			if err != nil {
				return false, err.Error()
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return strings.Contains(string(b), "hello from shoal"), string(b)
		})
	})

	t.Run("scale up and down", func(t *testing.T) {
		// A watcher blocked on the job's allocations (a blocking query on another
		// peer) is answered by the change the scaling makes, not by its wait running out.
		_, meta, err := c.peers[1].client.JobAllocsQuery(bg, "sleep", nil)
		if err != nil {
			t.Fatal(err)
		}
		watched := make(chan error, 1)
		go func() {
			start := time.Now()
			_, m, err := c.peers[1].client.JobAllocsQuery(bg, "sleep", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 2 * time.Minute})
			if err == nil && (m.LastIndex <= meta.LastIndex || time.Since(start) >= 2*time.Minute) {
				err = fmt.Errorf("answered with index %d after %v; want past %d before the wait ran out", m.LastIndex, time.Since(start), meta.LastIndex)
			}
			watched <- err
		}()
		if err := p1.Scale(bg, "sleep", "g", 5); err != nil {
			t.Fatal(err)
		}
		if err := <-watched; err != nil {
			t.Errorf("blocking query across the scaling: %v", err)
		}
		c.waitRunning(p3, "sleep", 5)
		if err := p3.Scale(bg, "sleep", "g", 2); err != nil {
			t.Fatal(err)
		}
		got := c.waitRunning(p1, "sleep", 2)
		for _, a := range got {
			if a.Index > 1 {
				t.Errorf("after scaling to 2, slot %s still runs; want indexes 0 and 1", a.Slot)
			}
		}
		job, err := p3.Job(bg, "sleep")
		if err != nil {
			t.Fatal(err)
		}
		if job.Version != 2 || job.Groups[0].Count != 2 {
			t.Errorf("job after two scalings: version %d count %d, want version 2 count 2", job.Version, job.Groups[0].Count)
		}
		if err := p1.Scale(bg, "sleep", "nope", 1); err == nil || !strings.Contains(err.Error(), `no group "nope"`) {
			t.Errorf("scaling an unknown group: err = %v, want it to name the group", err)
		}
	})

	t.Run("stop and purge", func(t *testing.T) {
		if err := p3.StopJob(bg, "hello", false); err != nil {
			t.Fatal(err)
		}
		c.waitFor(30*time.Second, "hello's allocations to stop", func() (bool, string) {
			allocs, err := p1.JobAllocs(bg, "hello")
			if err != nil {
				return false, err.Error()
			}
			for _, a := range allocs {
				if a.DesiredStatus != "stop" || a.ClientStatus == "running" {
					return false, describe(allocs)
				}
			}
			return len(allocs) > 0, describe(allocs)
		})
		job, err := p1.Job(bg, "hello")
		if err != nil || job.Status != "dead" || !job.Stop {
			t.Fatalf("stopped job reads %+v, %v; want status dead, Stop true", job, err)
		}
		if err := p1.StopJob(bg, "hello", true); err != nil {
			t.Fatal(err)
		}
		c.waitFor(10*time.Second, "the purge to reach p3", func() (bool, string) {
			_, err := p3.Job(bg, "hello")
			var ae *api.Error
			return errors.As(err, &ae) && ae.StatusCode == 404, fmt.Sprint(err)
		})
		c.waitFor(20*time.Second, "the purged job's allocations to be forgotten", func() (bool, string) {
			allocs, err := p3.JobAllocs(bg, "hello")
			var ae *api.Error
			return errors.As(err, &ae) && ae.StatusCode == 404, fmt.Sprint(describe(allocs), err)
		})
	})

	t.Run("crashing task restarted in place then rescheduled elsewhere", func(t *testing.T) {
		submit(t, p1, `job "crash" {
  group "g" {
    restart {
      attempts = 1
      interval = "10m"
      delay    = "100ms"
      mode     = "fail"
    }
    reschedule {
      attempts  = 1
      interval  = "1h"
      delay     = "100ms"
      unlimited = false
    }
    task "t" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sh"
        args    = ["-c", "exit 3"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}`)
		var first, second api.Alloc
		c.waitFor(45*time.Second, "a failed allocation and its replacement, failed too", func() (bool, string) {
			allocs, err := p3.JobAllocs(bg, "crash")
			if err != nil {
				return false, err.Error()
			}
			first, second = api.Alloc{}, api.Alloc{}
			for _, a := range allocs {
				if a.PreviousAlloc == "" {
					first = a
				}
			}
			for _, a := range allocs {
				if first.ID != "" && a.PreviousAlloc == first.ID {
					second = a
				}
			}
			return first.ClientStatus == "failed" && second.ClientStatus == "failed", describe(allocs)
		})
		if first.RestartCount != 1 {
			t.Errorf("first allocation restarted %d times in place, want 1 (restart.attempts)", first.RestartCount)
		}
		if ts := first.TaskStates["t"]; ts.ExitCode != 3 || !ts.Failed {
			t.Errorf("first allocation's task state %+v, want failed with exit code 3", ts)
		}
		if second.NodeID == first.NodeID {
			t.Errorf("replacement %s runs on %s like the failed %s; want another peer", second.ID, second.NodeName, first.ID)
		}
		// reschedule.attempts = 1: nothing after the second.
		allocs, _ := p1.JobAllocs(bg, "crash")
		if len(allocs) != 2 {
			t.Errorf("crash has %d allocations, want 2 (one reschedule): %s", len(allocs), describe(allocs))
		}
	})

	t.Run("batch job completes and is not rerun", func(t *testing.T) {
		submit(t, p3, trueJob("once", 2))
		c.waitFor(30*time.Second, "both batch allocations complete", func() (bool, string) {
			allocs, err := p1.JobAllocs(bg, "once")
			if err != nil {
				return false, err.Error()
			}
			return len(live(allocs)["complete"]) == 2, describe(allocs)
		})
		// Two reconcile ticks (2 s each) later, nothing was placed again.
		time.Sleep(4500 * time.Millisecond)
		allocs, _ := p1.JobAllocs(bg, "once")
		if len(allocs) != 2 {
			t.Errorf("batch job has %d allocations after completing, want 2: %s", len(allocs), describe(allocs))
		}
		job, _ := p1.Job(bg, "once")
		if job == nil || job.Status != "dead" {
			t.Errorf("completed batch job status %v, want dead", job)
		}
	})

	t.Run("bad API body and bad job file change nothing", func(t *testing.T) {
		before, _ := p1.Jobs(bg)
		for _, tc := range []struct{ name, body, want string }{
			{"not JSON", `{"Job": `, "request body"},
			{"unknown field", `{"Jobb": {}}`, `unknown field "Jobb"`},
			{"neither", `{}`, `"Job" (JSON job) or "JobHCL"`},
			{"invalid HCL", `{"JobHCL": "job \"x\" {\n group \"g\" {\n count = -1\n }\n}"}`, "count"},
		} {
			resp, err := http.Post("http://"+c.peers[1].addr+":4646/v1/jobs", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(msg), tc.want) {
				t.Errorf("%s: HTTP %d %q; want 400 mentioning %q", tc.name, resp.StatusCode, msg, tc.want)
			}
		}
		for _, path := range []string{"/v1/job/nope", "/v1/allocation/ffffffff", "/v1/node/nope", "/v1/job/nope/allocations"} {
			resp, err := http.Get("http://" + c.peers[1].addr + ":4646" + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("GET %s: HTTP %d, want 404", path, resp.StatusCode)
			}
		}
		bad := filepath.Join(t.TempDir(), "bad.hcl")
		os.WriteFile(bad, []byte("job \"bad\" {\n  group \"g\" {\n    count = \"many\"\n  }\n}\n"), 0o644)
		var stderr bytes.Buffer
		cmd := exec.Command(peerBin, "job", "run", "-address", c.peers[0].addr+":4646", bad)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("peer job run of a bad file succeeded")
		}
		if !strings.Contains(stderr.String(), "bad.hcl:3") {
			t.Errorf("peer job run of a bad file printed %q; want the file and line (bad.hcl:3)", stderr.String())
		}
		after, _ := p1.Jobs(bg)
		if len(after) != len(before) {
			t.Errorf("jobs before %d, after bad submissions %d", len(before), len(after))
		}
	})

	t.Run("new job version replaces the allocations", func(t *testing.T) {
		job := strings.Replace(sleepJob("sleep", 2), `"3600"`, `"3601"`, 1)
		job = strings.Replace(job, `count = 2`, "count = 2\n    update {\n      max_parallel     = 2\n      min_healthy_time = \"100ms\"\n    }", 1)
		resp := submit(t, p1, job)
		c.waitFor(45*time.Second, "every running allocation on the new version", func() (bool, string) {
			allocs, err := p3.JobAllocs(bg, "sleep")
			if err != nil {
				return false, err.Error()
			}
			run := live(allocs)["running"]
			for _, a := range run {
				if a.JobVersion != resp.Version {
					return false, describe(allocs)
				}
			}
			return len(run) == 2 && len(live(allocs)["pending"]) == 0, describe(allocs)
		})
	})

	t.Run("drain moves allocations off a peer", func(t *testing.T) {
		if err := p3.Drain(bg, "p2", true); err != nil {
			t.Fatal(err)
		}
		// p2 may have run none of sleep's allocations already, so the allocations
		// alone do not show that p1 has heard of the drain: wait for both.
		c.waitFor(45*time.Second, "p2 drained and ineligible as p1 sees it, nothing running on p2 and sleep still at 2", func() (bool, string) {
			n, err := p1.Node(bg, "p2")
			if err != nil || !n.Drain || n.SchedulingEligibility != "ineligible" {
				return false, fmt.Sprintf("p2 reads drain=%v eligibility=%q (err %v)", n != nil && n.Drain, n.SchedulingEligibility, err)
			}
			allocs, err := p1.JobAllocs(bg, "sleep")
			if err != nil {
				return false, err.Error()
			}
			run := live(allocs)["running"]
			for _, a := range allocs {
				if a.NodeName == "p2" && a.ClientStatus == "running" {
					return false, describe(allocs)
				}
			}
			return len(run) == 2, describe(allocs)
		})
		if err := p1.Drain(bg, "p2", false); err != nil {
			t.Fatal(err)
		}
		c.waitFor(10*time.Second, "p2 eligible again", func() (bool, string) {
			n, err := p3.Node(bg, "p2")
			return err == nil && n.SchedulingEligibility == "eligible" && !n.Drain, fmt.Sprint(n, err)
		})
	})

	t.Run("peer job run says why a job cannot be placed", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "windows.hcl")
		job := strings.Replace(sleepJob("win", 1), `group "g" {`, "constraint {\n    attribute = \"${attr.kernel.name}\"\n    value     = \"windows\"\n  }\n  group \"g\" {", 1)
		os.WriteFile(f, []byte(job), 0o644)
		out, err := exec.Command(peerBin, "job", "run", "-address", c.peers[1].addr+":4646", f).CombinedOutput()
		if err == nil {
			t.Fatalf("peer job run of an unplaceable job exited 0:\n%s", out)
		}
		if !strings.Contains(string(out), "kernel.name") {
			t.Errorf("peer job run output does not say which constraint failed:\n%s", out)
		}
		// The coordinator retries on every pass (a tick, every change) for as long as
		// peer job run watched (> 5 s), but warns only when the reason changes (p2's
		// eligibility may still flip once after the drain subtest).
		warned := 0
		for _, p := range c.peers {
			b, _ := os.ReadFile(filepath.Join(c.dir, p.name+".log"))
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, `msg="cannot place"`) && strings.Contains(l, "job=win") {
					warned++
				}
			}
		}
		if warned == 0 || warned > 3 {
			t.Errorf("peers logged %d \"cannot place\" warnings for the unplaceable job; want one per reason (1-3)", warned)
		}
	})

	t.Run("system job on every peer and on one that joins later", func(t *testing.T) {
		submit(t, p1, `job "everywhere" {
  type = "system"
  group "g" {
    task "t" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}`)
		got := c.waitRunning(p1, "everywhere", 3)
		if on := nodesOf(got); on != "p1,p2,p3" {
			t.Errorf("system job runs on %s, want p1,p2,p3", on)
		}
		c.add(3)
		c.waitMembers(4)
		got = c.waitRunning(c.peers[3].client, "everywhere", 4)
		if on := nodesOf(got); on != "p1,p2,p3,p4" {
			t.Errorf("system job runs on %s after p4 joined, want p1,p2,p3,p4", on)
		}
	})
}

// TestPeerKilledWithItsTasks: a host dies (peer and containers); its allocations run
// elsewhere.
func TestPeerKilledWithItsTasks(t *testing.T) {
	c := newCluster(t, 3)
	submit(t, c.peers[0].client, sleepJob("s", 4))
	before := c.waitRunning(c.peers[0].client, "s", 4)
	victim := busiest(c, before)
	c.kill(victim, true)
	c.waitDown(victim)
	after := c.waitRunning(c.any(victim), "s", 4)
	for _, a := range after {
		if a.NodeName == c.peers[victim].name {
			t.Errorf("allocation %s still counted running on the dead peer %s", a.ID, a.NodeName)
		}
	}
}

// TestSubmitterKilled: the peer a job was submitted to dies right after answering;
// the job was replicated, so the others place it.
func TestSubmitterKilled(t *testing.T) {
	c := newCluster(t, 3)
	submit(t, c.peers[0].client, sleepJob("orphan", 3))
	c.kill(0, true)
	c.waitDown(0)
	got := c.waitRunning(c.peers[1].client, "orphan", 3)
	for _, a := range got {
		if a.NodeName == "p1" {
			t.Errorf("allocation %s on the killed submitter p1 counted running", a.ID)
		}
	}
}

// TestRestartReattaches: a peer killed alone (its containers live on) and restarted
// with the same data dir keeps its identity and its tasks; nothing is doubled.
func TestRestartReattaches(t *testing.T) {
	c := newCluster(t, 3)
	submit(t, c.peers[0].client, sleepJob("keep", 3))
	before := c.waitRunning(c.peers[0].client, "keep", 3)
	victim := busiest(c, before)
	self, err := c.peers[victim].client.Self(bg)
	if err != nil {
		t.Fatal(err)
	}
	c.kill(victim, false)
	c.add(victim)
	c.waitMembers(3)
	again, err := c.peers[victim].client.Self(bg)
	if err != nil || again.NodeID != self.NodeID {
		t.Fatalf("restarted peer has id %v (%v), want %s", again, err, self.NodeID)
	}
	after := c.waitRunning(c.peers[1].client, "keep", 3)
	slots := map[string]int{}
	for _, a := range after {
		slots[a.Slot]++
		if a.NodeName == c.peers[victim].name && a.RestartCount != 0 {
			t.Errorf("reattached allocation %s was restarted %d times; want its task left running", a.ID, a.RestartCount)
		}
	}
	for s, n := range slots {
		if n != 1 {
			t.Errorf("slot %s has %d running allocations, want 1", s, n)
		}
	}
}

// busiest is the index of the peer running most of allocs.
func busiest(c *cluster, allocs []api.Alloc) int {
	count := map[string]int{}
	for _, a := range allocs {
		count[a.NodeName]++
	}
	best, bestN := 0, -1
	for i, p := range c.peers {
		if p != nil && count[p.name] > bestN {
			best, bestN = i, count[p.name]
		}
	}
	return best
}

func ids(allocs []api.Alloc) string {
	var s []string
	for _, a := range allocs {
		s = append(s, a.ID)
	}
	return strings.Join(sortStrings(s), ",")
}

func nodesOf(allocs []api.Alloc) string {
	var s []string
	for _, a := range allocs {
		s = append(s, a.NodeName)
	}
	return strings.Join(sortStrings(s), ",")
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// TestReturningPeerStopsItsReplacedAllocations: a peer killed alone (its tasks live on)
// comes back after its allocations were replaced elsewhere; it keeps nothing doubled.
func TestReturningPeerStopsItsReplacedAllocations(t *testing.T) {
	c := newCluster(t, 3)
	submit(t, c.peers[0].client, sleepJob("back", 3))
	before := c.waitRunning(c.peers[0].client, "back", 3)
	victim := busiest(c, before)
	c.kill(victim, false)
	c.waitDown(victim)
	replaced := c.waitRunning(c.any(victim), "back", 3)
	for _, a := range replaced {
		if a.NodeName == c.peers[victim].name {
			t.Fatalf("allocation %s of the down peer counted running", a.ID)
		}
	}
	c.add(victim)
	c.waitMembers(3)
	c.waitFor(30*time.Second, "the returning peer's old allocations stopped", func() (bool, string) {
		allocs, err := c.peers[victim].client.JobAllocs(bg, "back")
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				running++
				if a.NodeName == c.peers[victim].name {
					return false, describe(allocs)
				}
			}
		}
		return running == 3, describe(allocs)
	})
	// And the processes are gone, not only the records: every task's cgroup is named
	// after its task id (<alloc id>-<task>).
	c.waitFor(10*time.Second, "the replaced tasks' processes gone", func() (bool, string) {
		for _, a := range before {
			if a.NodeName != c.peers[victim].name {
				continue
			}
			if pids := processesInCgroup(a.ID + "-t"); len(pids) > 0 {
				return false, fmt.Sprintf("task of %s still runs as %v", a.ID, pids)
			}
		}
		return true, ""
	})
}

// processesInCgroup lists the processes whose cgroup path mentions name.
func processesInCgroup(name string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cgroup"); err == nil && strings.Contains(string(b), name) {
			out = append(out, pid)
		}
	}
	return out
}

// TestGracefulLeave: SIGTERM makes a peer leave: the others see it "left" (not down
// after a failure timeout), its tasks are stopped and its allocations run elsewhere.
func TestGracefulLeave(t *testing.T) {
	c := newCluster(t, 3)
	submit(t, c.peers[0].client, sleepJob("leave", 3))
	before := c.waitRunning(c.peers[0].client, "leave", 3)
	victim := busiest(c, before)
	p := c.peers[victim]
	p.cmd.Process.Signal(syscall.SIGTERM)
	via := c.any(victim)
	c.waitFor(20*time.Second, p.name+" seen left", func() (bool, string) {
		n, err := via.Node(bg, p.name)
		return err == nil && n.Status == "left", fmt.Sprint(n.Status, err)
	})
	after := c.waitRunning(via, "leave", 3)
	for _, a := range after {
		if a.NodeName == p.name {
			t.Errorf("allocation %s still counted running on %s, which left", a.ID, p.name)
		}
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM", p.name)
	}
	for _, a := range before {
		if a.NodeName == p.name && len(processesInCgroup(a.ID+"-t")) > 0 {
			t.Errorf("task of %s still runs after its peer left", a.ID)
		}
	}
}

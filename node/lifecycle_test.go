package node_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// Lifecycle hooks (Nomad's lifecycle block) on a real peer with real exec tasks.
//
// The tests observe the order of the tasks through their states in the allocation
// record (start and finish times, and what the record shows while a hook runs),
// their logs, and a file a prestart task leaves in the shared alloc dir for the
// main task.

// hookTask is a task of a lifecycle test job: an exec task running sh -c script,
// with a lifecycle block unless hook is "".
func hookTask(name, hook string, sidecar bool, script string) string {
	lc := ""
	if hook != "" {
		lc = fmt.Sprintf("\n    lifecycle {\n      hook    = %q\n      sidecar = %v\n    }", hook, sidecar)
	}
	return fmt.Sprintf(`
  task %q {
    driver       = "exec"
    kill_timeout = "500ms"%s
    config {
      command = "/bin/sh"
      args    = ["-c", %q]
    }
    resources {
      cpu    = 20
      memory = 32
    }
  }`, name, lc, script)
}

// hookJob is a job of one group holding tasks. No restart and no reschedule: a
// failure shows at once and stays.
func hookJob(id, typ string, tasks ...string) string {
	return fmt.Sprintf(`job %q {
  type = %q
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
%s
  }
}
`, id, typ, strings.Join(tasks, "\n"))
}

// runHookJob submits hookJob(id, typ, tasks...) and returns its one allocation's id.
func runHookJob(c *cluster, via *api.Client, job, typ string, tasks ...string) string {
	c.t.Helper()
	submit(c.t, via, hookJob(job, typ, tasks...))
	return oneAlloc(c, via, job)
}

// oneAlloc waits for the one allocation of a job and returns its id.
func oneAlloc(c *cluster, via *api.Client, job string) string {
	c.t.Helper()
	var id string
	c.waitFor(30*time.Second, "the allocation of "+job, func() (bool, string) {
		allocs, err := via.JobAllocs(bg, job)
		if err != nil || len(allocs) != 1 {
			return false, fmt.Sprint(describe(allocs), err)
		}
		id = allocs[0].ID
		return true, ""
	})
	return id
}

// watchAlloc polls the allocation until done says so, calling check on every state
// seen on the way (each is one consistent record of the owner), and returns the last.
func watchAlloc(c *cluster, via *api.Client, id, what string, check func(*api.Alloc), done func(*api.Alloc) bool) *api.Alloc {
	c.t.Helper()
	var last *api.Alloc
	c.waitEvery(60*time.Second, 20*time.Millisecond, what, func() (bool, string) {
		a, err := via.Alloc(bg, id)
		if err != nil {
			return false, err.Error()
		}
		last = a
		check(a)
		return done(a), fmt.Sprintf("%s: %s", a.ClientStatus, states(a))
	})
	return last
}

// ended reports whether an allocation is over (complete, failed or lost).
func ended(a *api.Alloc) bool { return a.ClientStatus != "pending" && a.ClientStatus != "running" }

// wantDead checks that every named task is dead, failed or not as said.
func wantDead(t *testing.T, a *api.Alloc, failed bool, names ...string) {
	t.Helper()
	for _, name := range names {
		if s := a.TaskStates[name]; s.State != "dead" || s.Failed != failed {
			t.Errorf("task %s: %s failed=%v exit=%d %q; want dead, failed=%v", name, s.State, s.Failed, s.ExitCode, s.Message, failed)
		}
	}
}

// states renders an allocation's task states for failure messages.
func states(a *api.Alloc) string {
	var parts []string
	for name, s := range a.TaskStates {
		parts = append(parts, fmt.Sprintf("%s=%s(failed=%v exit=%d %q)", name, s.State, s.Failed, s.ExitCode, s.Message))
	}
	return strings.Join(sortStrings(parts), " ")
}

func taskLog(t *testing.T, via *api.Client, alloc, task string) string {
	t.Helper()
	rc, err := via.Logs(bg, alloc, task, "stdout", false)
	if err != nil {
		t.Fatalf("logs of %s: %v", task, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestLifecycleHooks(t *testing.T) {
	c := newCluster(t, 1)
	p := c.peers[0].client

	t.Run("batch: prestart completes before the main task, the sidecar is stopped after it, poststop runs last", func(t *testing.T) {
		id := runHookJob(c, p, "hooks", "batch",
			hookTask("init", "prestart", false, "echo prepared by init > $NOMAD_ALLOC_DIR/data/ready; sleep 3"),
			hookTask("proxy", "prestart", true, "exec sleep 3600"),
			hookTask("main", "", false, "cat /alloc/data/ready; sleep 1"),
			hookTask("cleanup", "poststop", false, "echo cleaned up"),
		)
		sawInit, badInit := false, false
		a := watchAlloc(c, p, id, "the allocation complete", func(a *api.Alloc) {
			if a.TaskStates["init"].State != "running" {
				return
			}
			// While the prestart task runs, the main task has not started and the
			// allocation is pending, as in Nomad.
			if _, started := a.TaskStates["main"]; (started || a.ClientStatus != "pending") && !badInit {
				badInit = true // said once
				t.Errorf("while init runs: allocation %s, main %+v; want pending, main not started", a.ClientStatus, a.TaskStates["main"])
			}
			sawInit = true
		}, ended)
		if !sawInit {
			t.Errorf("never saw the prestart task running (it sleeps 3 s)")
		}
		if a.ClientStatus != "complete" {
			t.Fatalf("allocation %s (%s), want complete: %s", a.ClientStatus, a.ClientDescription, states(a))
		}
		wantDead(t, a, false, "init", "proxy", "main", "cleanup")
		// The allocation carries its tasks' hooks, as its job version has them.
		if got, want := fmt.Sprint(a.TaskLifecycles), "map[cleanup:poststop init:prestart proxy:prestart sidecar]"; got != want {
			t.Errorf("the allocation's TaskLifecycles %s, want %s", got, want)
		}
		ts := a.TaskStates
		for _, o := range []struct {
			what          string
			before, after time.Time
		}{
			{"init finished before main started", ts["init"].FinishedAt, ts["main"].StartedAt},
			{"proxy started before main", ts["proxy"].StartedAt, ts["main"].StartedAt},
			{"proxy stopped after main finished", ts["main"].FinishedAt, ts["proxy"].FinishedAt},
			{"cleanup started after main finished", ts["main"].FinishedAt, ts["cleanup"].StartedAt},
		} {
			if o.before.IsZero() || o.after.IsZero() || o.after.Before(o.before) {
				t.Errorf("%s: %s then %s", o.what, o.before.Format(time.StampMicro), o.after.Format(time.StampMicro))
			}
		}
		if got := taskLog(t, p, id, "cleanup"); got != "cleaned up\n" {
			t.Errorf("cleanup's output %q, want %q", got, "cleaned up\n")
		}
		// The main task read what the prestart task left in the shared alloc dir.
		if got := taskLog(t, p, id, "main"); got != "prepared by init\n" {
			t.Errorf("main's output %q, want %q (from init, through /alloc)", got, "prepared by init\n")
		}
		if pids := processesInCgroup(id + "-proxy"); len(pids) > 0 {
			t.Errorf("the sidecar still runs as %v after the allocation completed", pids)
		}
		job, err := p.Job(bg, "hooks")
		if err != nil || job.Status != "dead" {
			t.Errorf("job status %v (%v), want dead (the batch job completed)", job, err)
		}
		// The shared directory outlives the allocation's end and goes when its job
		// is purged.
		dir := filepath.Join(c.peers[0].dataDir, "allocs", id)
		if _, err := os.Stat(filepath.Join(dir, "data", "ready")); err != nil {
			t.Errorf("init's file in the completed allocation's shared directory: %v", err)
		}
		if err := p.StopJob(bg, "hooks", true); err != nil {
			t.Fatal(err)
		}
		c.waitFor(30*time.Second, "the purged job's shared allocation directory removed", func() (bool, string) {
			_, err := os.Stat(dir)
			return os.IsNotExist(err), fmt.Sprint(err)
		})
	})

	t.Run("a failing prestart task fails the allocation and the main task never starts", func(t *testing.T) {
		id := runHookJob(c, p, "badinit", "batch",
			hookTask("init", "prestart", false, "echo no database; exit 3"),
			hookTask("proxy", "prestart", true, "exec sleep 3600"),
			hookTask("main", "", false, "echo main ran"),
			hookTask("cleanup", "poststop", false, "echo cleaned up"),
		)
		a := watchAlloc(c, p, id, "the allocation failed", func(*api.Alloc) {}, ended)
		if a.ClientStatus != "failed" {
			t.Fatalf("allocation %s, want failed: %s", a.ClientStatus, states(a))
		}
		wantDead(t, a, true, "init")
		if code := a.TaskStates["init"].ExitCode; code != 3 {
			t.Errorf("init's exit code %d, want 3", code)
		}
		for _, never := range []string{"main", "cleanup"} {
			if s, started := a.TaskStates[never]; started {
				t.Errorf("%s started (%+v); want it never started", never, s)
			}
		}
		wantDead(t, a, false, "proxy") // stopped
		if pids := processesInCgroup(id + "-proxy"); len(pids) > 0 {
			t.Errorf("the sidecar still runs as %v after the allocation failed", pids)
		}
	})

	t.Run("service: poststart runs once the main task runs, poststop when the job is stopped", func(t *testing.T) {
		id := runHookJob(c, p, "svc", "service",
			hookTask("init", "prestart", false, "echo init ran"),
			hookTask("main", "", false, "exec sleep 3600"),
			hookTask("announce", "poststart", false, "echo announced"),
			hookTask("cleanup", "poststop", false, "echo cleaned up"),
		)
		a := watchAlloc(c, p, id, "the allocation running and announce done", func(*api.Alloc) {},
			func(a *api.Alloc) bool {
				return a.ClientStatus == "running" && a.TaskStates["announce"].State == "dead"
			})
		// Completed hook tasks are dead without failure, and the allocation runs
		// (in a service job they are not restarted).
		wantDead(t, a, false, "init", "announce")
		if ts := a.TaskStates; ts["announce"].StartedAt.Before(ts["main"].StartedAt) || ts["main"].StartedAt.Before(ts["init"].FinishedAt) {
			t.Errorf("order: init finished %s, main started %s, announce started %s; want that order",
				ts["init"].FinishedAt, ts["main"].StartedAt, ts["announce"].StartedAt)
		}
		if _, started := a.TaskStates["cleanup"]; started {
			t.Errorf("cleanup started while main runs: %s", states(a))
		}
		if err := p.StopJob(bg, "svc", false); err != nil {
			t.Fatal(err)
		}
		a = watchAlloc(c, p, id, "the allocation complete", func(*api.Alloc) {}, ended)
		if a.ClientStatus != "complete" {
			t.Fatalf("allocation %s, want complete: %s", a.ClientStatus, states(a))
		}
		wantDead(t, a, false, "main", "cleanup")
		main, cleanup := a.TaskStates["main"], a.TaskStates["cleanup"]
		if cleanup.StartedAt.Before(main.FinishedAt) {
			t.Errorf("cleanup started at %s, before main finished at %s", cleanup.StartedAt, main.FinishedAt)
		}
		if got := taskLog(t, p, id, "cleanup"); got != "cleaned up\n" {
			t.Errorf("cleanup's output %q, want %q", got, "cleaned up\n")
		}
	})
}

// TestAllocDirLoneTask: a group of one task gets the shared allocation directory
// too, as in Nomad, under both drivers: a script written for Nomad that writes to
// $NOMAD_ALLOC_DIR/data works, and the file is in the allocation's directory on
// the host.
func TestAllocDirLoneTask(t *testing.T) {
	c := newCluster(t, 1)
	p := c.peers[0].client
	script := "echo from $NOMAD_ALLOC_DIR > $NOMAD_ALLOC_DIR/data/f && cat /alloc/data/f && test -d /alloc/tmp"
	for _, driver := range []string{"exec", "container"} {
		t.Run(driver, func(t *testing.T) {
			cfg := `command = "/bin/sh"`
			if driver == "container" {
				cfg = fmt.Sprintf(`image   = %q
        command = "/bin/sh"`, imageRef)
			}
			job := "lone-" + driver
			submit(t, p, fmt.Sprintf(`job %q {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = %q
      config {
        %s
        args = ["-c", %q]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, job, driver, cfg, script))
			id := oneAlloc(c, p, job)
			a := watchAlloc(c, p, id, "the allocation complete", func(*api.Alloc) {}, ended)
			if a.ClientStatus != "complete" {
				t.Fatalf("allocation %s (%s), want complete: %s", a.ClientStatus, a.ClientDescription, states(a))
			}
			if got := taskLog(t, p, id, "t"); got != "from /alloc\n" {
				t.Errorf("the task's output %q, want %q", got, "from /alloc\n")
			}
			b, err := os.ReadFile(filepath.Join(c.peers[0].dataDir, "allocs", id, "data", "f"))
			if err != nil || string(b) != "from /alloc\n" {
				t.Errorf("the task's file in the allocation's directory on the host: %q, %v", b, err)
			}
		})
	}
}

// TestLifecyclePrestartNotRerunAfterRestart: a peer killed (its tasks live on) and
// restarted reattaches to the main task and does not run the completed prestart
// task again.
func TestLifecyclePrestartNotRerunAfterRestart(t *testing.T) {
	c := newCluster(t, 1)
	p := c.peers[0].client
	id := runHookJob(c, p, "resume", "service",
		hookTask("init", "prestart", false, "echo init ran"),
		hookTask("main", "", false, "exec sleep 3600"),
	)
	before := watchAlloc(c, p, id, "the allocation running", func(*api.Alloc) {},
		func(a *api.Alloc) bool { return a.ClientStatus == "running" })
	c.kill(0, false)
	c.add(0)
	p = c.peers[0].client
	// The restarted peer reattaches to main and marks it running again, with a new
	// start time. Had it run init again, main would start only after init (a new
	// init state first).
	after := watchAlloc(c, p, id, "main reattached", func(*api.Alloc) {}, func(a *api.Alloc) bool {
		s := a.TaskStates["main"]
		return ended(a) || s.State == "running" && s.StartedAt.After(before.TaskStates["main"].StartedAt)
	})
	if got, want := after.TaskStates["init"], before.TaskStates["init"]; !got.StartedAt.Equal(want.StartedAt) || got.State != "dead" || got.Failed {
		t.Errorf("init after the restart: %+v; want it as before (%+v): not run again", got, want)
	}
	if after.ClientStatus != "running" {
		t.Errorf("allocation %s after the restart, want running: %s", after.ClientStatus, states(after))
	}
	if got := taskLog(t, p, id, "init"); got != "init ran\n" {
		t.Errorf("init's output %q after the restart, want one run: %q", got, "init ran\n")
	}
}

// TestLifecycleFailureSurvivesRestart: a peer killed while the poststop task of an
// allocation whose main task failed runs, then restarted, reports the allocation
// failed, not complete (nor lost, when its tasks died with it), and does not run the
// failed task again.
//
// The restarted peer cannot know the exit status of the poststop run it reattached
// to (that process was not its child: exec.ExitResult.Unknown), so with a restart
// attempt (batch jobs have 3 by default) it runs cleanup again, which completes.
func TestLifecycleFailureSurvivesRestart(t *testing.T) {
	c := newCluster(t, 1)
	cleanup := strings.Replace(hookTask("cleanup", "poststop", false, "sleep 2; echo cleaned up"), "    lifecycle {", `    restart {
      attempts = 1
      delay    = "100ms"
      mode     = "fail"
    }
    lifecycle {`, 1)
	for _, tc := range []struct {
		name      string
		withTasks bool // the host died: the tasks died with the peer
		cleanedUp bool
	}{
		{"the poststop task lives on", false, true},
		{"the tasks died with the peer", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.peers[0].client
			job := fmt.Sprintf("failing-%v", tc.withTasks)
			id := runHookJob(c, p, job, "batch", hookTask("main", "", false, "echo main ran; exit 3"), cleanup)
			watchAlloc(c, p, id, "cleanup running after main failed", func(*api.Alloc) {}, func(a *api.Alloc) bool {
				return ended(a) || a.TaskStates["cleanup"].State == "running"
			})
			c.kill(0, tc.withTasks)
			c.add(0)
			p = c.peers[0].client
			a := watchAlloc(c, p, id, "the allocation ended after the restart", func(*api.Alloc) {}, ended)
			if a.ClientStatus != "failed" {
				t.Errorf("allocation %s (%s) after the restart, want failed: %s", a.ClientStatus, a.ClientDescription, states(a))
			}
			wantDead(t, a, true, "main")
			if code := a.TaskStates["main"].ExitCode; code != 3 {
				t.Errorf("main's exit code %d, want 3", code)
			}
			if got := taskLog(t, p, id, "main"); got != "main ran\n" {
				t.Errorf("main's output %q, want one run: %q", got, "main ran\n")
			}
			if tc.cleanedUp {
				wantDead(t, a, false, "cleanup")
			}
		})
	}
}

// TestLifecyclePoststopLimitedOnStop: the poststop tasks of an allocation told to
// stop run for their kill_timeout at most (then they are stopped like any task), so
// neither `peer job stop` nor a peer's shutdown waits on one that never ends.
func TestLifecyclePoststopLimitedOnStop(t *testing.T) {
	c := newCluster(t, 1)
	p := c.peers[0].client
	endless := hookTask("cleanup", "poststop", false, "exec sleep 3600") // kill_timeout 500ms

	t.Run("job stop", func(t *testing.T) {
		id := runHookJob(c, p, "stopped", "service", hookTask("main", "", false, "exec sleep 3600"), endless)
		watchAlloc(c, p, id, "the allocation running", func(*api.Alloc) {}, func(a *api.Alloc) bool { return a.ClientStatus == "running" })
		if err := p.StopJob(bg, "stopped", false); err != nil {
			t.Fatal(err)
		}
		a := watchAlloc(c, p, id, "the stopped allocation's end", func(*api.Alloc) {}, ended)
		if a.ClientStatus != "complete" {
			t.Errorf("allocation %s (%s), want complete: %s", a.ClientStatus, a.ClientDescription, states(a))
		}
		wantDead(t, a, false, "main", "cleanup")
		if msg := a.TaskStates["cleanup"].Message; !strings.Contains(msg, "500ms (its kill_timeout) after the allocation was told to stop") {
			t.Errorf("cleanup's message %q, want it to say it ran out of time", msg)
		}
		if pids := processesInCgroup(id + "-cleanup"); len(pids) > 0 {
			t.Errorf("cleanup still runs as %v", pids)
		}
	})

	t.Run("peer shutdown", func(t *testing.T) {
		id := runHookJob(c, p, "shutdown", "service", hookTask("main", "", false, "exec sleep 3600"), endless)
		watchAlloc(c, p, id, "the allocation running", func(*api.Alloc) {}, func(a *api.Alloc) bool { return a.ClientStatus == "running" })
		peer := c.peers[0]
		peer.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-peer.done:
		case <-time.After(30 * time.Second): // main 0.5 s, then cleanup 0.5 s + 0.5 s: far less
			t.Fatalf("the peer still runs 30 s after SIGTERM (cleanup running: %v)", processesInCgroup(id+"-cleanup"))
		}
		if pids := processesInCgroup(id + "-cleanup"); len(pids) > 0 {
			t.Errorf("cleanup still runs as %v after the peer left", pids)
		}
	})
}

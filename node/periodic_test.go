package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// periodicJob is a periodic batch job whose task runs for `run` (a sleep) under the
// exec driver; cron has 7 fields, seconds first, so that a test waits seconds.
func periodicJob(id, cron string, overlap bool, run string) string {
	return fmt.Sprintf(`job %q {
  type = "batch"
  periodic {
    crons            = [%q]
    prohibit_overlap = %v
  }
  group "g" {
    task "t" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sleep"
        args    = [%q]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, id, cron, overlap, run)
}

// children reads a parent's children, oldest first.
// children lists a parent's children as the peer via sees them (an error while the
// parent has not reached it yet).
func children(via *api.Client, parent string) ([]api.JobListStub, error) {
	j, err := via.Job(context.Background(), parent)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", parent, err)
	}
	return j.Children, nil
}

func tickOf(t *testing.T, id string) time.Time {
	t.Helper()
	_, tick, ok := jobspec.ParseChildID(id)
	if !ok {
		t.Fatalf("child id %q is not <parent>/periodic-<unix seconds>", id)
	}
	return tick
}

func liveChildren(cs []api.JobListStub) []string {
	var out []string
	for _, c := range cs {
		if c.Status != "dead" {
			out = append(out, c.ID)
		}
	}
	return out
}

func describeChildren(cs []api.JobListStub) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.ID+":"+c.Status)
	}
	return strings.Join(parts, " ")
}

// launchers maps each child id to the peers whose log says they launched it.
func launchers(c *cluster) map[string][]string {
	out := map[string][]string{}
	for _, p := range c.peers {
		b, _ := os.ReadFile(filepath.Join(c.dir, p.name+".log"))
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, `msg="periodic job launched`) {
				continue
			}
			for _, f := range strings.Fields(l) {
				if id, ok := strings.CutPrefix(f, "child="); ok {
					out[id] = append(out[id], p.name)
				}
			}
		}
	}
	return out
}

// onceEach checks that every child ran exactly one allocation to completion (a lost
// one, on a killed peer, and its replacement aside).
func onceEach(t *testing.T, via *api.Client, cs []api.JobListStub) {
	t.Helper()
	for _, ch := range cs {
		allocs, err := via.JobAllocs(context.Background(), ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kept []api.Alloc
		for _, a := range allocs {
			if a.ClientStatus != "lost" {
				kept = append(kept, a)
			}
		}
		if len(kept) != 1 || kept[0].ClientStatus != "complete" {
			t.Errorf("child %s ran %s; want one complete allocation", ch.ID, describe(allocs))
		}
	}
}

// TestPeriodicJob: a periodic parent runs nothing itself; its coordinator launches
// a child per tick, each run once to completion; killing the coordinator doubles no
// tick and another peer goes on launching; stopping the parent stops the launches.
func TestPeriodicJob(t *testing.T) {
	c := newCluster(t, 3)
	via := c.peers[0].client
	ctx := context.Background()
	submit(t, via, periodicJob("tick", "*/2 * * * * * *", false, "0.3"))

	var cs []api.JobListStub
	c.waitFor(30*time.Second, "3 children of tick done", func() (bool, string) {
		var err error
		if cs, err = children(c.peers[2].client, "tick"); err != nil {
			return false, err.Error()
		}
		done := len(cs) - len(liveChildren(cs))
		return done >= 3, describeChildren(cs)
	})
	parent, err := via.Job(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if parent.Status != "running" || !parent.NextLaunch.After(tickOf(t, cs[len(cs)-1].ID).Add(-time.Second)) {
		t.Errorf("parent: status %q, next launch %s; want running, after the last child's tick %s", parent.Status, parent.NextLaunch, cs[len(cs)-1].ID)
	}
	if allocs, err := via.JobAllocs(ctx, "tick"); err != nil || len(allocs) != 0 {
		t.Errorf("the parent has allocations %s (%v); a periodic parent runs nothing itself", describe(allocs), err)
	}
	for _, ch := range cs {
		if ch.ParentID != "tick" || tickOf(t, ch.ID).Unix()%2 != 0 {
			t.Errorf("child %s: parent %q; want tick, launched at an even second", ch.ID, ch.ParentID)
		}
	}
	list, err := via.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, j := range list {
		listed[j.ID] = j.ParentID
	}
	if p, ok := listed[cs[0].ID]; !ok || p != "tick" {
		t.Errorf("the job list shows child %s with parent %q (listed: %v); want it with parent tick", cs[0].ID, p, ok)
	}

	// Kill the peer that launched the last child (the coordinator), with its tasks.
	by := launchers(c)
	last := cs[len(cs)-1].ID
	if len(by[last]) != 1 {
		t.Fatalf("child %s launched by %v; want one peer", last, by[last])
	}
	victim := -1
	for i, p := range c.peers {
		if p.name == by[last][0] {
			victim = i
		}
	}
	killedAt := time.Now()
	c.kill(victim, true)
	c.waitDown(victim)
	via = c.any(victim)
	c.waitFor(30*time.Second, "a child launched by another peer after the kill", func() (bool, string) {
		var err error
		if cs, err = children(via, "tick"); err != nil {
			return false, err.Error()
		}
		by = launchers(c)
		for _, ch := range cs {
			if tickOf(t, ch.ID).After(killedAt) && len(by[ch.ID]) > 0 && by[ch.ID][0] != c.peers[victim].name {
				return true, ""
			}
		}
		return false, describeChildren(cs)
	})

	// Stop the parent: no tick after the stop is launched; children are not stopped.
	if err := via.StopJob(ctx, "tick", false); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	time.Sleep(6 * time.Second) // three periods: when launches would have happened
	c.waitFor(30*time.Second, "every child of tick done", func() (bool, string) {
		var err error
		if cs, err = children(via, "tick"); err != nil {
			return false, err.Error()
		}
		return len(liveChildren(cs)) == 0, describeChildren(cs)
	})
	for _, ch := range cs {
		// A pass that began before the coordinator heard of the stop may launch the
		// tick then due: allow one period.
		if tickOf(t, ch.ID).After(stoppedAt.Add(2 * time.Second)) {
			t.Errorf("child %s launched after the parent was stopped at %s", ch.ID, stoppedAt.Format(time.TimeOnly))
		}
	}
	onceEach(t, via, cs)
	for id, peers := range launchers(c) {
		if len(peers) > 1 {
			t.Errorf("child %s launched by %v; a tick is launched once", id, peers)
		}
	}
	parent, err = via.Job(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if parent.Status != "dead" || !parent.NextLaunch.IsZero() {
		t.Errorf("stopped parent: status %q, next launch %s; want dead, none", parent.Status, parent.NextLaunch)
	}
}

// TestPeriodicOverlapAndForce: prohibit_overlap skips ticks while a child runs;
// force launches at once regardless; stopping the parent leaves running children
// running, as Nomad does; bad requests say what is wrong.
func TestPeriodicOverlapAndForce(t *testing.T) {
	c := newCluster(t, 2)
	via := c.peers[1].client
	ctx := context.Background()

	// Every second, each child running 2s: a child is launched only once the one
	// before is done, so the ticks launched are at least 2s apart.
	submit(t, via, periodicJob("slow", "* * * * * * *", true, "2"))
	var cs []api.JobListStub
	c.waitFor(30*time.Second, "3 children of slow done", func() (bool, string) {
		var err error
		if cs, err = children(via, "slow"); err != nil {
			return false, err.Error()
		}
		return len(cs)-len(liveChildren(cs)) >= 3, describeChildren(cs)
	})
	if err := via.StopJob(ctx, "slow", false); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(cs); i++ {
		if gap := tickOf(t, cs[i].ID).Sub(tickOf(t, cs[i-1].ID)); gap < 2*time.Second {
			t.Errorf("children %s and %s launched %s apart; each runs 2s and prohibit_overlap skips the ticks meanwhile", cs[i-1].ID, cs[i].ID, gap)
		}
	}

	// A yearly job with a long task: force launches one child, and a second one at
	// once although the first runs.
	submit(t, via, periodicJob("rare", "@yearly", true, "3600"))
	first, err := c.peers[0].client.PeriodicForce(ctx, "rare")
	if err != nil {
		t.Fatal(err)
	}
	if tickOf(t, first.JobID).IsZero() || !strings.HasPrefix(first.JobID, "rare/periodic-") {
		t.Fatalf("force launched %q; want rare/periodic-<now>", first.JobID)
	}
	c.waitRunning(via, first.JobID, 1)
	c.waitFor(5*time.Second, "a second after the first force", func() (bool, string) {
		return time.Now().Unix() > tickOf(t, first.JobID).Unix(), "" // one child per second: the next force is a new one
	})
	second, err := via.PeriodicForce(ctx, "rare")
	if err != nil {
		t.Fatal(err)
	}
	if second.JobID == first.JobID {
		t.Fatalf("the second force launched %s again", first.JobID)
	}
	c.waitRunning(via, second.JobID, 1)
	child, err := via.Job(ctx, second.JobID)
	if err != nil || child.ParentID != "rare" || child.Periodic != nil || child.Type != "batch" {
		t.Fatalf("forced child: %+v, %v; want a plain batch job with parent rare", child, err)
	}

	// Stop the parent: its running children run on.
	if err := via.StopJob(ctx, "rare", false); err != nil {
		t.Fatal(err)
	}
	c.waitFor(10*time.Second, "rare seen stopped on every peer", func() (bool, string) {
		for _, p := range c.peers {
			j, err := p.client.Job(ctx, "rare")
			if err != nil || j.Status != "dead" {
				return false, fmt.Sprintf("%s: %v %v", p.name, j, err)
			}
		}
		return true, ""
	})
	for _, id := range []string{first.JobID, second.JobID} {
		if got := c.waitRunning(via, id, 1); len(got) != 1 {
			t.Errorf("child %s stopped with its parent; Nomad leaves children running", id)
		}
		if err := via.StopJob(ctx, id, false); err != nil { // a child's id has a slash: the API takes it escaped
			t.Errorf("stopping %s: %v", id, err)
		}
	}
	c.waitFor(30*time.Second, "the forced children stopped", func() (bool, string) {
		var err error
		if cs, err = children(via, "rare"); err != nil {
			return false, err.Error()
		}
		return len(cs) == 2 && len(liveChildren(cs)) == 0, describeChildren(cs)
	})

	// Bad requests name what is wrong.
	submit(t, via, `job "plain" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
      resources {
        memory = 32
      }
    }
  }
}`)
	for _, tc := range []struct{ job, want string }{
		{"plain", `job "plain" is not periodic`},
		{"rare", `job "rare" is stopped`},
		{"nope", `job "nope"`},
	} {
		if _, err := via.PeriodicForce(ctx, tc.job); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("force %s: %v; want an error saying %s", tc.job, err, tc.want)
		}
	}
	if _, err := via.Register(ctx, api.JobRegisterRequest{JobHCL: periodicJob("plain", "@hourly", false, "1")}); err == nil ||
		!strings.Contains(err.Error(), "cannot be changed to or from periodic") {
		t.Errorf("making a batch job periodic: %v; want it refused until the job is purged", err)
	}
}

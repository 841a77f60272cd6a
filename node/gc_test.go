package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// TestCollectTerminalAllocations: a peer with gc_max_allocs = 2 keeps at most two
// terminal allocations of live jobs, forgetting the oldest (record, task directories,
// /alloc dir) as soon as an allocation ends beyond the maximum, without a coordinator
// placing anything again; a batch job's completed allocations stay beyond the maximum
// and the job does not run again.
func TestCollectTerminalAllocations(t *testing.T) {
	needPeers(t)
	bg := context.Background()
	c := newCluster(t, 0)
	conf := filepath.Join(t.TempDir(), "peer.hcl")
	dataDir := filepath.Join(c.dir, "p1")
	// gc_interval stays at its minute: what collects here is an allocation ending.
	hcl := fmt.Sprintf("data_dir = %q\ngc_max_allocs = 2\n", dataDir)
	if err := os.WriteFile(conf, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	p := c.add(0)
	c.waitMembers(1)

	// Four versions of a service of count 2: each replaces both allocations (at
	// once, as soon as the new ones have run for a second).
	seen := map[string]bool{} // every allocation of web the API showed
	webAllocs := func() ([]api.Alloc, error) {
		allocs, err := p.client.JobAllocs(bg, "web")
		for _, a := range allocs {
			seen[a.ID] = true
		}
		return allocs, err
	}
	var last uint64
	for v := range 4 {
		job := strings.Replace(sleepJob("web", 2), `"3600"`, fmt.Sprintf(`"%d"`, 3600+v), 1)
		job = strings.Replace(job, "    count = 2\n", "    count = 2\n    update {\n      max_parallel     = 2\n      min_healthy_time = \"1s\"\n    }\n", 1)
		resp := submit(t, p.client, job)
		last = resp.Version
		c.waitFor(45*time.Second, fmt.Sprintf("version %d running", last), func() (bool, string) {
			allocs, err := webAllocs()
			if err != nil {
				return false, err.Error()
			}
			n := 0
			for _, a := range allocs {
				if a.ClientStatus == "running" && a.DesiredStatus == "run" && a.JobVersion == last {
					n++
				}
			}
			return n == 2, describe(allocs)
		})
	}
	// The six replaced ones ended; the four that ended first are forgotten.
	var live, kept []api.Alloc
	c.waitFor(30*time.Second, "two terminal allocations of web left", func() (bool, string) {
		allocs, err := webAllocs()
		if err != nil {
			return false, err.Error()
		}
		live, kept = split(allocs)
		return len(kept) == 2 && len(live) == 2 && kept[0].ClientStatus == "complete" && kept[1].ClientStatus == "complete", describe(allocs)
	})
	for _, a := range kept {
		if a.JobVersion != last-1 {
			t.Errorf("kept terminal allocation %s of version %d, want the last replaced version %d (oldest collected first)", a.ID, a.JobVersion, last-1)
		}
		if !exists(filepath.Join(dataDir, "allocs", a.ID)) { // its stopped task's directory went with it
			t.Errorf("kept allocation %s lost its /alloc directory", a.ID)
		}
	}
	var collected []string
	for id := range seen {
		if !slices.ContainsFunc(append(slices.Clone(live), kept...), func(a api.Alloc) bool { return a.ID == id }) {
			collected = append(collected, id)
		}
	}
	if len(collected) != 4 {
		t.Fatalf("web's allocations: %d seen, %d left; want 4 collected", len(seen), len(live)+len(kept))
	}
	for _, id := range collected {
		if exists(filepath.Join(dataDir, "exec", "tasks", id+"-t")) || exists(filepath.Join(dataDir, "allocs", id)) {
			t.Errorf("collected allocation %s still has its task or /alloc directory", id)
		}
	}
	if _, err := p.client.Alloc(bg, collected[0]); !isNotFound(err) || !strings.Contains(err.Error(), "collected") {
		t.Errorf("alloc status of collected %s: err = %v, want a 404 saying it may have been collected", collected[0], err)
	}

	// A batch job of three: its completed allocations are beyond the maximum, yet
	// stay; web's two terminal ones go instead (the peer now holds five).
	submit(t, p.client, trueJob("once", 3))
	var done []api.Alloc
	c.waitFor(45*time.Second, "the batch job complete and web's terminal allocations collected", func() (bool, string) {
		once, err := p.client.JobAllocs(bg, "once")
		if err != nil {
			return false, err.Error()
		}
		web, err := p.client.JobAllocs(bg, "web")
		if err != nil {
			return false, err.Error()
		}
		done = nil
		for _, a := range once {
			if a.ClientStatus == "complete" {
				done = append(done, a)
			}
		}
		_, webTerminal := split(web)
		return len(done) == 3 && len(once) == 3 && len(webTerminal) == 0, describe(once) + " | " + describe(web)
	})
	// Nothing placed again: for a few coordinator passes (every 2 s), the batch job
	// has its three completed allocations and no other, and web runs the same two.
	ids := func(allocs []api.Alloc) []string {
		var out []string
		for _, a := range allocs {
			out = append(out, a.ID+"/"+a.ClientStatus)
		}
		slices.Sort(out)
		return out
	}
	wantOnce, wantWeb := ids(done), ids(live)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		once, err1 := p.client.JobAllocs(bg, "once")
		web, err2 := p.client.JobAllocs(bg, "web")
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if got := ids(once); !slices.Equal(got, wantOnce) {
			t.Fatalf("batch job's allocations changed after collection: %v, want %v", got, wantOnce)
		}
		if got := ids(web); !slices.Equal(got, wantWeb) {
			t.Fatalf("web's allocations changed after collection: %v, want %v", got, wantWeb)
		}
	}
	for _, a := range done {
		if !exists(filepath.Join(dataDir, "exec", "tasks", a.ID+"-t")) || !exists(filepath.Join(dataDir, "allocs", a.ID)) {
			t.Errorf("completed batch allocation %s lost its task (logs) or /alloc directory", a.ID)
		}
	}
}

// TestCollectKeepsRescheduleHistory: a crashing service is rescheduled up to its
// reschedule.attempts while its peer collects every failed allocation a second after
// it ended (alloc_gc_threshold, looking every gc_interval) except the newest, which
// holds the slot's history: the attempts run out as they would without collection,
// and nothing is placed after that.
func TestCollectKeepsRescheduleHistory(t *testing.T) {
	needPeers(t)
	bg := context.Background()
	c := newCluster(t, 0)
	conf := filepath.Join(t.TempDir(), "peer.hcl")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\nalloc_gc_threshold = \"1s\"\ngc_interval = \"1s\"\n", filepath.Join(c.dir, "p1"))), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	p := c.add(0)
	c.waitMembers(1)
	job := strings.Replace(sleepJob("crash", 1), "    task", `    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts       = 3
      interval       = "1h"
      delay          = "100ms"
      delay_function = "constant"
      unlimited      = false
    }
    task`, 1)
	job = strings.Replace(job, `command = "/bin/sleep"
        args    = ["3600"]`, `command = "/bin/sh"
        args    = ["-c", "sleep 0.2; exit 3"]`, 1)
	submit(t, p.client, job)
	c.waitFor(45*time.Second, "the reschedule attempts used up, one failed allocation left", func() (bool, string) {
		j, err := p.client.Job(bg, "crash")
		if err != nil {
			return false, err.Error()
		}
		allocs, err := p.client.JobAllocs(bg, "crash")
		if err != nil {
			return false, err.Error()
		}
		fails := strings.Join(j.PlacementFailures, "; ")
		return strings.Contains(fails, "reschedule attempts exhausted (3 of 3") && len(allocs) == 1 && allocs[0].ClientStatus == "failed",
			describe(allocs) + " | " + fails
	})
	// Four allocations were ever placed (the first and three reschedules), and three
	// collected; for a few coordinator passes (every 2 s), no fifth.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		placed, collected := metric(t, p, "shoal_allocations_accepted_total"), metric(t, p, "shoal_allocations_collected_total")
		if placed != 4 || collected != 3 {
			t.Fatalf("%v allocations placed and %v collected, want 4 and 3", placed, collected)
		}
	}
}

// metric reads one series of a peer's /v1/metrics.
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + ":4646/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /v1/metrics", name)
	return 0
}

// split separates allocations that run (or are to) from terminal ones.
func split(allocs []api.Alloc) (live, terminal []api.Alloc) {
	for _, a := range allocs {
		if a.DesiredStatus == "run" && (a.ClientStatus == "running" || a.ClientStatus == "pending") {
			live = append(live, a)
		} else {
			terminal = append(terminal, a)
		}
	}
	return live, terminal
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isNotFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.StatusCode == 404
}

// TestJobGC: with job_gc_threshold = "2s", a batch job whose slots all completed and
// a stopped job are purged by their coordinator once done that long (the catalog and
// the allocations forget them), and a running service is not.
func TestJobGC(t *testing.T) {
	needPeers(t)
	bg := context.Background()
	c := newCluster(t, 0)
	conf := filepath.Join(t.TempDir(), "peer.hcl")
	hcl := fmt.Sprintf("data_dir = %q\njob_gc_threshold = \"2s\"\n", filepath.Join(c.dir, "p1"))
	if err := os.WriteFile(conf, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	p := c.add(0)
	c.waitMembers(1)

	submit(t, p.client, sleepJob("svc", 1))
	submit(t, p.client, sleepJob("gone", 1))
	c.waitRunning(p.client, "gone", 1)
	if err := p.client.StopJob(bg, "gone", false); err != nil {
		t.Fatal(err)
	}
	submit(t, p.client, trueJob("once", 2))
	// A periodic job stopped after launching a child: the child goes after the
	// threshold, then the job itself.
	submit(t, p.client, periodicJob("cron", "* * * * * * *", false, "0"))
	c.waitFor(30*time.Second, "a child of cron launched", func() (bool, string) {
		cs, err := children(p.client, "cron")
		return err == nil && len(cs) > 0, fmt.Sprint(cs, err)
	})
	if err := p.client.StopJob(bg, "cron", false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"once", "gone", "cron"} {
		c.waitFor(30*time.Second, id+" purged", func() (bool, string) {
			job, err := p.client.Job(bg, id)
			if err == nil {
				return false, fmt.Sprintf("status %s", job.Status)
			}
			allocs, _ := p.client.JobAllocs(bg, id)
			return len(allocs) == 0, fmt.Sprintf("%v; %d allocations left", err, len(allocs))
		})
	}
	if jobs, err := p.client.Jobs(bg); err != nil || len(jobs) != 1 || jobs[0].ID != "svc" {
		t.Errorf("jobs left: %+v (%v), want svc alone (cron's children purged with it)", jobs, err)
	}
	c.waitRunning(p.client, "svc", 1)
	if job, err := p.client.Job(bg, "svc"); err != nil || job.Status != "running" {
		t.Errorf("the running service after the others were purged: %v, %v", job, err)
	}
}

package node_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// volumeJob is a service job of count exec tasks that mount host volume src
// (writable) at /data and "certs" (read-only) at /certs: each writes its
// allocation id into /data, says whether /certs refused a write, and sleeps.
func volumeJob(id, src string, count int, certsReadOnly bool) string {
	return fmt.Sprintf(`job %q {
  group "g" {
    count = %d
    volume "data" {
      type   = "host"
      source = %q
    }
    volume "certs" {
      type      = "host"
      source    = "certs"
      read_only = %v
    }
    task "t" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat /certs/ca > /data/$NOMAD_ALLOC_ID; (touch /certs/x 2>/dev/null && echo certs-writable || echo certs-refused) >> /data/$NOMAD_ALLOC_ID; exec sleep 3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
      }
      volume_mount {
        volume      = "certs"
        destination = "/srv/certs-test"
      }
      volume_mount {
        volume      = "certs"
        destination = "/certs"
        read_only   = true
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}
`, id, count, src, certsReadOnly)
}

// TestHostVolumes: a group that asks for host volumes runs only on the peer that
// has them, its tasks write through a writable volume into the host directory and
// cannot write through a read-only one; a job needing a volume no peer has is not
// placed, and plan and `peer job run` say why, as Nomad's "missing compatible host
// volumes" does.
func TestHostVolumes(t *testing.T) {
	c := newCluster(t, 2)
	data, certs := t.TempDir(), t.TempDir()       // removed at the end of the test
	if err := os.Chmod(data, 0o777); err != nil { // exec tasks run as nobody
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca"), []byte("ca-from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-host-volume", "data=" + data, "-host-volume", "certs=" + certs + ":ro"}
	c.add(2)
	c.args = nil
	c.waitMembers(3)
	p1 := c.peers[0].client
	ctx := context.Background()

	// Every peer, since any may coordinate the jobs below.
	c.waitFor(10*time.Second, "every peer sees p3's host volumes", func() (bool, string) {
		want := map[string]api.HostVolume{"data": {Name: "data", Path: data}, "certs": {Name: "certs", Path: certs, ReadOnly: true}}
		for _, p := range c.peers {
			n, err := p.client.Node(ctx, "p3")
			if err != nil {
				return false, err.Error()
			}
			if fmt.Sprint(n.HostVolumes) != fmt.Sprint(want) {
				return false, fmt.Sprint(p.name, " sees ", n.HostVolumes)
			}
		}
		return true, ""
	})
	out, err := exec.Command(peerBin, "node", "status", "-address", c.peers[1].addr+":4646", "p3").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Host Volumes") || !regexp.MustCompile(`certs\s+true\s+`+certs).Match(out) ||
		!regexp.MustCompile(`data\s+false\s+`+data).Match(out) {
		t.Errorf("peer node status p3 (%v) does not list its host volumes:\n%s", err, out)
	}

	plan := func(src string) []string {
		t.Helper()
		job, err := jobspec.Parse("volumes.hcl", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := p1.Plan(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		var unplaced []string
		for _, g := range p.Groups {
			unplaced = append(unplaced, g.Unplaced...)
		}
		return unplaced
	}
	if got, want := fmt.Sprint(plan(volumeJob("nowhere", "pgdata", 1, true))), `[1 slot(s): no peer can take it: 2 peers lack host volume "certs", 1 peer lacks host volume "pgdata"]`; got != want {
		t.Errorf("plan of a job needing a volume no peer has: unplaced %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(plan(volumeJob("rw-certs", "data", 1, false))), `[1 slot(s): no peer can take it: 2 peers lack host volume "certs", 1 peer has host volume "certs" read-only]`; got != want {
		t.Errorf("plan of a job needing a read-only volume writable: unplaced %s, want %s", got, want)
	}
	f := filepath.Join(t.TempDir(), "nowhere.hcl")
	if err := os.WriteFile(f, []byte(volumeJob("nowhere", "pgdata", 1, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(peerBin, "job", "run", "-address", c.peers[0].addr+":4646", f).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `p3: lack host volume "pgdata"`) {
		t.Errorf("peer job run of a job needing a volume no peer has (%v) does not say why:\n%s", err, out)
	}

	submit(t, p1, volumeJob("vol", "data", 2, true))
	allocs := c.waitRunning(c.peers[1].client, "vol", 2)
	if on := nodesOf(allocs); on != "p3,p3" {
		t.Errorf("allocations run on %s, want both on p3, the only peer with the volumes", on)
	}
	for _, a := range allocs {
		c.waitFor(10*time.Second, "allocation "+a.ID+" wrote through its volume", func() (bool, string) {
			b, err := os.ReadFile(filepath.Join(data, a.ID))
			return string(b) == "ca-from-host\ncerts-refused\n", fmt.Sprintf("%q %v", b, err)
		})
	}
	if entries, _ := os.ReadDir(certs); len(entries) != 1 {
		t.Errorf("the read-only volume's host dir holds %v, want only ca", entries)
	}
	if err := p1.StopJob(ctx, "vol", false); err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, "vol's allocations stopped", func() (bool, string) {
		allocs, err := p1.JobAllocs(ctx, "vol")
		if err != nil {
			return false, err.Error()
		}
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				return false, describe(allocs)
			}
		}
		return true, ""
	})
	if b, err := os.ReadFile(filepath.Join(data, allocs[0].ID)); err != nil || len(b) == 0 {
		t.Errorf("the host volume lost what a task wrote once the job stopped: %q %v", b, err)
	}
}

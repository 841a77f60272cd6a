package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// healthJob is a web service whose http check asks for path, with a tcp check
// beside it and a rolling update that waits for healthy checks.
func healthJob(path string) string {
	return fmt.Sprintf(`job "hc" {
  update {
    max_parallel     = 1
    min_healthy_time = "1s"
    healthy_deadline = "5s"
  }
  group "g" {
    count = 2
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      check {
        name     = "page"
        type     = "http"
        path     = %q
        interval = "300ms"
        timeout  = "1s"
      }
      check {
        name     = "port"
        type     = "tcp"
        interval = "300ms"
        timeout  = "1s"
      }
    }
    task "httpd" {
      driver       = "exec"
      kill_timeout = "500ms"
      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_PORT_http}", "-h", "/usr/share/doc"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, path)
}

// TestHealthChecks: the peer running an allocation runs its service checks and
// every peer shows them; a new version whose check fails stops the rolling update
// after its first allocation, and the old version keeps serving.
func TestHealthChecks(t *testing.T) {
	requireBusyboxHTTPD(t)
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client

	submit(t, p1, healthJob("/busybox-static/copyright"))
	c.waitFor(45*time.Second, "both allocations of v0 with every check passing", func() (bool, string) {
		allocs, err := p2.JobAllocs(context.Background(), "hc")
		if err != nil {
			return false, err.Error()
		}
		passing := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" && checksAre(a, "passing") {
				passing++
			}
		}
		return passing == 2, describeChecks(allocs)
	})
	allocs, _ := p2.JobAllocs(context.Background(), "hc")
	for _, a := range allocs {
		for _, ch := range a.Checks {
			if ch.Name == "page" && !strings.Contains(ch.Output, "200 OK") {
				t.Errorf("http check output %q, want the answer's status 200 OK", ch.Output)
			}
		}
	}

	submit(t, p2, healthJob("/no/such/page"))
	// The rollout must replace one allocation, see its check fail, and pause with
	// the other v0 allocation still serving; had it gone on, no v0 would be left.
	var job *api.Job
	var newAlloc api.Alloc
	c.waitFor(45*time.Second, "the rollout paused on the unhealthy new version, one v0 and one v1 running", func() (bool, string) {
		var err error
		if job, err = p1.Job(context.Background(), "hc"); err != nil {
			return false, err.Error()
		}
		allocs, err := p1.JobAllocs(context.Background(), "hc")
		if err != nil {
			return false, err.Error()
		}
		running := map[uint64]int{}
		for _, a := range allocs {
			if a.DesiredStatus == "run" && a.ClientStatus == "running" {
				running[a.JobVersion]++
				if a.JobVersion == 1 {
					newAlloc = a
				}
			}
		}
		paused := strings.Contains(strings.Join(job.PlacementFailures, "\n"), "rolling update paused")
		saw404 := false // the check's output once the server answers
		for _, ch := range newAlloc.Checks {
			saw404 = saw404 || ch.Name == "page" && strings.Contains(ch.Output, "404")
		}
		return paused && running[0] == 1 && running[1] == 1 && saw404,
			fmt.Sprintf("failures %q; %s", job.PlacementFailures, describeChecks(allocs))
	})
	for _, ch := range newAlloc.Checks {
		if ch.Name == "page" && ch.Status != "critical" {
			t.Errorf("new version's http check: %s %q, want critical", ch.Status, ch.Output)
		}
	}
	if !strings.Contains(strings.Join(job.PlacementFailures, "\n"), "not healthy within healthy_deadline") {
		t.Errorf("placement failures %q, want the healthy_deadline named", job.PlacementFailures)
	}
}

func checksAre(a api.Alloc, status string) bool {
	if len(a.Checks) != 2 {
		return false
	}
	for _, ch := range a.Checks {
		if ch.Status != status {
			return false
		}
	}
	return true
}

func describeChecks(allocs []api.Alloc) string {
	var b strings.Builder
	for _, a := range allocs {
		fmt.Fprintf(&b, "%s v%d %s/%s:", a.Slot, a.JobVersion, a.DesiredStatus, a.ClientStatus)
		for _, ch := range a.Checks {
			fmt.Fprintf(&b, " %s=%s(%s)", ch.Name, ch.Status, ch.Output)
		}
		b.WriteString("; ")
	}
	return b.String()
}

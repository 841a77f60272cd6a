package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// dockerOptionsJob runs script in a container task with Nomad's docker options set.
func dockerOptionsJob(options, script string) string {
	return fmt.Sprintf(`job "opts" {
  type = "batch"
  group "g" {
    network {
      hostname = "group-name"
      dns {
        servers  = ["10.0.0.53"]
        searches = ["group.example"]
      }
    }
    task "t" {
      driver = "docker"
      config {
        image   = %q
        command = "/bin/sh"
        args    = ["-c", %q]
        %s
      }
      resources {
        cpu    = 30
        memory = 24
      }
    }
  }
}
`, imageRef, script, options)
}

// TestDockerOptions: the Nomad docker options a user sets on a container task are
// what its process sees: a read-only root, its hostname and DNS servers over the
// group's (the group's search domains kept), only the capabilities it kept, its
// extra hosts, and no more processes than pids_limit.
func TestDockerOptions(t *testing.T) {
	c := newCluster(t, 1)
	via := c.peers[0].client
	// The last line counts the processes of the task's own pid namespace after a
	// subshell tried to start 40 sleeps: it dies at the first fork pids_limit 32
	// refuses, leaving the shell and the 30 sleeps it had started.
	script := `touch /x 2>/dev/null || echo ro; hostname; cat /etc/resolv.conf; grep CapEff /proc/self/status; tail -1 /etc/hosts
(i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo $#`
	submit(t, via, dockerOptionsJob(`readonly_rootfs = true
        hostname        = "t-${NOMAD_ALLOC_INDEX}"
        dns_servers     = ["10.0.0.2"]
        cap_drop        = ["all"]
        cap_add         = ["chown"]
        extra_hosts     = ["db:10.0.0.5"]
        pids_limit      = 32`, script))
	var done []api.Alloc
	c.waitFor(30*time.Second, "the allocation completes", func() (bool, string) {
		all, err := via.JobAllocs(context.Background(), "opts")
		done = live(all)["complete"]
		return len(done) == 1, fmt.Sprint(describe(all), err)
	})
	out, err := stdout(via, done[0].ID, "t")
	want := "ro\nt-0\nnameserver 10.0.0.2\nsearch group.example\nCapEff:\t0000000000000001\n10.0.0.5\tdb\n31\n"
	if err != nil || out != want {
		t.Errorf("the task printed %q (%v), want %q", out, err, want)
	}
}

// TestDockerOptionsRefused: a capability the peer does not allow is refused at
// submit, naming the task, the option and the value, and nothing is placed.
func TestDockerOptionsRefused(t *testing.T) {
	c := newCluster(t, 1)
	via := c.peers[0].client
	_, err := via.Register(context.Background(), api.JobRegisterRequest{JobHCL: dockerOptionsJob(`cap_add = ["sys_admin"]`, "true")})
	if err == nil || !strings.Contains(err.Error(), `task "t": config.cap_add: "sys_admin" is not allowed on this peer; allowed: chown, `) {
		t.Fatalf("submitting cap_add sys_admin: %v, want it refused naming task, option and value", err)
	}
	if _, err := via.JobAllocs(context.Background(), "opts"); err == nil {
		t.Error("the refused job is known to the cluster")
	}
}

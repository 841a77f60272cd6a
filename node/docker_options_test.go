package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// TestAllowCaps: a container task that adds a capability runs only on a peer whose
// allow_caps allows it (Nomad's docker allow_caps), and gets it there; one no peer
// allows is not placed, and the job says why.
func TestAllowCaps(t *testing.T) {
	c := newCluster(t, 0)
	c.add(0) // the default allow_caps
	conf := filepath.Join(t.TempDir(), "peer.hcl")
	if err := os.WriteFile(conf, []byte(`allow_caps = ["audit_write", "chown", "dac_override", "fowner", "fsetid", "kill", "mknod",
  "net_bind_service", "setfcap", "setgid", "setpcap", "setuid", "sys_chroot", "net_raw"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	c.add(1)
	c.waitMembers(2)
	via := c.peers[0].client
	job := strings.Replace(dockerOptionsJob(`cap_add = ["net_raw"]`, "grep CapEff /proc/self/status"), `group "g" {`, "group \"g\" {\n    count = 2", 1)
	submit(t, via, job)
	var done []api.Alloc
	c.waitFor(30*time.Second, "both allocations complete", func() (bool, string) {
		all, err := via.JobAllocs(context.Background(), "opts")
		done = live(all)["complete"]
		return len(done) == 2, fmt.Sprint(describe(all), err)
	})
	for _, a := range done {
		out, err := stdout(via, a.ID, "t")
		if a.NodeName != "p2" || err != nil || out != "CapEff:\t00000000a80425fb\n" { // the defaults and CAP_NET_RAW (0x2000)
			t.Errorf("allocation %d on %s printed %q (%v); want it on p2, the peer that allows net_raw, with CapEff 00000000a80425fb", a.Index, a.NodeName, out, err)
		}
	}

	submit(t, via, strings.Replace(dockerOptionsJob(`cap_add = ["sys_admin"]`, "true"), `job "opts"`, `job "admin"`, 1))
	c.waitFor(30*time.Second, "the job says why it cannot be placed", func() (bool, string) {
		j, err := via.Job(context.Background(), "admin")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(strings.Join(j.PlacementFailures, "\n"), `task "t": cap_add: "sys_admin" is not allowed on this peer`), fmt.Sprint(j.PlacementFailures)
	})
	if all, _ := via.JobAllocs(context.Background(), "admin"); len(all) != 0 {
		t.Errorf("the job no peer allows has allocations: %s", describe(all))
	}
}

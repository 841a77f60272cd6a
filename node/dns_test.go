package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

const dnsJob = `job "dns" {
  type = "batch"
  group "g" {
    count = 2
    network {
      hostname = "w-${NOMAD_ALLOC_INDEX}"
      dns {
        servers  = ["10.0.0.53"]
        searches = ["svc.example"]
        options  = ["ndots:2"]
      }
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat /etc/resolv.conf; hostname; echo $NOMAD_ALLOC_INDEX $NOMAD_ALLOC_NAME $NOMAD_CPU_LIMIT $NOMAD_MEMORY_LIMIT"]
      }
      resources {
        cpu    = 30
        memory = 24
      }
    }
  }
}
`

// TestNetworkDNSAndAllocEnv: a group's network.dns is its tasks' /etc/resolv.conf,
// its hostname is interpolated per allocation, and the tasks see Nomad's
// NOMAD_ALLOC_INDEX, NOMAD_ALLOC_NAME, NOMAD_CPU_LIMIT and NOMAD_MEMORY_LIMIT.
func TestNetworkDNSAndAllocEnv(t *testing.T) {
	c := newCluster(t, 1)
	via := c.peers[0].client
	submit(t, via, dnsJob)
	var allocs []api.Alloc
	c.waitFor(30*time.Second, "both allocations complete", func() (bool, string) {
		all, err := via.JobAllocs(context.Background(), "dns")
		allocs = live(all)["complete"]
		return len(allocs) == 2, fmt.Sprint(describe(all), err)
	})
	for _, a := range allocs {
		out, err := stdout(via, a.ID, "t")
		want := fmt.Sprintf("nameserver 10.0.0.53\nsearch svc.example\noptions ndots:2\nw-%d\n%d dns.g[%d] 30 24\n", a.Index, a.Index, a.Index)
		if err != nil || out != want {
			t.Errorf("allocation %d's output %q (%v), want %q", a.Index, out, err, want)
		}
	}
}

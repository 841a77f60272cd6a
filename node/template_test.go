package node_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// clientJob's task renders where service web runs, and an env file, then prints
// both and sleeps.
const clientJob = `job "client" {
  group "c" {
    task "show" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat /local/upstream.conf; echo \"MODE=$MODE PORTS=$WEB_PORTS\"; sleep 3600"]
      }
      template {
        destination = "local/upstream.conf"
        data        = <<EOT
{{ range nomadService "web" }}upstream {{ .Address }}:{{ .Port }}
{{ end }}
EOT
      }
      template {
        destination = "secrets/app.env"
        env         = true
        data        = <<EOT
MODE={{ env "NOMAD_JOB_ID" | toUpper }}
WEB_PORTS={{ range $i, $s := nomadService "web" }}{{ if $i }},{{ end }}{{ $s.Port }}{{ end }}
EOT
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestTemplates: a task's templates render the instances of a running service and
// its own environment before it starts, as files and (env = true) variables.
func TestTemplates(t *testing.T) {
	requireBusyboxHTTPD(t)
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	ctx := context.Background()

	submit(t, p1, healthJob("/busybox-static/copyright"))
	c.waitFor(45*time.Second, "two passing instances of service web", func() (bool, string) {
		regs, err := p2.Service(ctx, "web", true)
		return err == nil && len(regs) == 2, fmt.Sprint(regs, err)
	})
	regs, _ := p2.Service(ctx, "web", true)

	submit(t, p2, clientJob)
	var out string
	c.waitFor(30*time.Second, "the client task's output showing both upstreams and its env", func() (bool, string) {
		allocs, err := p1.JobAllocs(ctx, "client")
		if err != nil || len(allocs) != 1 {
			return false, fmt.Sprint(allocs, err)
		}
		rc, err := p1.Logs(ctx, allocs[0].ID, "show", "stdout", false)
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = string(b)
		return strings.Contains(out, "MODE="), out
	})
	for _, r := range regs {
		if want := fmt.Sprintf("upstream %s:%d\n", r.Address, r.Port); !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	ports := []string{fmt.Sprint(regs[0].Port), fmt.Sprint(regs[1].Port)}
	if !strings.Contains(out, "MODE=CLIENT PORTS="+strings.Join(ports, ",")) {
		t.Errorf("output %q, want MODE=CLIENT PORTS=%s from the env template", out, strings.Join(ports, ","))
	}
}

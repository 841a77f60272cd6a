package node_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node"
	"github.com/shoal-sched/shoal/node/api"
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

// upstreamJob runs count instances of service "tw" (no checks: running is healthy).
func upstreamJob(count int) string {
	return fmt.Sprintf(`job "up" {
  group "g" {
    count = %d
    network {
      port "http" {}
    }
    service {
      name = "tw"
      port = "http"
    }
    task "s" {
      driver = "exec"
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
}
`, count)
}

// watcherJob has one task per change_mode, each rendering the ports of service tw.
const watcherJob = `job "watcher" {
  group "w" {
    task "restarted" {
      driver       = "exec"
      kill_timeout = "200ms"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo start; cat /local/up.conf; exec sleep 3600"]
      }
      template {
        destination = "local/up.conf"
        splay       = "0s"
        data        = "{{ range nomadService \"tw\" }}up {{ .Port }}\n{{ end }}"
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
    task "signalled" {
      driver = "exec"
      config {
        # bash, not dash: dash can lose a trapped signal that arrives while it forks
        # (it then dies of it, or, as PID 1, ignores it).
        command = "/bin/bash"
        args    = ["-c", "trap 'echo hup; cat /local/up.conf' HUP; echo start; cat /local/up.conf; while :; do sleep 0.1; done"]
      }
      template {
        destination   = "local/up.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        splay         = "0s"
        data          = "{{ range nomadService \"tw\" }}up {{ .Port }}\n{{ end }}"
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
    task "scripted" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo start; exec sleep 3600"]
      }
      template {
        destination = "local/up.conf"
        change_mode = "script"
        splay       = "0s"
        data        = "{{ range nomadService \"tw\" }}up {{ .Port }}\n{{ end }}"
        change_script {
          command = "/bin/sh"
          args    = ["-c", "echo reloaded with $(wc -l < /local/up.conf) upstreams >> /local/reloads"]
        }
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
    task "strict" {
      driver       = "exec"
      kill_timeout = "200ms"
      restart {
        attempts = 3
        delay    = "100ms"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo start; exec sleep 3600"]
      }
      template {
        destination = "local/up.conf"
        change_mode = "script"
        splay       = "0s"
        data        = "{{ range nomadService \"tw\" }}up {{ .Port }}\n{{ end }}"
        change_script {
          command       = "/bin/false"
          fail_on_error = true
        }
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
    task "untouched" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo start; exec sleep 3600"]
      }
      template {
        destination = "local/up.conf"
        change_mode = "noop"
        data        = "{{ range nomadService \"tw\" }}up {{ .Port }}\n{{ end }}"
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}
`

// TestTemplatesRerender: when a service a running task's templates read changes,
// the new content is written into the task directory and the task is restarted
// (change_mode "restart"), sent its change_signal ("signal"), runs its change_script
// ("script"; a failing one with fail_on_error kills the task), or is left alone
// ("noop"), as Nomad does.
func TestTemplatesRerender(t *testing.T) {
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	ctx := context.Background()

	submit(t, p1, upstreamJob(1))
	c.waitFor(30*time.Second, "one instance of service tw", func() (bool, string) {
		regs, err := p2.Service(ctx, "tw", true)
		return err == nil && len(regs) == 1, fmt.Sprint(regs, err)
	})
	submit(t, p2, watcherJob)
	var alloc *api.Alloc
	c.waitFor(30*time.Second, "the watcher's three tasks running, each showing one upstream", func() (bool, string) {
		allocs, err := p1.JobAllocs(ctx, "watcher")
		if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != "running" {
			return false, fmt.Sprint(allocs, err)
		}
		alloc = &allocs[0]
		for _, task := range []string{"restarted", "signalled"} {
			if out, err := stdout(p1, alloc.ID, task); strings.Count(out, "up ") != 1 {
				return false, fmt.Sprintf("%s: %q %v", task, out, err)
			}
		}
		return true, ""
	})

	if err := p1.Scale(ctx, "up", "g", 2); err != nil {
		t.Fatal(err)
	}
	var ports []string
	c.waitFor(30*time.Second, "two instances of service tw", func() (bool, string) {
		regs, err := p2.Service(ctx, "tw", true)
		ports = ports[:0]
		for _, r := range regs {
			ports = append(ports, fmt.Sprintf("up %d\n", r.Port))
		}
		return err == nil && len(regs) == 2, fmt.Sprint(regs, err)
	})
	hasBoth := func(s string) bool { return strings.Contains(s, ports[0]) && strings.Contains(s, ports[1]) }

	c.waitFor(30*time.Second, "the restart-mode task restarted with both upstreams", func() (bool, string) {
		a, err := p1.Alloc(ctx, alloc.ID)
		if err != nil {
			return false, err.Error()
		}
		st := a.TaskStates["restarted"]
		out, err := stdout(p1, alloc.ID, "restarted")
		return st.State == "running" && st.Restarts == 1 && hasBoth(out), fmt.Sprintf("%+v; log %q %v", st, out, err)
	})
	c.waitFor(30*time.Second, "the signal-mode task sent SIGHUP after its file had both upstreams", func() (bool, string) {
		out, err := stdout(p1, alloc.ID, "signalled")
		_, after, ok := strings.Cut(out, "hup\n")
		return ok && hasBoth(after), fmt.Sprintf("log %q %v", out, err)
	})
	owner := c.peers[0]
	if alloc.NodeName != owner.name {
		owner = c.peers[1]
	}
	noop := filepath.Join(node.DriverConfig(node.Config{DataDir: owner.dataDir}).DataDir, "tasks", alloc.ID+"-untouched", "local", "up.conf")
	c.waitFor(30*time.Second, "the noop-mode task's file rewritten with both upstreams", func() (bool, string) {
		b, err := os.ReadFile(noop)
		return err == nil && hasBoth(string(b)), fmt.Sprintf("%q %v", b, err)
	})

	reloads := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(noop))), alloc.ID+"-scripted", "local", "reloads")
	c.waitFor(30*time.Second, "the script-mode task's change_script run once, after the file had both upstreams", func() (bool, string) {
		b, err := os.ReadFile(reloads)
		return string(b) == "reloaded with 2 upstreams\n", fmt.Sprintf("%q %v", b, err)
	})
	c.waitFor(30*time.Second, "the fail_on_error task killed by its failing change_script and restarted by its policy", func() (bool, string) {
		a, err := p1.Alloc(ctx, alloc.ID)
		if err != nil {
			return false, err.Error()
		}
		st := a.TaskStates["strict"]
		return st.Restarts == 1 && st.State == "running", fmt.Sprintf("%+v", st)
	})

	a, err := p1.Alloc(ctx, alloc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"signalled", "untouched", "scripted"} {
		if st := a.TaskStates[task]; st.State != "running" || st.Restarts != 0 {
			t.Errorf("task %s: %+v, want running and never restarted", task, st)
		}
	}
	if out := taskLog(t, p1, alloc.ID, "untouched"); strings.Count(out, "start") != 1 {
		t.Errorf("noop-mode task's log %q, want one start", out)
	}
}

// stdout reads a task's standard output so far (an error while the task is between
// two runs).
func stdout(via *api.Client, alloc, task string) (string, error) {
	rc, err := via.Logs(context.Background(), alloc, task, "stdout", false)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

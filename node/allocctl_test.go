package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const ctlJob = `job "ctl" {
  group "g" {
    task "a" {
      driver       = "exec"
      kill_timeout = "200ms"
      config {
        command = "/bin/bash" # dash can lose a trapped signal that arrives while it forks
        args    = ["-c", "echo start; trap 'echo usr1' USR1; while :; do sleep 0.1; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestAllocControl: alloc signal, exec, restart and stop, asked of a peer that does
// not run the allocation, act on the peer that does, as Nomad's alloc commands do;
// `peer alloc exec` exits with the command's status; bad requests say what was wrong.
func TestAllocControl(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	submit(t, c.peers[0].client, ctlJob)
	alloc, otherPeer := c.startedElsewhere("ctl", "a")
	other := otherPeer.client // a peer that does not run it: requests are forwarded

	if err := other.SignalAlloc(ctx, alloc.ID[:8], "a", "SIGUSR1"); err != nil {
		t.Fatalf("signal: %v", err)
	}
	c.waitFor(10*time.Second, "the task trapping SIGUSR1", func() (bool, string) {
		out, err := stdout(other, alloc.ID, "a")
		return strings.Contains(out, "usr1"), fmt.Sprint(out, err)
	})
	// exec, through the other peer and through the CLI.
	var out, errOut bytes.Buffer
	code, err := other.Exec(ctx, alloc.ID, "", []string{"/bin/sh", "-c", "echo $NOMAD_ALLOC_ID; cat; echo oops >&2; exit 3"}, strings.NewReader("stdin text"), &out, &errOut)
	if err != nil || code != 3 || out.String() != alloc.ID+"\nstdin text" || errOut.String() != "oops\n" {
		t.Errorf("exec: code %d, err %v, stdout %q, stderr %q; want 3, the allocation id and the stdin text, oops", code, err, out.String(), errOut.String())
	}
	addr := "http://" + otherPeer.addr + ":4646"
	cli := exec.Command(peerBin, "alloc", "exec", "-address", addr, "-task", "a", alloc.ID[:8], "ls", "-d", "/local")
	cliOut, err := cli.Output()
	if cli.ProcessState.ExitCode() != 0 || string(cliOut) != "/local\n" {
		t.Errorf("peer alloc exec ... ls -d /local: exit %d (%v), output %q; want 0 and \"/local\\n\"", cli.ProcessState.ExitCode(), err, cliOut)
	}
	err = exec.Command(peerBin, "alloc", "exec", "-address", addr, "-i=false", alloc.ID, "sh", "-c", "exit 5").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("peer alloc exec ... exit 5: %v, want exit status 5", err)
	}
	// -job: the job's one running allocation, as Nomad's -job picks one at random.
	cliOut, err = exec.Command(peerBin, "alloc", "exec", "-address", addr, "-job", "ctl", "sh", "-c", "echo $NOMAD_ALLOC_ID").Output()
	if err != nil || string(cliOut) != alloc.ID+"\n" {
		t.Errorf("peer alloc exec -job ctl: %q (%v), want the allocation's id", cliOut, err)
	}
	cliOut, err = exec.Command(peerBin, "alloc", "logs", "-address", addr, "-job", "ctl").Output()
	if err != nil || !strings.HasPrefix(string(cliOut), "start\n") {
		t.Errorf("peer alloc logs -job ctl: %q (%v), want the task's output", cliOut, err)
	}
	cliOut, err = exec.Command(peerBin, "alloc", "exec", "-address", addr, "-job", "nope", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(cliOut), `"nope"`) {
		t.Errorf("peer alloc exec -job nope: %q (%v), want an error naming the job", cliOut, err)
	}

	for _, bad := range []struct {
		what string
		err  error
		want string
	}{
		{"unknown signal", other.SignalAlloc(ctx, alloc.ID, "a", "SIGNOPE"), `signal "SIGNOPE"`},
		{"unknown task", other.RestartAlloc(ctx, alloc.ID, "b"), `no task "b"; its tasks: a`},
		{"unknown allocation", other.RestartAlloc(ctx, "ffffffff", ""), "ffffffff"},
		{"exec of a missing command", execErr(other.Exec(ctx, alloc.ID, "a", []string{"/no/such"}, nil, io.Discard, io.Discard)), "/no/such"},
		{"exec in an unknown task", execErr(other.Exec(ctx, alloc.ID, "b", []string{"true"}, nil, io.Discard, io.Discard)), `no task "b"`},
	} {
		if bad.err == nil || !strings.Contains(bad.err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one containing %q", bad.what, bad.err, bad.want)
		}
	}

	if err := other.RestartAlloc(ctx, alloc.ID, ""); err != nil {
		t.Fatalf("restart: %v", err)
	}
	c.waitFor(20*time.Second, "the task restarted in place", func() (bool, string) {
		a, err := other.Alloc(ctx, alloc.ID)
		if err != nil {
			return false, err.Error()
		}
		st := a.TaskStates["a"]
		return a.ClientStatus == "running" && st.State == "running" && st.Restarts == 1 && st.StartedAt.After(alloc.TaskStates["a"].StartedAt),
			fmt.Sprintf("%s %+v", a.ClientStatus, st)
	})
	c.waitFor(10*time.Second, "the log going on across the restart, as in Nomad", func() (bool, string) {
		out, err := stdout(other, alloc.ID, "a")
		return strings.Count(out, "start\n") == 2 && strings.Contains(out, "usr1"), fmt.Sprintf("%q %v", out, err)
	})

	if err := other.StopAlloc(ctx, alloc.ID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	c.waitFor(30*time.Second, "the allocation stopped and a replacement running", func() (bool, string) {
		allocs, err := other.JobAllocs(ctx, "ctl")
		if err != nil {
			return false, err.Error()
		}
		var old, repl string
		for _, a := range allocs {
			switch {
			case a.ID == alloc.ID:
				old = a.ClientStatus + "/" + a.DesiredStatus
			case a.ClientStatus == "running":
				repl = a.ID
			}
		}
		return old == "complete/stop" && repl != "", fmt.Sprintf("old %s, replacement %q: %+v", old, repl, allocs)
	})
	if err := other.RestartAlloc(ctx, alloc.ID, ""); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("restarting the stopped allocation: %v, want an error saying it is not running", err)
	}
}

func execErr(_ int, err error) error { return err }

const scriptCheckJob = `job "sc" {
  group "g" {
    network {
      port "p" {}
    }
    service {
      name = "sc"
      port = "p"
      check {
        type     = "script"
        command  = "/bin/sh"
        args     = ["-c", "if [ -e /local/warn ]; then echo meh; exit 1; elif [ -e /local/ok ]; then echo fine; else echo missing; exit 2; fi"]
        interval = "200ms"
        timeout  = "5s"
      }
    }
    task "a" {
      driver       = "exec"
      kill_timeout = "200ms"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestScriptCheck: a script check runs its command inside the task at each interval;
// exit 0 passes (the service is healthy), 1 warns and anything else is critical, with
// the command's output, as in Nomad.
func TestScriptCheck(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	p := c.peers[1].client
	submit(t, c.peers[0].client, scriptCheckJob)
	var id string
	check := func(status, output string) {
		t.Helper()
		c.waitFor(30*time.Second, "check "+status+" with output "+output, func() (bool, string) {
			allocs, err := p.JobAllocs(ctx, "sc")
			if err != nil || len(allocs) != 1 {
				return false, fmt.Sprint(allocs, err)
			}
			id = allocs[0].ID
			for _, cs := range allocs[0].Checks {
				return cs.Status == status && strings.Contains(cs.Output, output), fmt.Sprintf("%+v", cs)
			}
			return false, "no check status yet"
		})
	}
	check("critical", "exit code 2: missing")
	if regs, _ := p.Service(ctx, "sc", true); len(regs) != 0 {
		t.Errorf("healthy instances while the check fails: %+v", regs)
	}
	for _, step := range []struct{ touch, status, output string }{
		{"/local/ok", "passing", "fine"},
		{"/local/warn", "warning", "meh"},
	} {
		if code, err := p.Exec(ctx, id, "", []string{"touch", step.touch}, nil, io.Discard, io.Discard); err != nil || code != 0 {
			t.Fatalf("touch %s: %d %v", step.touch, code, err)
		}
		check(step.status, step.output)
		regs, err := p.Service(ctx, "sc", true)
		if healthy := err == nil && len(regs) == 1; healthy != (step.status == "passing") {
			t.Errorf("check %s: healthy instances %+v (%v)", step.status, regs, err)
		}
	}
}

// TestSighupIgnoredAtStart: a peer started with SIGHUP ignored (nohup) does not pass
// that on to its tasks: a task can trap SIGHUP, so `alloc signal -s SIGHUP` (and a
// template's change_signal) reaches it.
func TestSighupIgnoredAtStart(t *testing.T) {
	c := newWrappedCluster(t, 1, "nohup")
	p := c.peers[0].client
	ctx := context.Background()
	submit(t, p, strings.Replace(strings.Replace(ctlJob, `"ctl"`, `"hup"`, 1), "USR1", "HUP", -1))
	var id string
	c.waitFor(30*time.Second, "the task running", func() (bool, string) {
		allocs, err := p.JobAllocs(ctx, "hup")
		if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != "running" {
			return false, fmt.Sprint(allocs, err)
		}
		id = allocs[0].ID
		out, err := stdout(p, id, "a")
		return strings.Contains(out, "start"), fmt.Sprint(out, err)
	})
	if err := p.SignalAlloc(ctx, id, "a", "SIGHUP"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(10*time.Second, "the task trapping SIGHUP", func() (bool, string) {
		out, err := stdout(p, id, "a")
		return strings.Contains(out, "usr1"), fmt.Sprintf("%q %v", out, err)
	})
}

package exec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
)

// TestExec: a command run in a running task sees the task's filesystem, environment,
// user and processes; its stdin, stdout, stderr and exit code come back; a command
// that does not exist, and a task that has exited, are errors; a cancelled context
// kills the command.
func TestExec(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "exec-in", "echo marker > /tmp/m; echo ready; exec sleep 3600")
	spec.Env = map[string]string{"GREETING": "hello"}
	spec.User = "nobody"
	spec.KillTimeout = 100 * time.Millisecond
	task, err := d.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Destroy()
	waitForLog(t, d, spec.ID, Stdout, "ready")

	var out, errOut bytes.Buffer
	code, err := task.Exec(ctxT(t, time.Minute), []string{"/bin/sh", "-c", `cat /tmp/m; echo "$GREETING $(id -u) $(cat)"; tr "\\0" " " </proc/1/cmdline; echo; echo err >&2; exit 7`},
		strings.NewReader("from stdin"), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if want := "marker\nhello 65534 from stdin\nsleep 3600 \n"; code != 7 || out.String() != want || errOut.String() != "err\n" {
		t.Errorf("exec: code %d, stdout %q, stderr %q; want 7, %q, \"err\\n\"", code, out.String(), errOut.String(), want)
	}

	if _, err := task.Exec(ctxT(t, time.Minute), []string{"/no/such/command"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "/no/such/command") {
		t.Errorf("exec of a missing command: %v, want an error naming it", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	code, err = task.Exec(ctx, []string{"sleep", "60"}, nil, &out, &errOut)
	if err != nil || code != 137 {
		t.Errorf("exec cancelled: code %d, err %v; want 137 (SIGKILL)", code, err)
	}

	if err := task.Stop(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	task.Wait(ctxT(t, time.Minute))
	if _, err := task.Exec(ctxT(t, time.Minute), []string{"true"}, nil, &out, &errOut); !errors.Is(err, libcontainer.ErrNotRunning) {
		t.Errorf("exec in an exited task: %v, want ErrNotRunning", err)
	}
}

// TestRestartKeepsDir: a task destroyed keeping its directory, then started again
// under the same ID, finds its local/ files and continues its logs, as a Nomad task
// does across restarts; its /tmp starts empty. RemoveTask removes a kept directory no
// task came back to.
func TestRestartKeepsDir(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "keep-dir", `if [ -e /local/x ]; then echo "second run sees $(cat /local/x), tmp: $(ls /tmp)"; else echo first > /local/x; echo t > /tmp/t; echo first run; fi`)
	res, _, _ := run(t, d, spec) // run destroys the task: start from a clean slate below
	if res.ExitCode != 0 {
		t.Fatalf("first run: %+v", res)
	}
	start := func() *Task {
		task, err := d.Start(ctxT(t, time.Minute), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.Wait(ctxT(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		return task
	}
	first := start()
	if err := first.DestroyKeepDir(); err != nil {
		t.Fatal(err)
	}
	second := start()
	if got, want := readLog(t, d, spec.ID, Stdout), "first run\nsecond run sees first, tmp: \n"; got != want {
		t.Errorf("log after a restart %q, want %q", got, want)
	}
	if err := second.DestroyKeepDir(); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveTask(spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.taskDir(spec.ID)); !os.IsNotExist(err) {
		t.Errorf("task dir after RemoveTask: %v, want it gone", err)
	}
}

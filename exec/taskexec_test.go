package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
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
	task := startReady(t, d, spec)

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

// startReady starts a task whose script prints "ready", and returns once it has;
// the task is destroyed when the test ends.
func startReady(t *testing.T, d *Driver, spec TaskSpec) *Task {
	t.Helper()
	spec.KillTimeout = 100 * time.Millisecond
	task, err := d.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Destroy() })
	waitForLog(t, d, spec.ID, Stdout, "ready")
	return task
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

// TestExecTerminal: a command run on a terminal sees a pty as its terminal, of the
// size asked for and then resized; a shell on it reads what is typed and exits with
// its code; output has the terminal's line endings. Exec and ExecTerminal start in
// the task's working directory. A task that has exited is an error.
func TestExecTerminal(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "exec-tty", "echo ready; exec sleep 3600")
	spec.WorkDir = "/local"
	task := startReady(t, d, spec)

	var out bytes.Buffer
	code, err := task.ExecTerminal(ctxT(t, time.Minute), []string{"/bin/sh", "-c", "tty; stty size; pwd"}, TermSize{Height: 33, Width: 101}, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\r\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "33 101" || lines[2] != "/local" || lines[3] != "" {
		t.Errorf("tty; stty size; pwd on a 33x101 terminal: code %d, output %q; want 0, a /dev/pts path, \"33 101\", \"/local\", with \\r\\n endings", code, out.String())
	}

	// The shell is interactive (a terminal is its stdin): it echoes what is typed,
	// and prints what it ran.
	out.Reset()
	code, err = task.ExecTerminal(ctxT(t, time.Minute), []string{"/bin/sh"}, TermSize{Height: 24, Width: 80}, nil,
		strings.NewReader("echo typed-$((40+2)); exit 5\n"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || !strings.Contains(out.String(), "typed-42\r\n") {
		t.Errorf("a shell typed \"echo typed-$((40+2)); exit 5\": code %d, output %q; want 5 and a line typed-42", code, out.String())
	}

	// A resize reaches the command as SIGWINCH, after the terminal has the new size.
	resize := make(chan TermSize)
	outR, outW := io.Pipe()
	result := make(chan int, 1)
	go func() {
		code, err := task.ExecTerminal(ctxT(t, time.Minute), []string{"/bin/sh", "-c", `trap "stty size; exit 4" WINCH; echo waiting; while :; do sleep 0.05; done`},
			TermSize{Height: 24, Width: 80}, resize, nil, outW)
		if err != nil {
			t.Error(err)
		}
		outW.Close()
		result <- code
	}()
	resized := bufio.NewReader(outR)
	if line, err := resized.ReadString('\n'); line != "waiting\r\n" {
		t.Fatalf("before the resize: %q (%v), want waiting", line, err)
	}
	resize <- TermSize{Height: 50, Width: 132}
	rest, _ := io.ReadAll(resized)
	if code := <-result; code != 4 || string(rest) != "50 132\r\n" {
		t.Errorf("resized to 50x132: code %d, output %q; want 4 and \"50 132\"", code, rest)
	}

	out.Reset()
	if code, err := task.Exec(ctxT(t, time.Minute), []string{"pwd"}, nil, &out, io.Discard); err != nil || code != 0 || out.String() != "/local\n" {
		t.Errorf("pwd without a terminal: code %d, err %v, output %q; want 0, /local", code, err, out.String())
	}

	if err := task.Stop(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	task.Wait(ctxT(t, time.Minute))
	if _, err := task.ExecTerminal(ctxT(t, time.Minute), []string{"/bin/sh"}, TermSize{}, nil, nil, &out); !errors.Is(err, libcontainer.ErrNotRunning) {
		t.Errorf("exec on a terminal in an exited task: %v, want ErrNotRunning", err)
	}
}

package exec

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The recovery test runs a "first peer" in a separate process: it starts tasks and
// exits without stopping them, as a peer that crashed or was upgraded. The test
// process then Recovers them. Because the test process is a child subreaper and the
// first peer was its child, the orphaned containers are reparented to it, so their
// exit codes stay known.

const (
	envDataDir = "SHOAL_EXEC_TEST_DATA_DIR"
	envCgroup  = "SHOAL_EXEC_TEST_CGROUP"
	envImage   = "SHOAL_EXEC_TEST_IMAGE"
	envTasks   = "SHOAL_EXEC_TEST_TASKS" // which of firstPeerTasks, comma-separated
)

var firstPeerTasks = map[string]string{
	// Keeps running; answers USR1 on stdout and exits 7 on TERM.
	"long": `trap "echo got-usr1" USR1; trap "exit 7" TERM; echo up; while true; do sleep 0.1; done`,
	// Exits by itself once the test, after the first peer is gone, says so.
	"short": `echo short-up; while [ ! -e /local/go ]; do sleep 0.05; done; exit 4`,
	// The same, for the case where the test process does not adopt it.
	"stray": `echo stray-up; while [ ! -e /local/go ]; do sleep 0.05; done; exit 5`,
}

// firstLines is what each of firstPeerTasks prints first.
var firstLines = map[string]string{"long": "up\n", "short": "short-up\n", "stray": "stray-up\n"}

func runFirstPeer() int {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.CgroupParent = os.Getenv(envDataDir), os.Getenv(envCgroup)
	d, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	ids := strings.Split(os.Getenv(envTasks), ",")
	for _, id := range ids {
		spec := TaskSpec{ID: id, Kind: KindContainer, Image: os.Getenv(envImage), Command: "/bin/sh", Args: []string{"-c", firstPeerTasks[id]}, KillTimeout: 10 * time.Second}
		if _, err := d.Start(ctx, spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Exit once the tasks' first lines are in their log files, so that the test
	// knows what the first peer wrote (a peer that dies between reading the FIFO
	// and writing the file loses that chunk).
	deadline := time.Now().Add(time.Minute)
	for _, id := range ids {
		for {
			b, _ := os.ReadFile(logPath(d.taskDir(id), Stdout))
			if string(b) == firstLines[id] {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "task %s did not print %q: got %q\n", id, firstLines[id], b)
				return 1
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Println("started")
	return 0 // exits with its tasks running
}

// startFirstPeer runs the first peer with the given tasks and waits for it to exit.
func startFirstPeer(t *testing.T, d *Driver, img *testImage, tasks string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=first-peer", envDataDir+"="+d.cfg.DataDir, envCgroup+"="+d.cfg.CgroupParent, envImage+"="+img.layout, envTasks+"="+tasks)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "started") {
		t.Fatalf("first peer: %v\n%s", err, out)
	}
}

func TestRecover(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	startFirstPeer(t, d, img, "long,short")

	// A peer that died inside Start leaves a state dir without state.json and a
	// task dir; one that died earlier leaves only a task dir. Recover removes both.
	for _, dir := range []string{d.cfg.stateDir() + "/ghost", d.taskDir("ghost") + "/local", d.taskDir("orphan") + "/logs"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := d.Recover()
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	byID := map[string]*Task{}
	for _, task := range tasks {
		byID[task.ID()] = task
	}
	if len(byID) != 2 || byID["long"] == nil || byID["short"] == nil {
		t.Fatalf("recovered %v, want long and short", byID)
	}
	for _, dir := range []string{d.cfg.stateDir() + "/ghost", d.taskDir("ghost"), d.taskDir("orphan")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s survived Recover: %v", dir, err)
		}
	}

	// The short task exits after Recover: adopted by this process (the subreaper), its
	// exit status is known.
	if err := os.WriteFile(d.taskDir("short")+"/local/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := byID["short"].Wait(ctxT(t, time.Minute)); err != nil || res != (ExitResult{ExitCode: 4}) {
		t.Errorf("short: %+v, %v; want exit code 4", res, err)
	}
	if got := readLog(t, d, "short", Stdout); got != "short-up\n" {
		t.Errorf("short stdout %q", got)
	}

	long := byID["long"]
	if st, err := long.Stats(); err != nil || st.Pids < 1 {
		t.Errorf("stats of the recovered task: %+v, %v", st, err)
	}
	// Logs flow again: output written after the restart reaches the log file.
	if err := long.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, d, "long", Stdout, "got-usr1")
	if err := long.Stop(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if res, _ := long.Wait(ctxT(t, time.Minute)); res != (ExitResult{ExitCode: 7}) {
		t.Errorf("long: %+v, want exit code 7 from its TERM trap", res)
	}
	got := readLog(t, d, "long", Stdout)
	if lines := strings.Fields(got); len(lines) != 2 || lines[0] != "up" || lines[1] != "got-usr1" {
		t.Errorf("long stdout %q, want up, got-usr1", got)
	}
	for _, task := range tasks {
		if err := task.Destroy(); err != nil {
			t.Error(err)
		}
	}
	for _, dir := range []string{d.cfg.DataDir + "/tasks", d.cfg.stateDir()} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %v after Destroy", dir, entries)
		}
	}
}

// TestRecoverUnknownExit: when the task's process is adopted by another process (here
// a "reaper" helper, a child subreaper between the test and the first peer), its exit
// is still noticed, and its status reported as unknown.
func TestRecoverUnknownExit(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	reaper := exec.Command(os.Args[0])
	reaper.Env = append(os.Environ(), roleEnv+"=reaper", envDataDir+"="+d.cfg.DataDir, envCgroup+"="+d.cfg.CgroupParent, envImage+"="+img.layout, envTasks+"=stray")
	stdin, _ := reaper.StdinPipe()
	stdout, _ := reaper.StdoutPipe()
	reaper.Stderr = os.Stderr
	if err := reaper.Start(); err != nil {
		t.Fatal(err)
	}
	defer reaper.Wait()
	defer stdin.Close() // the reaper reaps what is left and exits
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("first peer under the reaper: %q, %v", line, err)
	}
	tasks, err := d.Recover()
	if err != nil || len(tasks) != 1 {
		t.Fatalf("Recover: %v, %v; want the stray task", tasks, err)
	}
	if err := os.WriteFile(d.taskDir("stray")+"/local/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := tasks[0].Wait(ctxT(t, time.Minute))
	if err != nil || !res.Unknown || res.ExitCode != -1 {
		t.Errorf("Wait: %+v, %v; want an unknown exit status", res, err)
	}
	if got := readLog(t, d, "stray", Stdout); got != "stray-up\n" {
		t.Errorf("stdout %q", got)
	}
	if err := tasks[0].Destroy(); err != nil {
		t.Error(err)
	}
}

// runReaper is the "reaper" role: a child subreaper that runs the first peer, says
// "started" when it has, and reaps the orphans it inherits until stdin closes.
func runReaper() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	peer := exec.Command(os.Args[0])
	peer.Env = append(os.Environ(), roleEnv+"=first-peer")
	out, err := peer.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "started") {
		fmt.Fprintf(os.Stderr, "first peer: %v\n%s", err, out)
		return 1
	}
	fmt.Println("started")
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	reapAll := func() {
		var ws unix.WaitStatus
		for {
			if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
				return
			}
		}
	}
	for {
		reapAll()
		select {
		case <-eof:
			reapAll()
			return 0
		case <-time.After(20 * time.Millisecond):
		}
	}
}

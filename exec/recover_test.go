package exec

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
)

var firstPeerTasks = map[string]string{
	// Keeps running; answers USR1 on stdout and exits 7 on TERM.
	"long": `trap "echo got-usr1" USR1; trap "exit 7" TERM; echo up; while true; do sleep 0.1; done`,
	// Exits by itself once the test, after the first peer is gone, says so.
	"short": `echo short-up; while [ ! -e /local/go ]; do sleep 0.05; done; exit 4`,
}

func runFirstPeer() int {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.CgroupParent = os.Getenv(envDataDir), os.Getenv(envCgroup)
	d, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	for id, script := range firstPeerTasks {
		spec := TaskSpec{ID: id, Kind: KindContainer, Image: os.Getenv(envImage), Command: "/bin/sh", Args: []string{"-c", script}, KillTimeout: 10 * time.Second}
		if _, err := d.Start(ctx, spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Exit once the tasks' first lines are in their log files, so that the test
	// knows what the first peer wrote (a peer that dies between reading the FIFO
	// and writing the file loses that chunk).
	for id, want := range map[string]string{"long": "up\n", "short": "short-up\n"} {
		for {
			b, _ := os.ReadFile(logPath(d.taskDir(id), Stdout))
			if string(b) == want {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Println("started")
	return 0 // exits with its tasks running
}

func TestRecover(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=first-peer", envDataDir+"="+d.cfg.DataDir, envCgroup+"="+d.cfg.CgroupParent, envImage+"="+img.layout)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "started") {
		t.Fatalf("first peer: %v\n%s", err, out)
	}

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

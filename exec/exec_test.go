package exec

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as the container init (libcontainer starts /proc/self/exe init)
// and as the helper processes of the recovery and hardening tests.
func TestMain(m *testing.M) {
	if IsInit() {
		Init() // never returns
	}
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	code := m.Run()
	if testImgDir != "" {
		os.RemoveAll(testImgDir)
	}
	os.Exit(code)
}

const roleEnv = "SHOAL_EXEC_TEST_ROLE"

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create containers (namespaces, cgroups, mounts)")
	}
}

// newDriver returns a driver on a fresh data dir under a directory removed at the
// end of the test, after checking that the test destroyed everything it started.
func newDriver(t testing.TB) *Driver {
	t.Helper()
	requireRoot(t)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.CgroupParent = "shoal-test-" + sanitize(t.Name())
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		defer func() {
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		d.mu.Lock()
		var live []*Task
		for _, task := range d.tasks {
			if task != nil {
				live = append(live, task)
			}
		}
		d.mu.Unlock()
		for _, task := range live {
			_ = task.Destroy()
		}
		// The cgroup parent libcontainer created for the test's tasks.
		for _, p := range cgroupDirs(cfg.CgroupParent) {
			_ = os.Remove(p)
		}
	})
	return d
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

// cgroupDirs lists the directories named name under any cgroup hierarchy.
func cgroupDirs(name string) []string {
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return nil
		}
		if strings.Contains(p, name) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// run starts spec, waits for it and returns its result and stdout, stderr.
func run(t testing.TB, d *Driver, spec TaskSpec) (ExitResult, string, string) {
	t.Helper()
	task, err := d.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.ID, err)
	}
	res, err := task.Wait(ctxT(t, time.Minute))
	if err != nil {
		t.Fatalf("Wait(%s): %v", spec.ID, err)
	}
	stdout, stderr := readLog(t, d, spec.ID, Stdout), readLog(t, d, spec.ID, Stderr)
	if err := task.Destroy(); err != nil {
		t.Fatalf("Destroy(%s): %v", spec.ID, err)
	}
	return res, stdout, stderr
}

func readLog(t testing.TB, d *Driver, id, stream string) string {
	t.Helper()
	r, err := d.Logs(id, stream, false)
	if err != nil {
		t.Fatalf("Logs(%s, %s): %v", id, stream, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading logs of %s: %v", id, err)
	}
	return string(b)
}

func shTask(img *testImage, id, script string) TaskSpec {
	return TaskSpec{ID: id, Kind: KindContainer, Image: img.registry, Command: "/bin/sh", Args: []string{"-c", script}}
}

func TestSmoke(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	res, out, errOut := run(t, d, shTask(img, "smoke", "echo hello; echo oops >&2; exit 3"))
	if res.ExitCode != 3 || out != "hello\n" || errOut != "oops\n" {
		t.Fatalf("got %v stdout %q stderr %q; want exit 3, hello, oops", res, out, errOut)
	}
}

func runRole(role string) int {
	switch role {
	case "probe":
		return runProbes()
	case "first-peer":
		return runFirstPeer()
	case "runtime-runner":
		return runRuntimeRunner()
	case "reaper":
		return runReaper()
	case "seal":
		return runSealRole()
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleEnv, role)
	return 2
}

package exec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartLatency is the benchmark of docs/bench/exec.md. It is a test, not a
// testing.B benchmark, because it compares against the runc and crun binaries
// side by side and prints a table; it runs only when SHOAL_EXEC_BENCH=1:
//
//	SHOAL_EXEC_BENCH=1 go test -tags seccomp -count=1 -run TestStartLatency -v ./exec
func TestStartLatency(t *testing.T) {
	if os.Getenv("SHOAL_EXEC_BENCH") == "" {
		t.Skip("benchmark: set SHOAL_EXEC_BENCH=1")
	}
	runs := 50
	if n, err := strconv.Atoi(os.Getenv("SHOAL_EXEC_BENCH_RUNS")); err == nil {
		runs = n
	}
	d := newDriver(t)
	img := busyboxImage(t)
	info, err := d.PrepareImage(ctxT(t, time.Minute), img.registry)
	if err != nil {
		t.Fatal(err)
	}
	limits := func(s TaskSpec) TaskSpec { s.MemoryMB, s.CPUMHz, s.PidsLimit = 64, 500, 64; return s }

	// Every variant runs once per round, round-robin, so that load from elsewhere
	// on the machine hits them alike.
	type variant struct {
		name      string
		run       func(i int) (time.Duration, error)
		durations []time.Duration
		note      string
	}
	shoal := func(spec TaskSpec, destroyToo bool) func(int) (time.Duration, error) {
		return func(i int) (time.Duration, error) {
			spec.ID = fmt.Sprintf("bench-%d", i)
			t0 := time.Now()
			task, err := d.Start(ctxT(t, time.Minute), spec)
			if err != nil {
				return 0, err
			}
			_, err = task.Wait(ctxT(t, time.Minute))
			dt := time.Since(t0)
			if derr := task.Destroy(); err == nil {
				err = derr
			}
			if destroyToo {
				dt = time.Since(t0)
			}
			return dt, err
		}
	}
	ro := limits(TaskSpec{Kind: KindContainer, Image: img.registry, Command: "/bin/true", ReadOnlyRoot: true})
	overlay := ro
	overlay.ReadOnlyRoot = false
	variants := []*variant{
		{name: "shoal container, image root read-only: start -> exit observed", run: shoal(ro, false)},
		{name: "shoal container, image root read-only: start -> exit -> destroyed", run: shoal(ro, true)},
		{name: "shoal container, overlay root: start -> exit observed", run: shoal(overlay, false)},
		{name: "shoal exec kind (host root): start -> exit observed", run: shoal(limits(TaskSpec{Kind: KindExec, Command: "/bin/true", User: "root"}), false)},
	}
	// runc and crun: `<runtime> run` of the same rootfs, spec and limits (which also
	// deletes the container, like "start -> exit -> destroyed").
	for _, rt := range []string{"runc", "crun"} {
		v := &variant{name: rt + " run: start -> exit -> deleted"}
		variants = append(variants, v)
		path, err := exec.LookPath(rt)
		if err != nil {
			v.note = "not installed"
			continue
		}
		bundle := t.TempDir()
		for _, sub := range []string{"local", "secrets", "tmp"} {
			os.MkdirAll(filepath.Join(bundle, sub), 0o755)
		}
		spec := d.runtimeSpec(&ro, info.RootFS, bundle)
		spec.Version = "1.0.2" // what Debian's runc 1.1 and crun 1.8 know
		spec.Process.Args = []string{"/bin/true"}
		spec.Process.Env = []string{defaultPath}
		spec.Process.Cwd = "/"
		// runc 1.1 sets rlimits after dropping CAP_SYS_RESOURCE: stay under our hard limit.
		spec.Process.Rlimits[0].Hard = spec.Process.Rlimits[0].Soft
		v.run = func(i int) (time.Duration, error) {
			spec.Hostname = fmt.Sprintf("%s-%d", rt, i)
			spec.Linux.CgroupsPath = filepath.Join(d.cfg.CgroupParent, spec.Hostname)
			data, _ := json.Marshal(spec)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
				return 0, err
			}
			var stderr bytes.Buffer
			cmd := exec.Command(path, "--root", filepath.Join(bundle, "state"), "run", "-b", bundle, spec.Hostname)
			cmd.Stderr = &stderr
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
			}
			return time.Since(t0), nil
		}
	}
	for i := range runs {
		for _, v := range variants {
			if v.run == nil || v.note != "" {
				continue
			}
			dt, err := v.run(i)
			if err != nil {
				v.note = "unavailable: " + err.Error()
				continue
			}
			v.durations = append(v.durations, dt)
		}
	}
	type result = variant
	results := variants

	median := func(ds []time.Duration) time.Duration { return pct(ds, 50) }
	var crun time.Duration
	for _, r := range results {
		if strings.HasPrefix(r.name, "crun") && len(r.durations) > 0 {
			crun = median(r.durations)
		}
	}
	fmt.Printf("\n/bin/true start latency, %d runs each, %d CPUs, seccomp=%v\n\n", runs, runtime.NumCPU(), d.seccomp)
	fmt.Println("| runtime | median | p90 | median / crun's |")
	fmt.Println("|---|---|---|---|")
	for _, r := range results {
		if r.note != "" || len(r.durations) == 0 {
			fmt.Printf("| %s | - | - | %s |\n", r.name, r.note)
			continue
		}
		ratio := "-"
		if crun > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(median(r.durations))/float64(crun))
		}
		fmt.Printf("| %s | %.1f ms | %.1f ms | %s |\n", r.name, ms(median(r.durations)), ms(pct(r.durations, 90)), ratio)
	}

	// Image pull + unpack of the test image into a fresh store.
	var pulls []time.Duration
	for range 5 {
		d2 := newDriver(t)
		t0 := time.Now()
		if _, err := d2.PrepareImage(ctxT(t, time.Minute), img.registry); err != nil {
			t.Fatal(err)
		}
		pulls = append(pulls, time.Since(t0))
	}
	fmt.Printf("\nimage pull + unpack (%.1f MB busybox image, 2 layers, loopback registry): median %.1f ms over 5\n", float64(info.Size)/1e6, ms(median(pulls)))

	// Peer memory per running task.
	const sleepers = 50
	rssBefore := rss()
	var tasks []*Task
	for i := range sleepers {
		spec := limits(TaskSpec{ID: fmt.Sprintf("sleep-%d", i), Kind: KindContainer, Image: img.registry, Command: "/bin/sleep", Args: []string{"3600"}})
		task, err := d.Start(ctxT(t, time.Minute), spec)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	rssAfter := rss()
	fmt.Printf("\npeer memory per running task: %d KiB (RSS %d -> %d KiB for %d sleeping tasks; goroutines %d)\n",
		(rssAfter-rssBefore)/sleepers, rssBefore, rssAfter, sleepers, runtime.NumGoroutine())
	for _, task := range tasks {
		task.Destroy()
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rss is the process's resident set in KiB, after a full GC.
func rss() int {
	runtime.GC()
	debug.FreeOSMemory()
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

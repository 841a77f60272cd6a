package exec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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

	"golang.org/x/sys/unix"
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
	// SHOAL_EXEC_BENCH_DIR puts the data dir and the runtimes' bundles on another
	// filesystem (e.g. /dev/shm, to take this VM's slow disk out of the comparison).
	tmp := t.TempDir
	if base := os.Getenv("SHOAL_EXEC_BENCH_DIR"); base != "" {
		tmp = func() string {
			dir, err := os.MkdirTemp(base, "shoal-bench-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	// Container state under /run, as the runtimes' own (/run/runc, /run/crun).
	d.Close()
	cfg := d.cfg
	cfg.DataDir, cfg.StateDir = tmp(), fmt.Sprintf("/run/shoal/bench-shoal-%d", os.Getpid())
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); os.RemoveAll(cfg.StateDir) })
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
	// The peer's containers run shoal-init (make build attaches it); the "this binary
	// as init" variants run without it, as a peer built by plain `go build` does (the
	// peer binary links more and boots slower than this test binary: see
	// docs/bench/exec.md).
	// The peer variant runs the whole peer binary (built here, nothing attached) as
	// the init, through the same redirect.
	useSmallInit(t)
	peerBin := filepath.Join(t.TempDir(), "peer")
	if b, err := exec.Command("go", "build", "-tags", "seccomp", "-o", peerBin, "../cmd/peer").CombinedOutput(); err != nil {
		t.Fatalf("building the peer: %v\n%s", err, b)
	}
	peerInit, err := sealInit(peerBin)
	if err != nil {
		t.Fatal(err)
	}
	const (
		small = iota
		self
		peer
	)
	shoal := func(spec TaskSpec, destroyToo bool, init int) func(int) (time.Duration, error) {
		return func(i int) (time.Duration, error) {
			spec.ID = fmt.Sprintf("bench-%d", i)
			var err error
			switch init {
			case self:
				unix.Close(initFD)
			case small:
				err = unix.Dup3(smallInit.fd, initFD, unix.O_CLOEXEC)
			case peer:
				err = unix.Dup3(peerInit, initFD, unix.O_CLOEXEC)
			}
			if err != nil {
				return 0, err
			}
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
	execTrue := limits(TaskSpec{Kind: KindExec, Command: "/bin/true", User: "root"})
	variants := []*variant{
		{name: "shoal container, image root read-only: start -> exit observed", run: shoal(ro, false, small)},
		{name: "shoal container, image root read-only: start -> exit -> destroyed", run: shoal(ro, true, small)},
		{name: "shoal container, overlay root: start -> exit observed", run: shoal(overlay, false, small)},
		{name: "shoal exec kind (host root): start -> exit observed", run: shoal(execTrue, false, small)},
		{name: "shoal container, image root read-only, the peer binary as init: start -> exit observed", run: shoal(ro, false, peer)},
		{name: "shoal exec kind, the peer binary as init: start -> exit observed", run: shoal(execTrue, false, peer)},
		{name: "shoal container, image root read-only, this test binary as init: start -> exit observed", run: shoal(ro, false, self)},
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
		bundle := tmp()
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
		runner := runtimeRunner(t, rt, path)
		v.run = func(i int) (time.Duration, error) {
			spec.Hostname = fmt.Sprintf("%s-%d", rt, i)
			spec.Linux.CgroupsPath = filepath.Join(d.cfg.CgroupParent, spec.Hostname)
			data, _ := json.Marshal(spec)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
				return 0, err
			}
			return runner(bundle, spec.Hostname)
		}
	}
	defer os.RemoveAll("/run/shoal/bench-runc")
	defer os.RemoveAll("/run/shoal/bench-crun")
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
	fmt.Printf("\npeer memory per running task: %d KiB (RSS %d -> %d KiB for %d sleeping tasks; goroutines %d, threads %s)\n",
		(rssAfter-rssBefore)/sleepers, rssBefore, rssAfter, sleepers, runtime.NumGoroutine(), procStatus("Threads:"))
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
	n, _ := strconv.Atoi(procStatus("VmRSS:"))
	return n
}

// procStatus is the first word of a /proc/self/status field.
func procStatus(field string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok && len(strings.Fields(v)) > 0 {
			return strings.Fields(v)[0]
		}
	}
	return ""
}

// runtimeRunner returns a function that runs `<runtime> run` of a bundle and times
// it. Debian's crun 1.8 refuses cgroup v1/v2 hybrids unless cgroup2 has no
// controllers, and here hugetlb sits on cgroup2 (no v1 hierarchy has it). So crun
// runs from a helper in a private mount namespace that mounts a v1 hugetlb
// hierarchy there: the kernel moves hugetlb off cgroup2 while it is mounted, other
// processes never see the mount, and it goes away with the helper.
func runtimeRunner(t *testing.T, rt, path string) func(bundle, id string) (time.Duration, error) {
	if rt != "crun" || !hugetlbOnV2() {
		return func(bundle, id string) (time.Duration, error) { return timeRuntime(path, bundle, id) }
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return func(string, string) (time.Duration, error) {
			return 0, errors.New("needs unshare(1) for the hugetlb work-around")
		}
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=runtime-runner", "SHOAL_RUNTIME="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	replies := bufio.NewReader(stdout)
	return func(bundle, id string) (time.Duration, error) {
		fmt.Fprintf(stdin, "%s %s\n", bundle, id)
		line, err := replies.ReadString('\n')
		if err != nil {
			return 0, err
		}
		nanos, msg, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, _ := strconv.ParseInt(nanos, 10, 64)
		if n <= 0 {
			return 0, errors.New(msg)
		}
		return time.Duration(n), nil
	}
}

func hugetlbOnV2() bool {
	b, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	return strings.Contains(string(b), "hugetlb")
}

func timeRuntime(path, bundle, id string) (time.Duration, error) {
	var stderr bytes.Buffer
	// State under /run like the runtimes' defaults (/run/runc, /run/crun) and ours.
	root := filepath.Join("/run/shoal", "bench-"+filepath.Base(path))
	cmd := exec.Command(path, "--root", root, "run", "-b", bundle, id)
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return time.Since(t0), nil
}

// runRuntimeRunner is the "runtime-runner" role (see runtimeRunner): it answers each
// "<bundle> <id>" line on stdin with "<nanoseconds> <error>".
func runRuntimeRunner() int {
	const mnt = "/sys/fs/cgroup/hugetlb"
	var setupErr error
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		setupErr = err
	} else if err := unix.Mount("cgroup", mnt, "cgroup", 0, "hugetlb"); err != nil {
		setupErr = fmt.Errorf("mounting a v1 hugetlb hierarchy: %w", err)
	} else {
		defer os.Remove(mnt)
		defer unix.Unmount(mnt, unix.MNT_DETACH)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		bundle, id, _ := strings.Cut(sc.Text(), " ")
		if setupErr != nil {
			fmt.Printf("0 %v\n", setupErr)
			continue
		}
		dt, err := timeRuntime(os.Getenv("SHOAL_RUNTIME"), bundle, id)
		if err != nil {
			fmt.Printf("0 %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Printf("%d ok\n", dt.Nanoseconds())
	}
	return 0
}

// BenchmarkStartTrue is the start latency of /bin/true (Start until Wait returns,
// then Destroy outside the timer) for `make bench`; TestStartLatency compares it
// with runc and crun.
func BenchmarkStartTrue(b *testing.B) {
	useSmallInit(b) // as a peer built by make build
	d := newDriver(b)
	img := busyboxImage(b)
	if _, err := d.PrepareImage(ctxT(b, time.Minute), img.registry); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{KindContainer, KindExec} {
		b.Run(kind, func(b *testing.B) {
			spec := TaskSpec{Kind: kind, Command: "/bin/true", User: "root", MemoryMB: 64, CPUMHz: 500}
			if kind == KindContainer {
				spec.Image, spec.ReadOnlyRoot = img.registry, true
			}
			for i := 0; b.Loop(); i++ {
				spec.ID = fmt.Sprintf("b-%s-%d", kind, i)
				task, err := d.Start(ctxT(b, time.Minute), spec)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := task.Wait(ctxT(b, time.Minute)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := task.Destroy(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

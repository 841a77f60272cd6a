package exec

import (
	"debug/buildinfo"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-sched/shoal/exec/containerinit"
)

// buildInit builds cmd/shoal-init as make build does (the tags this test binary has,
// stripped) into dir, and returns its path.
func buildInit(t testing.TB, dir string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, "shoal-init")
	tags := ""
	if SeccompAvailable {
		tags = "seccomp"
	}
	args := append([]string{"build", "-tags", tags, "-ldflags", "-s -w"}, extra...)
	cmd := exec.Command("go", append(args, "-o", out, "../cmd/shoal-init")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building shoal-init: %v\n%s", err, b)
	}
	return out
}

// sealInit returns a descriptor of a sealed copy of the binary at path, made as
// useInit makes the one it keeps at initFD; dup it to initFD to use it.
func sealInit(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return -1, err
	}
	if err := useInit(f, st.Size()); err != nil {
		return -1, err
	}
	defer unix.Close(initFD)
	return unix.FcntlInt(initFD, unix.F_DUPFD_CLOEXEC, 3)
}

var smallInit struct {
	once sync.Once
	fd   int // a sealed shoal-init, to dup to initFD
	err  error
}

// useSmallInit makes this process's containers run shoal-init (built once per test
// process) until the test ends, as a peer built by make build does.
func useSmallInit(t testing.TB) {
	t.Helper()
	smallInit.once.Do(func() {
		dir, err := os.MkdirTemp("", "shoal-init-")
		if err != nil {
			smallInit.err = err
			return
		}
		defer os.RemoveAll(dir)
		smallInit.fd, smallInit.err = sealInit(buildInit(t, dir))
	})
	if smallInit.err != nil {
		t.Fatal(smallInit.err)
	}
	if err := unix.Dup3(smallInit.fd, initFD, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(initFD) })
}

// TestSmallInit: containers of both kinds run, exit with their status and give their
// output with shoal-init as their init, and a command execs into a running one.
func TestSmallInit(t *testing.T) {
	requireRoot(t)
	useSmallInit(t)
	if !keepsInit() {
		t.Fatalf("no sealed init at fd %d", initFD)
	}
	d := newDriver(t)
	img := busyboxImage(t)
	for _, spec := range []TaskSpec{
		{ID: "small-container", Kind: KindContainer, Image: img.registry, Command: "/bin/sh", Args: []string{"-c", "echo out; exit 7"}, MemoryMB: 32},
		{ID: "small-exec", Kind: KindExec, Command: "/bin/sh", Args: []string{"-c", "echo out; exit 7"}, MemoryMB: 32},
	} {
		task, err := d.Start(ctxT(t, time.Minute), spec)
		if err != nil {
			t.Fatalf("%s: %v", spec.ID, err)
		}
		res, err := task.Wait(ctxT(t, time.Minute))
		if err != nil || res.ExitCode != 7 {
			t.Errorf("%s: exit %+v, %v; want exit code 7", spec.ID, res, err)
		}
		if got := readLog(t, d, spec.ID, Stdout); got != "out\n" {
			t.Errorf("%s: stdout %q, want %q", spec.ID, got, "out\n")
		}
		task.Destroy()
	}
	task, err := d.Start(ctxT(t, time.Minute), TaskSpec{ID: "small-sleep", Kind: KindContainer, Image: img.registry, Command: "/bin/sleep", Args: []string{"60"}, MemoryMB: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Destroy()
	var stdout strings.Builder
	code, err := task.Exec(ctxT(t, time.Minute), []string{"/bin/echo", "inside"}, nil, &stdout, nil)
	if err != nil || code != 0 || stdout.String() != "inside\n" {
		t.Errorf("exec: code %d, %v, stdout %q; want 0 and %q", code, err, stdout.String(), "inside\n")
	}
}

// TestSmallInitOverlay: the init kept as a file behind a read-only overlayfs (what a
// peer does) runs containers, and cannot be opened for writing through the handle.
func TestSmallInitOverlay(t *testing.T) {
	requireRoot(t)
	f, err := os.Open(buildInit(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sealed, err := sealInitFile(f, filepath.Join(t.TempDir(), "init"))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	if err := keepInit(sealed); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(initFD)
	if !keepsInit() {
		t.Fatalf("no sealed init at fd %d", initFD)
	}
	if _, err := os.OpenFile("/proc/self/fd/1000", os.O_WRONLY, 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("opening the kept init for writing: %v, want EROFS", err)
	}
	d := newDriver(t)
	task, err := d.Start(ctxT(t, time.Minute), TaskSpec{ID: "overlay-init", Kind: KindExec, Command: "/bin/sh", Args: []string{"-c", "echo out; exit 7"}, MemoryMB: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Destroy()
	if res, err := task.Wait(ctxT(t, time.Minute)); err != nil || res.ExitCode != 7 {
		t.Errorf("exit %+v, %v; want exit code 7", res, err)
	}
	if got := readLog(t, d, "overlay-init", Stdout); got != "out\n" {
		t.Errorf("stdout %q, want %q", got, "out\n")
	}
}

// TestInitRedirect: a container start runs the binary kept at initFD in place of this
// one (here a stand-in that only leaves a mark and exits, so the start fails), in
// both sealed forms: a memfd and a file behind a read-only overlayfs.
func TestInitRedirect(t *testing.T) {
	requireRoot(t)
	d := newDriver(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	fake := filepath.Join(dir, "fakeinit")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.marker="+marker, "-o", fake, "./testdata/fakeinit")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building fakeinit: %v\n%s", err, b)
	}
	memfd := func() (int, error) { return sealInit(fake) }
	overlay := func() (int, error) {
		f, err := os.Open(fake)
		if err != nil {
			return -1, err
		}
		defer f.Close()
		sealed, err := sealInitFile(f, filepath.Join(dir, "init"))
		if err != nil {
			return -1, err
		}
		defer sealed.Close()
		return unix.FcntlInt(sealed.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	}
	for i, seal := range map[string]func() (int, error){"memfd": memfd, "overlay": overlay} {
		t.Run(i, func(t *testing.T) {
			os.Remove(marker)
			fd, err := seal()
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Dup3(fd, initFD, unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(initFD)
			_, err = d.Start(ctxT(t, time.Minute), TaskSpec{ID: "redirected-" + i, Kind: KindExec, Command: "/bin/true", MemoryMB: 32})
			if err == nil {
				t.Fatal("the start succeeded with a stand-in init that only exits")
			}
			if b, rerr := os.ReadFile(marker); rerr != nil || string(b) != InitArg {
				t.Fatalf("the stand-in init did not run as `init` (%q, %v); the start said: %v", b, rerr, err)
			}
		})
	}
}

// TestSameBuild: an init is taken only from the build of the binary it serves: the
// same tags and module versions; another build is refused by name.
func TestSameBuild(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open(buildInit(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ours, err := buildinfo.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameBuild(f, ours); err != nil {
		t.Errorf("the init against its own build: %v", err)
	}

	tags := *ours
	tags.Settings = slices.Clone(ours.Settings)
	i := slices.IndexFunc(tags.Settings, func(s debug.BuildSetting) bool { return s.Key == "-tags" })
	if i < 0 {
		tags.Settings = append(tags.Settings, debug.BuildSetting{Key: "-tags", Value: "other"})
	} else {
		tags.Settings[i].Value += ",other"
	}
	if err := sameBuild(f, &tags); err == nil || !strings.Contains(err.Error(), "tags") {
		t.Errorf("against a binary of other tags: %v, want an error naming the tags", err)
	}

	runc := *ours
	runc.Deps = slices.Clone(ours.Deps)
	i = slices.IndexFunc(runc.Deps, func(m *debug.Module) bool { return m.Path == "github.com/opencontainers/runc" })
	if i < 0 {
		t.Fatal("shoal-init does not list runc among its modules")
	}
	m := *runc.Deps[i]
	m.Version, m.Sum = "v1.0.0", ""
	runc.Deps[i] = &m
	if err := sameBuild(f, &runc); err == nil || !strings.Contains(err.Error(), "github.com/opencontainers/runc v1.5") {
		t.Errorf("against a binary of another runc: %v, want an error naming runc and the init's version", err)
	}
	if _, err := containerinit.Attached(f); !errors.Is(err, containerinit.ErrNotAttached) {
		t.Errorf("Attached of a binary without an init: %v, want ErrNotAttached", err)
	}
}

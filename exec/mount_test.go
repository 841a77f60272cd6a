package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// hostDir is a directory for a test's mounts, writable by any task user (exec tasks
// run as nobody), removed at the end of the test.
func hostDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A task sees a host directory at its mount's destination: what it writes there is
// on the host, and a read-only mount refuses writes. Both kinds: the container kind
// creates the destination in its overlay, the exec kind in a view of the host root
// of its own, which Destroy takes down.
func TestMounts(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	if _, err := d.PrepareImage(ctxT(t, time.Minute), img.registry); err != nil {
		t.Fatal(err)
	}
	script := `cat /in/hello; echo written > /data/out && echo rw-ok; touch /in/x 2>/dev/null || echo ro-refused; ` +
		`grep -E ' /(data|in) ' /proc/self/mountinfo | grep -o -E ' (ro|rw),nosuid,nodev' | sort`
	for _, tc := range []struct {
		name string
		spec TaskSpec
	}{
		{"container", shTask(img, "mount-c", script)},
		{"exec", TaskSpec{ID: "mount-e", Kind: KindExec, Command: "/bin/sh", Args: []string{"-c", script}}},
		{"container read-only root", func() TaskSpec { s := shTask(img, "mount-cro", script); s.ReadOnlyRoot = true; return s }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw, ro := hostDir(t, nil), hostDir(t, map[string]string{"hello": "from the host\n"})
			spec := tc.spec
			spec.Mounts = []Mount{{Source: rw, Destination: "/data"}, {Source: ro, Destination: "/in/", ReadOnly: true, Propagation: PropagationHostToTask}}
			res, out, errOut := run(t, d, spec)
			want := "from the host\nrw-ok\nro-refused\n ro,nosuid,nodev\n rw,nosuid,nodev\n"
			if res.ExitCode != 0 || out != want {
				t.Errorf("result %v stdout %q stderr %q, want %q", res, out, errOut, want)
			}
			if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
				t.Errorf("host file = %q, %v; want what the task wrote", b, err)
			}
			if entries, _ := os.ReadDir(ro); len(entries) != 1 {
				t.Errorf("read-only host dir holds %v, want only hello", entries)
			}
			root := filepath.Join(d.taskDir(spec.ID), "rootfs")
			if mounted, _ := mountinfo.Mounted(root); mounted {
				t.Errorf("%s still mounted after Destroy", root)
			}
			if _, err := os.Stat(d.taskDir(spec.ID)); !os.IsNotExist(err) {
				t.Errorf("task dir left after Destroy: %v", err)
			}
			info, _ := d.image(ctxT(t, time.Minute), img.registry)
			for _, dest := range []string{"data", "in"} {
				if _, err := os.Stat(filepath.Join(info.RootFS, dest)); !os.IsNotExist(err) {
					t.Errorf("the shared image has /%s after the task ran (%v): mount points must be made in the task's own root", dest, err)
				}
			}
		})
	}
}

// The exec kind shows the host's root read-only: a destination that exists there,
// or under the task's own /local, needs no view of its own; one missing below a
// system directory (which is never hidden) is refused, naming it.
func TestExecMountPoints(t *testing.T) {
	view := t.TempDir()
	for _, dir := range []string{"usr/lib", "srv/exists", "etc"} {
		if err := os.MkdirAll(filepath.Join(view, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dest    string
		unbound string // the top-level name left unbound, "" for none
		mkdir   string
		err     string
	}{
		{dest: "/srv/exists"},
		{dest: "/usr/lib"},
		{dest: "/local/data"},
		{dest: "/tmp/x"},
		{dest: "/run/data", mkdir: "run/data"},
		{dest: "/data/x/", unbound: "data", mkdir: "data/x"},
		{dest: "/usr/shoal-volume-test", err: `mount destination "/usr/shoal-volume-test": the exec driver shows the host's /usr read-only`},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			unbound, mkdirs, err := execMountPoints(view, []Mount{{Source: "/", Destination: tc.dest}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]bool
			if tc.unbound != "" {
				want = map[string]bool{tc.unbound: true}
			}
			if got := strings.Join(mkdirs, ","); got != tc.mkdir || fmt.Sprint(unbound) != fmt.Sprint(want) {
				t.Errorf("unbound %v mkdirs %q, want %v and %q", unbound, got, want, tc.mkdir)
			}
		})
	}
}

func TestMountValidation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    Mount
		want string
	}{
		{Mount{Source: "rel", Destination: "/d"}, `mounts[0].source "rel": must be an absolute path on the host`},
		{Mount{Source: filepath.Join(dir, "missing"), Destination: "/d"}, "must be an existing directory on the host"},
		{Mount{Source: file, Destination: "/d"}, "must be an existing directory on the host"},
		{Mount{Source: dir, Destination: "d"}, `mounts[0].destination "d": must be an absolute path below "/" without ".."`},
		{Mount{Source: dir, Destination: "/a/../../etc"}, `without ".."`},
		{Mount{Source: dir, Destination: "/"}, `without ".."`},
		{Mount{Source: dir, Destination: "/proc/1"}, "must be outside /proc, /sys and /dev"},
		{Mount{Source: dir, Destination: "/d", Propagation: "shared"}, `mounts[0].propagation "shared": must be "private", "host-to-task" or "bidirectional"`},
	} {
		s := TaskSpec{ID: "v", Kind: KindExec, Command: "/bin/true", Mounts: []Mount{tc.m}}
		if err := s.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one containing %q", tc.m, err, tc.want)
		}
	}
}

// BenchmarkMountStart is what a host volume costs a task's start (Start until Wait
// returns, Destroy outside the timer). Exec kind: no mount, a mount whose destination
// the shared view of the host root already has (under /local, and /alloc, where a
// scheduler binds its shared allocation directory into every task), and one that
// needs a view of its own (/data). Container kind: an overlay root with and without a mount,
// and a read-only image root without a mount and with one (which then gets an
// overlay, so that the mount point is not made in the shared image). The variants
// alternate within each iteration so that they see the same machine; ms/op is the
// sum, the per-variant metrics the parts.
func BenchmarkMountStart(b *testing.B) {
	d := newDriver(b)
	img := busyboxImage(b)
	if _, err := d.PrepareImage(ctxT(b, time.Minute), img.registry); err != nil {
		b.Fatal(err)
	}
	src := b.TempDir()
	vol := []Mount{{Source: src, Destination: "/data"}}
	variants := []struct {
		name string
		spec TaskSpec
	}{
		{"none", TaskSpec{Kind: KindExec}},
		{"shared-view", TaskSpec{Kind: KindExec, Mounts: []Mount{{Source: src, Destination: "/local/vol"}}}},
		{"alloc", TaskSpec{Kind: KindExec, Mounts: []Mount{{Source: src, Destination: "/alloc"}}}},
		{"own-view", TaskSpec{Kind: KindExec, Mounts: vol}},
		{"container", TaskSpec{Kind: KindContainer, Image: img.registry}},
		{"container-mount", TaskSpec{Kind: KindContainer, Image: img.registry, Mounts: vol}},
		{"container-ro", TaskSpec{Kind: KindContainer, Image: img.registry, ReadOnlyRoot: true}},
		{"container-ro-mount", TaskSpec{Kind: KindContainer, Image: img.registry, ReadOnlyRoot: true, Mounts: vol}},
	}
	total := make([]time.Duration, len(variants))
	n := 0
	for ; b.Loop(); n++ {
		for i, v := range variants {
			spec := v.spec
			spec.ID, spec.Command, spec.User = fmt.Sprintf("bm-%s-%d", v.name, n), "/bin/true", "root"
			start := time.Now()
			task, err := d.Start(ctxT(b, time.Minute), spec)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := task.Wait(ctxT(b, time.Minute)); err != nil {
				b.Fatal(err)
			}
			total[i] += time.Since(start)
			b.StopTimer()
			if err := task.Destroy(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	for i, v := range variants {
		b.ReportMetric(ms(total[i])/float64(n), v.name+"-ms")
	}
	b.ReportMetric(float64(total[2])/float64(total[0]), "alloc/none")
	b.ReportMetric(float64(total[3])/float64(total[0]), "own-view/none")
	b.ReportMetric(float64(total[5])/float64(total[4]), "container-mount/container")
	b.ReportMetric(float64(total[7])/float64(total[6]), "ro-mount/ro")
}

package exec

import (
	"errors"
	"fmt"
	"github.com/moby/sys/mountinfo"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExecKind(t *testing.T) {
	d := newDriver(t)
	script := `id -un; echo hi > /tmp/x && cat /tmp/x; touch /usr/shoal-x 2>/dev/null || echo usr-ro; ls /tmp; echo $FOO; ls ` + d.cfg.DataDir + ` | wc -l`
	res, out, errOut := run(t, d, TaskSpec{ID: "exec-1", Kind: KindExec, Command: "/bin/sh", Args: []string{"-c", script}, Env: map[string]string{"FOO": "bar"}})
	// Runs as nobody by default, a private /tmp, the host's /usr read-only, and the
	// driver's data dir (other tasks' files) hidden.
	want := "nobody\nhi\nusr-ro\nx\nbar\n0\n"
	if res.ExitCode != 0 || out != want {
		t.Errorf("result %v stdout %q stderr %q, want %q", res, out, errOut, want)
	}
}

// probes are what the hardening test tries inside a container; each must fail.
var probes = map[string]func() error{
	// Masked: it reads as empty (a bind of /dev/null), even for root.
	"read /etc/shadow": func() error {
		b, err := os.ReadFile("/etc/shadow")
		if err == nil && len(b) == 0 {
			return errors.New("empty")
		}
		return err
	},
	"write /proc/sysrq-trigger": func() error {
		return os.WriteFile("/proc/sysrq-trigger", []byte("h"), 0)
	},
	"mount tmpfs": func() error { return unix.Mount("tmpfs", "/mnt", "tmpfs", 0, "") },
	"init_module": func() error { return unix.InitModule([]byte("not a module"), "") },
	"raw socket": func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		unix.Close(fd)
		return err
	},
	"write /usr": func() error { return os.WriteFile("/usr/shoal-probe", nil, 0o644) },
}

// runProbes is the "probe" role: it prints one line per probe.
func runProbes() int {
	for name, probe := range probes {
		if err := probe(); err != nil {
			fmt.Printf("%s: denied: %v\n", name, err)
		} else {
			fmt.Printf("%s: ALLOWED\n", name)
		}
	}
	return 0
}

func TestHardening(t *testing.T) {
	d := newDriver(t)
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Skip("the host has no /etc/shadow")
	}
	// The exec kind runs this test binary (from a directory outside /tmp, which
	// the task gets privately) as root in the container, its hardest case.
	dir, err := os.MkdirTemp("/var/tmp", "shoal-probe-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	res, out, errOut := run(t, d, TaskSpec{ID: "probe", Kind: KindExec, Command: bin, User: "root", Env: map[string]string{roleEnv: "probe"}})
	if res.ExitCode != 0 {
		t.Fatalf("probe: %v, stderr %q", res, errOut)
	}
	for name := range probes {
		if !strings.Contains(out, name+": denied") {
			t.Errorf("exec kind as root: %s was not denied; probe output:\n%s", name, out)
		}
	}

	// The container kind, with busybox's own tools.
	img := busyboxImage(t)
	script := `
(echo c > /proc/sysrq-trigger) 2>/dev/null && echo "sysrq ALLOWED"
mkdir -p /mnt; mount -t tmpfs none /mnt 2>/dev/null && echo "mount ALLOWED"
echo junk > /tmp/m.ko; insmod /tmp/m.ko 2>/dev/null && echo "insmod ALLOWED"
ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1 && echo "ping (raw socket) ALLOWED"
cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null && echo "host cgroupfs visible"
echo probed`
	res, out, errOut = run(t, d, shTask(img, "harden", script))
	if out != "probed\n" {
		t.Errorf("container kind: stdout %q (stderr %q), want only \"probed\"", out, errOut)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestNothingLeftBehind runs a container and an exec task to the end and checks
// that no mount, cgroup, state or task file survives Destroy.
func TestNothingLeftBehind(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	if _, err := d.PrepareImage(ctxT(t, time.Minute), img.registry); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []TaskSpec{
		shTask(img, "leave-c", "echo x > /local/y; sleep 60"),
		{ID: "leave-e", Kind: KindExec, Command: "/bin/sleep", Args: []string{"60"}},
	} {
		task, err := d.Start(ctxT(t, time.Minute), spec)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(cgroupDirs(spec.ID)); n == 0 {
			t.Errorf("%s: no cgroup found while running", spec.ID)
		}
		if err := task.Destroy(); err != nil { // kills the running task
			t.Fatal(err)
		}
		if res, _ := task.Wait(ctxT(t, time.Second)); res.Signal != int(syscall.SIGKILL) {
			t.Errorf("%s: result %v after Destroy, want killed", spec.ID, res)
		}
		if dirs := cgroupDirs(filepath.Join(d.cfg.CgroupParent, spec.ID)); len(dirs) != 0 {
			t.Errorf("%s: cgroups left: %v", spec.ID, dirs)
		}
	}
	// No mount is left under the data dir. (Checked with mountinfo.Mounted, which
	// asks the kernel about one path: a read of /proc/self/mountinfo can skip lines
	// while other tests on the host mount.) The exec kind's host-wide read-only view
	// of the host root stays at HostRootDir, outside the data dir, by design.
	if err := filepath.WalkDir(d.cfg.DataDir, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.IsDir() && p != d.cfg.DataDir {
			if mounted, _ := mountinfo.Mounted(p); mounted {
				t.Errorf("%s still mounted after Destroy", p)
			}
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	if mounted, _ := mountinfo.Mounted(HostRootDir); !mounted {
		t.Errorf("%s not mounted after an exec task", HostRootDir)
	}
	if entries, _ := os.ReadDir(d.cfg.DataDir); len(entries) != 3 { // images, state, tasks
		t.Errorf("data dir holds %v after Destroy, want images, state and tasks", entries)
	}
	for _, dir := range []string{filepath.Join(d.cfg.DataDir, "tasks"), d.cfg.stateDir()} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %v after Destroy", dir, entries)
		}
	}
	if _, err := d.Logs("leave-c", Stdout, false); err == nil {
		t.Error("Logs of a destroyed task: want an error")
	}
}

package exec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRunContainer(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	if _, err := d.PrepareImage(ctxT(t, time.Minute), img.registry); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		spec       TaskSpec
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "output and exit code", spec: shTask(img, "", "echo out; echo err >&2; exit 3"), wantCode: 3, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "env from task and image", spec: func() TaskSpec {
			s := shTask(img, "", `echo "$FOO $IMAGE_VAR $PATH"`)
			s.Env = map[string]string{"FOO": "bar baz"}
			return s
		}(), wantStdout: "bar baz from-image /bin\n"},
		{name: "args kept apart", spec: TaskSpec{Kind: KindContainer, Image: img.registry, Command: "/bin/printf", Args: []string{"[%s]", "a b", "c"}}, wantStdout: "[a b][c]"},
		{name: "entrypoint replaced", spec: TaskSpec{Kind: KindContainer, Image: img.registry, Entrypoint: []string{"/bin/echo", "ep"}, Args: []string{"x"}}, wantStdout: "ep x\n"},
		{name: "image default cmd", spec: TaskSpec{Kind: KindContainer, Image: img.registry}, wantStdout: "default cmd\n"},
		{name: "work dir", spec: func() TaskSpec { s := shTask(img, "", "pwd"); s.WorkDir = "/opaque"; return s }(), wantStdout: "/opaque\n"},
		{name: "user by name", spec: func() TaskSpec { s := shTask(img, "", "id -u; id -g"); s.User = "app"; return s }(), wantStdout: "1000\n1000\n"},
		{name: "user by uid:gid", spec: func() TaskSpec { s := shTask(img, "", "id -u; id -g"); s.User = "4242:4343"; return s }(), wantStdout: "4242\n4343\n"},
		{name: "whiteout and opaque dir", spec: shTask(img, "", "ls /etc/deleteme 2>/dev/null || echo gone; ls /opaque; cat /etc/motd"), wantStdout: "gone\nnew\nhello from layer two\n"},
		{name: "hostname is the task id", spec: shTask(img, "hostname-check", "hostname"), wantStdout: "hostname-check\n"},
		{name: "task dirs writable", spec: shTask(img, "", "echo x > /local/f && cat /local/f && echo y > /tmp/f && cat /tmp/f && ls -d /secrets"), wantStdout: "x\ny\n/secrets\n"},
		{name: "only loopback", spec: shTask(img, "", "ls /sys/class/net"), wantStdout: "lo\n"},
		// Counted from /proc/net/dev, one read: listing /sys/class/net stats each
		// entry, and other tests' veths come and go on the host meanwhile.
		{name: "host network", spec: func() TaskSpec {
			s := shTask(img, "", "[ $(grep -c : /proc/net/dev) -gt 1 ] && echo host-interfaces; cat /etc/resolv.conf >/dev/null && echo resolv")
			s.HostNetwork = true
			return s
		}(), wantStdout: "host-interfaces\nresolv\n"},
		{name: "read-only root", spec: func() TaskSpec {
			s := shTask(img, "", "touch /x 2>/dev/null || echo ro; echo w > /local/w && echo local-ok")
			s.ReadOnlyRoot = true
			return s
		}(), wantStdout: "ro\nlocal-ok\n"},
		{name: "no_new_privs, seccomp, capabilities", spec: shTask(img, "", "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status"),
			// Docker's default set (a80425fb) without CAP_NET_RAW (0x2000).
			wantStdout: fmt.Sprintf("CapEff:\t00000000a80405fb\nNoNewPrivs:\t1\nSeccomp:\t%d\n", map[bool]int{true: 2, false: 0}[SeccompAvailable])},
		{name: "writable overlay root", spec: shTask(img, "", "echo new > /etc/motd && cat /etc/motd"), wantStdout: "new\n"},
		{name: "dns and hostname", spec: func() TaskSpec {
			s := shTask(img, "", "cat /etc/resolv.conf; hostname")
			s.Hostname, s.DNS = "web-3", &DNS{Servers: []string{"10.0.0.53", "fd00::53"}, Searches: []string{"a.example", "b.example"}, Options: []string{"ndots:2"}}
			return s
		}(), wantStdout: "nameserver 10.0.0.53\nnameserver fd00::53\nsearch a.example b.example\noptions ndots:2\nweb-3\n"},
		// The image has no /etc/resolv.conf and its root is read-only: the file
		// is bound on an overlay, never made in the shared image.
		{name: "dns, read-only root", spec: func() TaskSpec {
			s := shTask(img, "", "cat /etc/resolv.conf; touch /x 2>/dev/null || echo ro")
			s.ReadOnlyRoot, s.DNS = true, &DNS{Servers: []string{"10.0.0.53"}}
			return s
		}(), wantStdout: "nameserver 10.0.0.53\nro\n"},
		{name: "dns, exec kind", spec: TaskSpec{Kind: KindExec, Command: "/bin/sh", Args: []string{"-c", "cat /etc/resolv.conf"}, DNS: &DNS{Options: []string{"edns0"}}}, wantStdout: "options edns0\n"},
		{name: "cap_drop all, cap_add chown", spec: func() TaskSpec {
			s := shTask(img, "", "grep CapEff /proc/self/status")
			s.CapDrop, s.CapAdd = []string{"all"}, []string{"chown"}
			return s
		}(), wantStdout: "CapEff:\t0000000000000001\n"}, // CAP_CHOWN is bit 0
		{name: "cap_drop one", spec: func() TaskSpec {
			s := shTask(img, "", "grep CapEff /proc/self/status")
			s.CapDrop = []string{"CAP_NET_BIND_SERVICE"} // bit 10 of the default a80405fb
			return s
		}(), wantStdout: "CapEff:\t00000000a80401fb\n"},
		// Read-only root: the file is bound on an overlay, as resolv.conf.
		{name: "extra hosts", spec: func() TaskSpec {
			s := shTask(img, "", "cat /etc/hosts; touch /x 2>/dev/null || echo ro")
			s.ReadOnlyRoot, s.ExtraHosts = true, []string{"db.internal:10.0.0.5", "db6:fd00::5"}
			return s
		}(), wantStdout: "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tdb.internal\nfd00::5\tdb6\nro\n"},
		{name: "extra hosts, host network", spec: func() TaskSpec {
			s := shTask(img, "", "cat /etc/hosts")
			s.HostNetwork, s.ExtraHosts = true, []string{"db:10.0.0.5"}
			return s
		}(), wantStdout: string(hostHosts(t)) + "10.0.0.5\tdb\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.spec
			if spec.ID == "" {
				spec.ID = fmt.Sprintf("run-%d", i)
			}
			res, out, errOut := run(t, d, spec)
			if res.ExitCode != tt.wantCode || res.Signal != 0 || res.OOMKilled || res.Unknown {
				t.Errorf("result %+v, want exit code %d (stderr %q)", res, tt.wantCode, errOut)
			}
			if out != tt.wantStdout || errOut != tt.wantStderr {
				t.Errorf("stdout %q stderr %q, want %q and %q", out, errOut, tt.wantStdout, tt.wantStderr)
			}
		})
	}
	// The writable-root case did not change the shared image.
	t.Run("image untouched", func(t *testing.T) {
		info, _ := d.image(ctxT(t, time.Minute), img.registry)
		b, err := os.ReadFile(info.RootFS + "/etc/motd")
		if err != nil || string(b) != "hello from layer two\n" {
			t.Errorf("image's /etc/motd = %q, %v; want the image's content", b, err)
		}
	})
}

func TestOOMKilled(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "oom", "dd if=/dev/zero of=/dev/null bs=256M count=1; echo survived $?")
	spec.MemoryMB = 64
	res, out, _ := run(t, d, spec)
	if !res.OOMKilled {
		t.Fatalf("result %+v stdout %q: want OOMKilled", res, out)
	}
}

func TestMemoryReservationAndLimit(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "mem", "sleep 60")
	spec.MemoryMB, spec.MemoryMaxMB, spec.CPUMHz, spec.PidsLimit = 64, 128, 500, 50
	task, err := d.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Destroy()
	st, err := task.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryLimit != 128<<20 || st.PidsLimit != 50 || st.Pids < 1 || st.MemoryBytes == 0 {
		t.Errorf("stats %+v: want memory limit 128 MiB, pids limit 50, pids >= 1, memory > 0", st)
	}
	if p, ok := task.cgroupPaths["memory"]; ok { // cgroup v1
		want := map[string]string{"memory.soft_limit_in_bytes": fmt.Sprint(64 << 20)}
		if d.swapLimit {
			want["memory.memsw.limit_in_bytes"] = fmt.Sprint(128 << 20)
		}
		for file, want := range want {
			if b, _ := os.ReadFile(p + "/" + file); strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, want %s", file, b, want)
			}
		}
		if b, _ := os.ReadFile(task.cgroupPaths["cpu"] + "/cpu.shares"); strings.TrimSpace(string(b)) != "512" {
			t.Errorf("cpu.shares = %q, want 512 for 500 MHz", b)
		}
	}
}

func TestPidsLimit(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := shTask(img, "pids", "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo all forked")
	spec.PidsLimit = 8
	res, out, errOut := run(t, d, spec)
	if res.ExitCode == 0 || out != "" || !strings.Contains(errOut, "can't fork") {
		t.Errorf("result %+v stdout %q stderr %q: want the shell to fail to fork", res, out, errOut)
	}
}

func TestStop(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	tests := []struct {
		name       string
		script     string
		killSignal string
		timeout    time.Duration
		want       ExitResult
	}{
		// A generous timeout: Stop returns as soon as the task exits.
		{name: "graceful on kill signal", script: `trap "echo bye; exit 0" INT; echo ready; while true; do sleep 0.1; done`, killSignal: "SIGINT", timeout: time.Minute, want: ExitResult{ExitCode: 0}},
		{name: "escalates to SIGKILL", script: `trap "" TERM; echo ready; while true; do sleep 0.1; done`, timeout: 300 * time.Millisecond, want: ExitResult{ExitCode: 137, Signal: 9}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := shTask(img, fmt.Sprintf("stop-%d", i), tt.script)
			spec.KillSignal, spec.KillTimeout = tt.killSignal, tt.timeout
			task, err := d.Start(ctxT(t, time.Minute), spec)
			if err != nil {
				t.Fatal(err)
			}
			defer task.Destroy()
			waitForLog(t, d, spec.ID, Stdout, "ready")
			if err := task.Stop(ctxT(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			res, _ := task.Wait(ctxT(t, time.Second))
			if res != tt.want {
				t.Errorf("result %+v, want %+v", res, tt.want)
			}
			if err := task.Signal(unix.SIGTERM); err == nil {
				t.Error("Signal after exit: want an error")
			}
		})
	}
}

// waitForLog follows a task's log until a line equal to want appears.
func waitForLog(t testing.TB, d *Driver, id, stream, want string) {
	t.Helper()
	r, err := d.Logs(id, stream, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if sc.Text() == want {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("task %s exited without printing %q", id, want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("task %s did not print %q", id, want)
	}
}

func TestLogsRotationAndFollow(t *testing.T) {
	requireRoot(t)
	img := busyboxImage(t)
	d := newDriver(t)
	d.cfg.LogMaxBytes, d.cfg.LogMaxFiles = 1024, 3
	// 200 lines of 20 bytes: 4000 bytes, rotated at 1 KiB, 3 files kept.
	spec := shTask(img, "logs", `i=1; while [ $i -le 200 ]; do printf "line %014d\n" $i; i=$((i+1)); done`)
	task, err := d.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Destroy()
	follow, err := d.Logs("logs", Stdout, true)
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()
	followed, err := io.ReadAll(follow) // returns once the task exited and all is read
	if err != nil {
		t.Fatal(err)
	}
	res, _ := task.Wait(ctxT(t, time.Minute))
	if res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	checkLines := func(what, got string, first int) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		for i, l := range lines {
			if want := fmt.Sprintf("line %014d", first+i); l != want {
				t.Fatalf("%s: line %d = %q, want %q", what, i, l, want)
			}
		}
		if last := lines[len(lines)-1]; last != "line 00000000000200" {
			t.Fatalf("%s ends with %q, want line 200", what, last)
		}
	}
	// The follower started with the first file, so it saw a contiguous tail
	// ending at the last line even though files rotated under it.
	var first int
	fmt.Sscanf(string(followed), "line %d", &first)
	checkLines("followed", string(followed), first)
	after := readLog(t, d, "logs", Stdout)
	if len(after) > 3*1024 || len(after) < 2*1024 {
		t.Errorf("kept %d bytes, want between 2 and 3 KiB (3 files of at most 1 KiB)", len(after))
	}
	fmt.Sscanf(after, "line %d", &first)
	checkLines("after exit", after, first)
	for _, name := range []string{"stdout", "stdout.1", "stdout.2"} {
		if _, err := os.Stat(task.Dir() + "/logs/" + name); err != nil {
			t.Errorf("log file %s: %v", name, err)
		}
	}
	if _, err := os.Stat(task.Dir() + "/logs/stdout.3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stdout.3 exists: want at most 3 files")
	}
}

// hostHosts is the host's /etc/hosts.
func hostHosts(t *testing.T) []byte {
	b, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

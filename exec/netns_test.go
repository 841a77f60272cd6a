package exec

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A task given a network namespace by path runs in it (the peer's bridge mode: every
// task of an allocation joins the allocation's namespace), and a bad path is refused.
func TestJoinNetNS(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	if _, err := d.PrepareImage(ctxT(t, time.Minute), img.registry); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("shoal-exec-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "add", "marker0", "type", "veth", "peer", "name", "marker1").CombinedOutput(); err != nil {
		t.Fatalf("adding a veth pair to %s: %v: %s", name, err, out)
	}
	s := shTask(img, "netns-join", "ls /sys/class/net")
	s.NetNS = "/run/netns/" + name
	res, out, errOut := run(t, d, s)
	if res.ExitCode != 0 || out != "lo\nmarker0\nmarker1\n" {
		t.Errorf("ls /sys/class/net in netns %s: exit %d, stdout %q (stderr %q); want lo, marker0 and marker1", name, res.ExitCode, out, errOut)
	}

	// Its /etc/hosts is its own: the host's would name the host, not the allocation.
	s = shTask(img, "netns-hosts", "cat /etc/hosts")
	s.NetNS, s.AllocIP, s.Hostname, s.ExtraHosts = "/run/netns/"+name, "10.99.0.7", "web-1", []string{"db:10.99.0.8"}
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.99.0.7\tweb-1\n10.99.0.8\tdb\n"
	if res, out, errOut := run(t, d, s); res.ExitCode != 0 || out != want {
		t.Errorf("/etc/hosts in netns %s: exit %d, %q (stderr %q); want %q", name, res.ExitCode, out, errOut, want)
	}

	s = shTask(img, "netns-bad", "true")
	s.NetNS, s.HostNetwork = "/run/netns/"+name, true
	_, err := d.Start(ctxT(t, time.Minute), s)
	if want := `netns "/run/netns/` + name + `": must be an absolute path, and not set with host networking`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NetNS with HostNetwork: got %v, want an error containing %q", err, want)
	}
}

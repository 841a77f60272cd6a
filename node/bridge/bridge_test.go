package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNetwork is a network of its own (name, subnet) so that this test never meets
// the peers of other packages' tests on the shared "shoal" bridge.
func testNetwork(t *testing.T) (*Network, Config) {
	return privateNetwork(t, "shoalt", "172.26.96.0/24")
}

// privateNetwork is a network named prefix<pid> on subnet, with its dirs in a temp
// dir; its bridge and address leases go at cleanup. It skips without root or the
// CNI plugins.
func privateNetwork(tb testing.TB, prefix, subnet string) (*Network, Config) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (network namespaces, iptables)")
	}
	c := DefaultConfig()
	if err := CheckPlugins(c.PluginDir); err != nil {
		tb.Skip(err)
	}
	c.Name = fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	c.Subnet = subnet
	dir := tb.TempDir()
	c.NetNSDir, c.CacheDir = filepath.Join(dir, "netns"), filepath.Join(dir, "cni")
	tb.Cleanup(func() {
		exec.Command("ip", "link", "del", c.Name).Run() // the bridge outlives its allocations
		os.RemoveAll(filepath.Join("/var/lib/cni/networks", c.Name))
	})
	n, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return n, c
}

// serveIn serves body over HTTP on port inside the network namespace at nsPath.
func serveIn(t *testing.T, nsPath string, port int, body string) {
	t.Helper()
	lc := make(chan net.Listener, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the namespace
		f, err := os.Open(nsPath)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		l, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			errc <- err
			return
		}
		lc <- l
	}()
	select {
	case err := <-errc:
		t.Fatalf("listening in %s: %v", nsPath, err)
	case l := <-lc:
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Two allocations, both listening on 8080 in their own namespaces, answer on their
// own host ports, have their own addresses, and leave nothing behind.
func TestSetupMapsPortsAndTeardownCleansUp(t *testing.T) {
	n, c := testNetwork(t)
	ctx := context.Background()
	_, subnet, _ := net.ParseCIDR(c.Subnet)
	hostIP := "127.66.0.1" // a loopback address like the node tests' peers have
	ids := []string{c.Name + "-a", c.Name + "-b"}
	atts := map[string]Attachment{}
	for _, id := range ids {
		t.Cleanup(func() { n.Teardown(ctx, id) })
		port := freePort(t)
		a, err := n.Setup(ctx, id, []PortMapping{{HostPort: port, ContainerPort: 8080, HostIP: hostIP}})
		if err != nil {
			t.Fatal(err)
		}
		if ip := net.ParseIP(a.IP); ip == nil || !subnet.Contains(ip) {
			t.Errorf("%s got address %q, want one in %s", id, a.IP, c.Subnet)
		}
		for _, other := range atts {
			if other.IP == a.IP {
				t.Errorf("two allocations got address %s", a.IP)
			}
		}
		atts[id] = a
		serveIn(t, a.NetNS, 8080, "hello from "+id)
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/", hostIP, port))
		if err != nil {
			t.Fatalf("GET through the mapped port %d: %v", port, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello from "+id {
			t.Errorf("GET %s:%d = %q, want %q", hostIP, port, b, "hello from "+id)
		}
	}
	for _, id := range ids {
		if len(iptablesMentioning(t, id)) == 0 || len(iptablesMentioning(t, atts[id].IP+"/32")) == 0 {
			t.Errorf("no iptables rule names %s or its address while it is attached: the check after teardown proves nothing", id)
		}
		if err := n.Teardown(ctx, id); err != nil {
			t.Errorf("teardown %s: %v", id, err)
		}
		a := atts[id]
		if _, err := os.Stat(a.NetNS); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns file %s still there after teardown (%v)", a.NetNS, err)
		}
		if _, err := net.InterfaceByName(a.HostIface); err == nil {
			t.Errorf("veth %s still there after teardown", a.HostIface)
		}
		if _, err := os.Stat(filepath.Join("/var/lib/cni/networks", c.Name, a.IP)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("address lease %s still there after teardown (%v)", a.IP, err)
		}
		if rules := append(iptablesMentioning(t, id), iptablesMentioning(t, a.IP+"/32")...); len(rules) > 0 {
			t.Errorf("iptables still mention %s or %s after teardown:\n%s", id, a.IP, strings.Join(rules, "\n"))
		}
	}
	if err := n.Teardown(ctx, ids[0]); err != nil {
		t.Errorf("a second teardown must succeed, got %v", err)
	}
}

// After a reboot the namespace's file is a plain empty file (its bind mount and the
// namespace are gone, the veth with it) while host-local's lease, on disk, is still
// there: teardown releases the lease, portmap's rules and the file. (The reboot also
// cleared iptables; this one did not, and the bridge plugin of containernetworking
// -plugins 1.1 removes its masquerade rules only from inside the namespace, so the
// test removes those itself.)
func TestTeardownAfterReboot(t *testing.T) {
	n, c := testNetwork(t)
	ctx := context.Background()
	id := c.Name + "-reboot"
	t.Cleanup(func() { n.Teardown(ctx, id); deleteNATRules(t, id) })
	a, err := n.Setup(ctx, id, []PortMapping{{HostPort: freePort(t), ContainerPort: 8080, HostIP: "127.66.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(a.NetNS, unix.MNT_DETACH); err != nil { // the reboot
		t.Fatal(err)
	}
	if err := n.Teardown(ctx, id); err != nil {
		t.Errorf("teardown after a reboot: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/var/lib/cni/networks", c.Name, a.IP)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address lease %s still there after teardown (%v)", a.IP, err)
	}
	if _, err := os.Stat(a.NetNS); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns file %s still there after teardown (%v)", a.NetNS, err)
	}
	if rules := append(iptablesMentioning(t, "dnat name: \\\""+c.Name), iptablesMentioning(t, "-d "+a.IP+"/32")...); len(rules) > 0 {
		t.Errorf("port mapping or firewall rules of %s left after teardown:\n%s", id, strings.Join(rules, "\n"))
	}
}

// deleteNATRules removes the nat-table rules commented with id and the chains they
// jump to.
func deleteNATRules(t *testing.T, id string) {
	out, err := exec.Command("iptables-save", "-t", "nat").Output()
	if err != nil {
		return
	}
	var chains []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "-A POSTROUTING ") || !strings.Contains(l, id) {
			continue
		}
		f := strings.Fields(l)
		chains = append(chains, f[len(f)-1])
		// iptables-save quotes for a shell: hand the rule back through one.
		del := "iptables -t nat -D" + strings.TrimPrefix(l, "-A")
		if out, err := exec.Command("sh", "-c", del).CombinedOutput(); err != nil {
			t.Logf("cleanup: %s: %v %s", del, err, out)
		}
	}
	for _, ch := range chains {
		exec.Command("iptables", "-t", "nat", "-F", ch).Run()
		exec.Command("iptables", "-t", "nat", "-X", ch).Run()
	}
}

// iptablesMentioning lists the iptables rules (IPv4 and IPv6) that hold s: CNI
// comments its NAT rules with the container id, the firewall plugin's name its
// address.
func iptablesMentioning(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		b, err := exec.Command(cmd).Output()
		if err != nil {
			t.Logf("%s: %v", cmd, err)
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, s) {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestMissingPlugins(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"loopback", "bridge", "host-local"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"no dir", filepath.Join(dir, "nope"), `cni_path "` + filepath.Join(dir, "nope") + `" is not a directory`},
		{"two missing", dir, `cni_path "` + dir + `" lacks the plugins firewall, portmap`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.PluginDir, c.NetNSDir, c.CacheDir = tc.dir, "/x", "/y"
			_, err := New(c)
			if !errors.Is(err, ErrPluginsMissing) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New with cni_path %s: got %v, want ErrPluginsMissing saying %q", tc.dir, err, tc.want)
			}
		})
	}
}

// A port mapping's host IP that is not an IP is refused, naming it, before anything
// is made; it is not taken to mean every address.
func TestSetupRefusesBadHostIP(t *testing.T) {
	c := DefaultConfig()
	dir := t.TempDir()
	c.PluginDir, c.NetNSDir, c.CacheDir = dir, filepath.Join(dir, "netns"), filepath.Join(dir, "cni")
	for _, p := range Plugins {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Setup(context.Background(), "a1", []PortMapping{{HostPort: 23456, ContainerPort: 8080, HostIP: "peer-1.local"}})
	want := `attaching a1: port mapping 23456 -> 8080: host IP "peer-1.local" is not an IP address`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an error containing %q", err, want)
	}
	if _, err := os.Stat(n.NetNSPath("a1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns file %s made for a refused setup (%v)", n.NetNSPath("a1"), err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"relative plugin dir", func(c *Config) { c.PluginDir = "cni" }, `cni_path "cni": must be an absolute path`},
		{"long name", func(c *Config) { c.Name = "a-very-long-bridge" }, `bridge_network_name "a-very-long-bridge"`},
		{"bad subnet", func(c *Config) { c.Subnet = "172.26.64.0" }, `bridge_network_subnet "172.26.64.0": must be an IPv4 CIDR`},
		{"tiny subnet", func(c *Config) { c.Subnet = "10.0.0.0/31" }, `/31 leaves no room`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.NetNSDir, c.CacheDir = "/x", "/y"
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkSetupTeardown is what bridge mode adds to an allocation's start and
// stop: a namespace, CNI ADD (five plugins) with one port mapped, CNI DEL, and the
// namespace's removal.
func BenchmarkSetupTeardown(b *testing.B) {
	n, c := privateNetwork(b, "shoalb", "172.26.97.0/24")
	ctx := context.Background()
	var setup, teardown time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("%s-%d", c.Name, i)
		start := time.Now()
		if _, err := n.Setup(ctx, id, []PortMapping{{HostPort: 40000 + i%1000, ContainerPort: 8080, HostIP: "127.66.0.1"}}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := n.Teardown(ctx, id); err != nil {
			b.Fatal(err)
		}
		setup, teardown = setup+mid.Sub(start), teardown+time.Since(mid)
	}
	b.ReportMetric(setup.Seconds()*1000/float64(b.N), "setup-ms/op")
	b.ReportMetric(teardown.Seconds()*1000/float64(b.N), "teardown-ms/op")
}

// BenchmarkSetupTen: ten allocations' networks set up one after another and ten
// set up at once, alternated in one run so that the machine's load hits both
// alike. The ratio says whether CNI ADDs (each a dozen plugin and iptables
// processes) overlap on the host's cores. Teardowns are not timed.
func BenchmarkSetupTen(b *testing.B) {
	n, c := privateNetwork(b, "shoalp", "172.26.98.0/24")
	ctx := context.Background()
	var serial, concurrent time.Duration
	round := 0
	setup := func(id string, port int) error {
		_, err := n.Setup(ctx, id, []PortMapping{{HostPort: port, ContainerPort: 8080, HostIP: "127.66.0.1"}})
		return err
	}
	for b.Loop() {
		for _, atOnce := range []bool{false, true} {
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s-%d-%d", c.Name, round, i)
			}
			round++
			errs := make([]error, len(ids))
			start := time.Now()
			if atOnce {
				var wg sync.WaitGroup
				for i, id := range ids {
					wg.Go(func() { errs[i] = setup(id, 41000+i) })
				}
				wg.Wait()
				concurrent += time.Since(start)
			} else {
				for i, id := range ids {
					errs[i] = setup(id, 41000+i)
				}
				serial += time.Since(start)
			}
			for _, id := range ids {
				errs = append(errs, n.Teardown(ctx, id))
			}
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(serial.Seconds()/float64(b.N), "serial-s/op")
	b.ReportMetric(concurrent.Seconds()/float64(b.N), "concurrent-s/op")
	b.ReportMetric(serial.Seconds()/concurrent.Seconds(), "serial/concurrent")
}

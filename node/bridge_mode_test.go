package node_test

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/node/bridge"
)

// TestBridgeMode: the bridge-mode example (two busybox httpd, both on port 8080
// inside their own namespace) runs on one peer; each allocation answers on its
// host port, has its own address on the bridge, and passes its service check
// through the mapped port. A host that died with its tasks tears down the network
// of the allocations it lost when it comes back; a SIGKILLed and restarted peer
// keeps the network of the allocations it reattaches; `job stop -purge` leaves no
// namespace file, veth, address lease or iptables rule.
func TestBridgeMode(t *testing.T) {
	want := requireBusyboxHTTPD(t)
	requireCNIPlugins(t)
	job, err := os.ReadFile("../examples/web-bridge.hcl")
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the cluster, so it runs after the peers' shutdown: whatever
	// a failed test left attached goes (teardown is idempotent).
	var allocIDs []string
	t.Cleanup(func() { detachAll(t, allocIDs) })

	c := newCluster(t, 1)
	p := c.peers[0]
	submit(t, p.client, string(job))
	running := c.waitRunning(p.client, "web-bridge", 2)
	allocs := inspectBridged(t, c, p, running, want)
	for id := range allocs {
		allocIDs = append(allocIDs, id)
	}
	waitChecksPassing(t, c, p.client, running)

	// The host dies with its tasks (the peer's children) and comes back: the
	// allocations are lost, their network goes, and their replacements get
	// networks of their own.
	for id, s := range allocs {
		requireAttached(t, id, s)
	}
	c.kill(0, true)
	c.add(0)
	for id, s := range allocs {
		waitDetached(t, c, p, id, s)
	}
	replaced := c.waitRunning(p.client, "web-bridge", 2)
	for _, a := range replaced {
		if _, old := allocs[a.ID]; old {
			t.Fatalf("allocation %s runs again after its host died; want a replacement", a.ID)
		}
		allocIDs = append(allocIDs, a.ID)
	}
	allocs = inspectBridged(t, c, p, replaced, want)

	// SIGKILL the peer (its tasks live on) and start it again: the allocations
	// are reattached with their network as it was.
	c.kill(0, false)
	c.add(0)
	again := c.waitRunning(p.client, "web-bridge", 2)
	for _, a := range again {
		s, ok := allocs[a.ID]
		if !ok {
			t.Fatalf("after the restart allocation %s runs, want the same two as before (%v)", a.ID, allocIDs)
		}
		full, err := p.client.Alloc(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.AllocIP != s.allocIP {
			t.Errorf("after the restart allocation %s has address %q, want %q", a.ID, full.AllocIP, s.allocIP)
		}
		getCopyright(t, c, s.hostAddr, want)
	}

	for id, s := range allocs {
		requireAttached(t, id, s)
	}
	if err := p.client.StopJob(context.Background(), "web-bridge", true); err != nil {
		t.Fatal(err)
	}
	for id, s := range allocs {
		waitDetached(t, c, p, id, s)
	}
}

// requireCNIPlugins skips unless the default cni_path holds every plugin that
// bridge mode runs; the skip names the missing ones.
func requireCNIPlugins(tb testing.TB) {
	tb.Helper()
	if err := bridge.CheckPlugins(bridge.DefaultConfig().PluginDir); err != nil {
		tb.Skip(err)
	}
}

// bridged is what a test saw of a running bridge-mode allocation.
type bridged struct {
	allocIP, hostAddr string
	veth              int // ifindex of the host end of its veth pair
}

// inspectBridged checks each running allocation of the web-bridge example: bridge
// mode, http mapped to 8080, an address of its own in the default subnet, and the
// page served at its host address.
func inspectBridged(t *testing.T, c *cluster, p *proc, running []api.Alloc, want []byte) map[string]bridged {
	t.Helper()
	_, subnet, _ := net.ParseCIDR(node.DefaultConfig().BridgeNetworkSubnet)
	allocs := map[string]bridged{}
	for _, a := range running {
		full, err := p.client.Alloc(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.NetworkMode != "bridge" || len(full.Ports) != 1 || full.Ports[0].To != 8080 {
			t.Fatalf("allocation %s: network mode %q, ports %+v; want bridge and one port http to 8080", a.ID, full.NetworkMode, full.Ports)
		}
		ip := net.ParseIP(full.AllocIP)
		if ip == nil || !subnet.Contains(ip) {
			t.Errorf("allocation %s has address %q, want one in %s", a.ID, full.AllocIP, subnet)
		}
		for id, s := range allocs {
			if s.allocIP == full.AllocIP {
				t.Errorf("allocations %s and %s both have address %s", id, a.ID, full.AllocIP)
			}
		}
		addr := net.JoinHostPort(full.Ports[0].HostIP, strconv.Itoa(full.Ports[0].Value))
		getCopyright(t, c, addr, want)
		allocs[a.ID] = bridged{full.AllocIP, addr, hostVeth(t, netnsPath(p, a.ID))}
	}
	return allocs
}

// requireAttached checks that what a teardown must remove is there: iptables rules
// naming the allocation and its address, its address lease.
func requireAttached(t *testing.T, id string, s bridged) {
	t.Helper()
	if len(iptablesWith(t, id)) == 0 || len(iptablesWith(t, s.allocIP+"/32")) == 0 {
		t.Errorf("no iptables rule names allocation %s or its address %s while it runs", id, s.allocIP)
	}
	if _, err := os.Stat(leasePath(s.allocIP)); err != nil {
		t.Errorf("no address lease for %s while it runs: %v", id, err)
	}
}

// waitDetached waits until nothing of an allocation's network is left: namespace
// file, veth, address lease, iptables rules.
func waitDetached(t *testing.T, c *cluster, p *proc, id string, s bridged) {
	t.Helper()
	c.waitFor(30*time.Second, "the network of "+id+" torn down", func() (bool, string) {
		if _, err := os.Stat(netnsPath(p, id)); !errors.Is(err, os.ErrNotExist) {
			return false, "namespace file still there"
		}
		if _, err := net.InterfaceByIndex(s.veth); err == nil {
			return false, "veth still there"
		}
		if _, err := os.Stat(leasePath(s.allocIP)); !errors.Is(err, os.ErrNotExist) {
			return false, "address lease still there"
		}
		if rules := iptablesWith(t, id, s.allocIP+"/32"); len(rules) > 0 {
			return false, "iptables rules left:\n" + strings.Join(rules, "\n")
		}
		return true, ""
	})
}

// leasePath is host-local's lease file of an address on the default bridge.
func leasePath(ip string) string {
	return filepath.Join("/var/lib/cni/networks", node.DefaultConfig().BridgeNetworkName, ip)
}

// netnsPath is where peer p bind-mounts an allocation's network namespace.
func netnsPath(p *proc, allocID string) string {
	return filepath.Join(p.dataDir, "netns", allocID)
}

// hostVeth returns the ifindex of the host end of the veth whose other end is eth0
// in the namespace at nsPath ("eth0@if123").
func hostVeth(t *testing.T, nsPath string) int {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+nsPath, "ip", "-o", "link", "show", "eth0").Output()
	if err != nil {
		t.Fatalf("reading eth0 in %s: %v", nsPath, err)
	}
	_, after, ok := strings.Cut(string(out), "eth0@if")
	num, _, _ := strings.Cut(after, ":")
	idx, err := strconv.Atoi(num)
	if !ok || err != nil {
		t.Fatalf("no veth peer in %q", out)
	}
	return idx
}

func waitChecksPassing(t *testing.T, c *cluster, via *api.Client, allocs []api.Alloc) {
	t.Helper()
	for _, a := range allocs {
		c.waitFor(20*time.Second, "the service check of "+a.ID+" passing", func() (bool, string) {
			full, err := via.Alloc(context.Background(), a.ID)
			if err != nil {
				return false, err.Error()
			}
			if len(full.Checks) != 1 {
				return false, "checks: " + strconv.Itoa(len(full.Checks))
			}
			return full.Checks[0].Status == "passing", full.Checks[0].Status + ": " + full.Checks[0].Output
		})
	}
}

// iptablesWith lists the iptables rules (IPv4 and IPv6) that hold any of needles.
func iptablesWith(t *testing.T, needles ...string) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		b, err := exec.Command(cmd).Output()
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, n := range needles {
				if strings.Contains(l, n) {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// detachAll removes the CNI attachments of allocations a failed test may have left
// (a peer killed and not restarted). The peers' data dirs are gone by now, so it
// uses the default conflist; CNI DEL finds the rest by allocation id.
func detachAll(t *testing.T, ids []string) {
	if len(ids) == 0 {
		return
	}
	cfg := bridge.DefaultConfig() // the peers' bridge: node.DefaultConfig takes its defaults
	dir, err := os.MkdirTemp("", "shoal-bridge-cleanup-")
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	cfg.NetNSDir, cfg.CacheDir = filepath.Join(dir, "netns"), filepath.Join(dir, "cni")
	nw, err := bridge.New(cfg)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	for _, id := range ids {
		if err := nw.Teardown(context.Background(), id); err != nil {
			t.Logf("cleanup of %s: %v", id, err)
		}
	}
}

// TestBridgeModeWithoutPlugins: a peer whose cni_path lacks the CNI plugins does
// not take a bridge-mode job, and the job's placement failures say what is missing
// and where.
func TestBridgeModeWithoutPlugins(t *testing.T) {
	needPeers(t)
	cniDir := t.TempDir() // no plugins in it
	c := newCluster(t, 0)
	conf := filepath.Join(t.TempDir(), "peer.hcl") // data_dir too: a file must be valid alone
	hcl := fmt.Sprintf("data_dir = %q\ncni_path = %q\n", filepath.Join(c.dir, "p1"), cniDir)
	if err := os.WriteFile(conf, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	c.args = []string{"-config", conf}
	p := c.add(0)
	c.waitMembers(1)
	job, err := os.ReadFile("../examples/web-bridge.hcl")
	if err != nil {
		t.Fatal(err)
	}
	submit(t, p.client, string(job))
	want := `cni_path "` + cniDir + `" lacks the plugins loopback, bridge, host-local, firewall, portmap`
	c.waitFor(20*time.Second, "a placement failure naming the missing plugins", func() (bool, string) {
		j, err := p.client.Job(context.Background(), "web-bridge")
		if err != nil {
			return false, err.Error()
		}
		fails := strings.Join(j.PlacementFailures, "\n")
		return strings.Contains(fails, want), fails
	})
	allocs, err := p.client.JobAllocs(context.Background(), "web-bridge")
	if err != nil || len(allocs) != 0 {
		t.Errorf("allocations %s (err %v), want none", describe(allocs), err)
	}
}

// TestBridgeModeTasksShareNamespace: the tasks of a bridge-mode allocation (here
// containers from an image) share its namespace: a sidecar reaches the web task on
// 127.0.0.1:8080, and the host reaches it through the mapped port. Their /etc/hosts
// gives the group's hostname the allocation's address, as Nomad's does.
func TestBridgeModeTasksShareNamespace(t *testing.T) {
	requireCNIPlugins(t)
	var allocIDs []string
	t.Cleanup(func() { detachAll(t, allocIDs) })
	c := newCluster(t, 1)
	p := c.peers[0]
	submit(t, p.client, fmt.Sprintf(`job "pair" {
  group "g" {
    network {
      mode     = "bridge"
      hostname = "pair-${NOMAD_ALLOC_INDEX}"
      port "http" {
        to = 8080
      }
    }
    task "web" {
      driver       = "container"
      kill_timeout = "500ms"
      config {
        image   = %[1]q
        command = "sh"
        args    = ["-c", "mkdir -p /tmp/www && echo shared-ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
      }
    }
    task "sidecar" {
      driver       = "container"
      kill_timeout = "500ms"
      config {
        image   = %[1]q
        command = "sh"
        args    = ["-c", "until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; tail -1 /etc/hosts; exec sleep 3600"]
      }
    }
  }
}
`, imageRef))
	running := c.waitRunning(p.client, "pair", 1)
	a := running[0]
	allocIDs = append(allocIDs, a.ID)
	full, err := p.client.Alloc(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, "the sidecar's GET of 127.0.0.1:8080 and its /etc/hosts in its log", func() (bool, string) {
		rc, err := p.client.Logs(context.Background(), a.ID, "sidecar", "stdout", false)
		if err != nil {
			return false, err.Error()
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b) == "shared-ok\n"+full.AllocIP+"\tpair-0\n", fmt.Sprintf("stdout %q (allocation address %s)", b, full.AllocIP)
	})
	addr := net.JoinHostPort(full.Ports[0].HostIP, strconv.Itoa(full.Ports[0].Value))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "shared-ok\n" {
		t.Errorf("GET %s = %q, want %q", addr, b, "shared-ok\n")
	}
}

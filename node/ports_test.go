package node_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestDynamicPorts: the example web service with a dynamic port, as a Nomad user
// writes it, answers at the address each allocation reports, on every peer.
func TestDynamicPorts(t *testing.T) {
	want := requireBusyboxHTTPD(t)
	job, err := os.ReadFile("../examples/web-dynamic-port.hcl")
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	submit(t, p1, string(job))
	running := c.waitRunning(p2, "web-dynamic", 3)
	seen := map[string]bool{}
	for _, a := range running {
		full, err := p2.Alloc(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Ports) != 1 || full.Ports[0].Label != "http" || full.Ports[0].Value < 20000 || full.Ports[0].Value >= 32000 {
			t.Fatalf("allocation %s on %s reports ports %+v; want one dynamic port labelled http in 20000-31999", a.ID, a.NodeName, full.Ports)
		}
		addr := net.JoinHostPort(full.Ports[0].HostIP, strconv.Itoa(full.Ports[0].Value))
		if seen[addr] {
			t.Errorf("two allocations report the same address %s", addr)
		}
		seen[addr] = true
		getCopyright(t, c, addr, want)
	}
}

// requireBusyboxHTTPD skips a test without Debian's busybox-static (its httpd serves
// /usr/share/doc in the tests) and returns the file served at
// /busybox-static/copyright.
func requireBusyboxHTTPD(t *testing.T) []byte {
	t.Helper()
	const served = "/usr/share/doc/busybox-static/copyright"
	want, err := os.ReadFile(served)
	if err == nil {
		_, err = os.Stat("/bin/busybox")
	}
	if err != nil {
		t.Skip("needs Debian's busybox-static (/bin/busybox httpd and ", served, "): ", err)
	}
	return want
}

// getCopyright waits until busybox httpd answers at addr and checks that it serves
// want at /busybox-static/copyright.
func getCopyright(t *testing.T, c *cluster, addr string, want []byte) {
	t.Helper()
	var body []byte
	c.waitFor(20*time.Second, "httpd at "+addr, func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/busybox-static/copyright")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if string(body) != string(want) {
		t.Errorf("GET %s/busybox-static/copyright = %q, want %q", addr, body, want)
	}
}

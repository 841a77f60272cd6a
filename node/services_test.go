package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServiceDiscovery: any peer lists a job's service instances at addresses that
// answer, with their checks' health, and forgets them when the job stops.
func TestServiceDiscovery(t *testing.T) {
	requireBusyboxHTTPD(t)
	c := newCluster(t, 2)
	p1, p2 := c.peers[0].client, c.peers[1].client
	ctx := context.Background()

	submit(t, p1, healthJob("/busybox-static/copyright"))
	c.waitFor(45*time.Second, "two passing instances of service web", func() (bool, string) {
		ss, err := p2.Services(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(ss) == 1 && ss[0].ServiceName == "web" && ss[0].Instances == 2 && ss[0].Passing == 2, fmt.Sprintf("%+v", ss)
	})
	regs, err := p2.Service(ctx, "web", true)
	if err != nil || len(regs) != 2 {
		t.Fatalf("healthy instances of web: %+v, %v; want 2", regs, err)
	}
	for _, r := range regs {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/busybox-static/copyright", r.Address, r.Port))
		if err != nil {
			t.Errorf("instance %s (alloc %s): %v", r.ID, r.AllocID, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 || r.JobID != "hc" || r.Health != "passing" {
			t.Errorf("instance %+v answered %d with %d bytes; want 200 with the file, job hc, passing", r, resp.StatusCode, len(body))
		}
	}

	if err := p1.StopJob(ctx, "hc", false); err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "service web gone once the job stopped", func() (bool, string) {
		_, err := p2.Service(ctx, "web", false)
		return err != nil && strings.Contains(err.Error(), `no running allocation offers service "web"`), fmt.Sprint(err)
	})
}

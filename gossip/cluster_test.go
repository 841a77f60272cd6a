package gossip

import (
	"fmt"
	"testing"
	"time"
)

func TestClusterJoinFailureAndEvents(t *testing.T) {
	c := newCluster(t, 5, nil)
	events := c.peers[0].Events()
	victim := c.peers[4]
	c.net.Kill(victim.Name())
	eventually(t, "every other peer sees the killed peer failed", func() bool {
		for _, p := range c.peers[:4] {
			if statusOf(p, victim.Name()) != StatusFailed {
				return false
			}
		}
		return true
	})
	deadline := time.After(convergeDeadline)
	for {
		select {
		case e := <-events:
			if e.Type == EventFailed && e.Member.Name == victim.Name() {
				return
			}
		case <-deadline:
			t.Fatalf("no %q event for %s", EventFailed, victim.Name())
		}
	}
}

func TestLeaveIsSeenAsLeftAndIdempotent(t *testing.T) {
	c := newCluster(t, 3, nil)
	p := c.peers[2]
	if err := p.Leave(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := p.Leave(); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if err := p.Shutdown(); err != nil {
		t.Fatalf("Shutdown after Leave: %v", err)
	}
	for _, q := range c.peers[:2] {
		if got := statusOf(q, p.Name()); got != StatusLeft && got != StatusLeaving {
			// serf marks the leave intent before Leave returns
			eventually(t, "left seen", func() bool { return statusOf(q, p.Name()) == StatusLeft })
		}
	}
	if _, err := p.Join([]string{c.peers[0].LocalAddr()}); err == nil {
		t.Fatal("Join after Leave succeeded, want an error")
	}
}

func TestTagsPropagateCoalesced(t *testing.T) {
	c := newCluster(t, 4, nil)
	p := c.peers[1]
	before, start := p.tagBroadcasts.Load(), time.Now()
	for i := 1; i <= 50; i++ {
		if err := p.SetTags(Tags{NodeID: "id-1", Datacenter: "dc1", CPUFree: int64(i), Eligible: true}); err != nil {
			t.Fatalf("SetTags: %v", err)
		}
	}
	eventually(t, "every peer sees the last tags", func() bool {
		for _, q := range c.peers {
			for _, m := range q.Members() {
				if m.Name == p.Name() && (m.Tags.CPUFree != 50 || !m.Tags.Eligible || m.Tags.RPCAddr == "") {
					return false
				}
			}
		}
		return true
	})
	// Coalesced: one broadcast per TagInterval at most (plus the first at once).
	elapsed := time.Since(start)
	limit := 1 + int64(elapsed/DefaultLocalConfig().TagInterval) + 1
	if n := p.tagBroadcasts.Load() - before; n > limit {
		t.Errorf("50 SetTags in %v caused %d broadcasts, want at most %d", elapsed, n, limit)
	}
}

func TestRetryJoinWaitsForASeed(t *testing.T) {
	c := newCluster(t, 2, nil)
	c.net.Kill(c.peers[0].Name())
	late := c.start("late", 42, "")
	c.peers = append(c.peers, late)
	go func() {
		time.Sleep(300 * time.Millisecond)
		c.net.Revive(c.peers[0].Name())
	}()
	n, err := late.RetryJoin(t.Context(), []string{c.peers[0].LocalAddr()}, 100*time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("RetryJoin = %d, %v; want 1, nil", n, err)
	}
	c.waitAlive(3)
}

func TestLargeCluster(t *testing.T) {
	n := 50 // in-process peers; the race detector slows each ~10x, so fewer there
	if raceEnabled || testing.Short() {
		n = 12
	}
	if big := envInt(t, "SHOAL_BIG", 0); big > 0 {
		n = big
		if n == 1 { // SHOAL_BIG=1: the documented 150
			n = 150
		}
	}
	c := newCluster(t, n, func(cfg *Config) {
		// Relaxed timings: dozens of peers share two busy cores.
		cfg.AntiEntropyInterval = time.Second
		cfg.GossipInterval = 50 * time.Millisecond
		cfg.ProbeInterval = 200 * time.Millisecond
		cfg.ProbeTimeout = 100 * time.Millisecond
	})
	c.peers[n/2].Map("jobs").Put("job-a", []byte("v1"))
	waitMapsEqual(t, c.peers, "jobs")
	victim := c.peers[n-1]
	c.net.Kill(victim.Name())
	eventually(t, fmt.Sprintf("%d peers see the victim failed", n-1), func() bool {
		for _, p := range c.peers[:n-1] {
			if statusOf(p, victim.Name()) != StatusFailed {
				return false
			}
		}
		return true
	})
}

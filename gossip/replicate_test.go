package gossip

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestMapReplicatesPutsAndDeletes(t *testing.T) {
	c := newCluster(t, 4, nil)
	var mu sync.Mutex
	seen := map[string]Entry{}
	c.peers[3].Map("jobs").OnChange(func(e Entry) {
		mu.Lock()
		seen[e.Key] = e
		mu.Unlock()
	})
	c.peers[0].Map("jobs").Put("a", []byte("1"))
	c.peers[1].Map("jobs").Put("b", []byte("2"))
	waitMapsEqual(t, c.peers, "jobs")
	c.peers[2].Map("jobs").Delete("a")
	waitMapsEqual(t, c.peers, "jobs")
	for _, p := range c.peers {
		if _, ok := p.Map("jobs").Get("a"); ok {
			t.Errorf("%s: Get(a) found a deleted key", p.Name())
		}
		if e, ok := p.Map("jobs").Get("b"); !ok || string(e.Value) != "2" {
			t.Errorf("%s: Get(b) = %q, %v; want \"2\", true", p.Name(), e.Value, ok)
		}
	}
	eventually(t, "OnChange saw the tombstone of a", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["a"].Deleted && string(seen["b"].Value) == "2"
	})
}

func TestPartitionHealsAndMapConvergesWithConcurrentWriters(t *testing.T) {
	c := newCluster(t, 6, nil)
	left, right := c.peers[:3], c.peers[3:]
	names := func(ps []*Peer) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name())
		}
		return out
	}
	c.net.Partition(names(left), names(right))
	eventually(t, "each side sees the other failed", func() bool {
		return statusOf(left[0], right[0].Name()) == StatusFailed && statusOf(right[0], left[0].Name()) == StatusFailed
	})
	// Concurrent writers on both sides, to the same and to different keys.
	var wg sync.WaitGroup
	for i, p := range c.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := p.Map("jobs")
			for k := 0; k < 20; k++ {
				m.Put(fmt.Sprintf("shared-%d", k%5), []byte(fmt.Sprintf("%s-%d", p.Name(), k)))
				m.Put(fmt.Sprintf("own-%d-%d", i, k), []byte("x"))
			}
			m.Delete(fmt.Sprintf("own-%d-0", i))
		}()
	}
	wg.Wait()
	waitMapsEqual(t, left, "jobs")
	waitMapsEqual(t, right, "jobs")
	c.net.Heal()
	c.waitAlive(6)
	waitMapsEqual(t, c.peers, "jobs")
	if n := c.peers[0].Map("jobs").Len(); n != 5+6*19 {
		t.Errorf("live keys after heal = %d, want %d", n, 5+6*19)
	}
}

func TestTablesReplicateRejectRemoteWritesAndForget(t *testing.T) {
	c := newCluster(t, 3, nil)
	owner := c.peers[0]
	allocs := owner.Table("allocs")
	allocs.SetOwn("a1", []byte("running"))
	allocs.SetOwn("a2", []byte("pending"))
	allocs.DeleteOwn("a2")
	want := map[string][]byte{"a1": []byte("running")}
	eventually(t, "every peer holds the owner's rows", func() bool {
		for _, p := range c.peers {
			if !reflect.DeepEqual(p.Table("allocs").Rows(owner.Name()), want) {
				return false
			}
		}
		return true
	})
	// A remote write into the owner's own table is refused.
	forged := tableDelta{Table: "allocs", Owner: owner.Name(), From: 0, Version: 1, Full: true,
		Rows: []deltaRow{{Key: "evil", Value: []byte("x"), Version: 1}}}
	err := c.peers[1].Call(t.Context(), owner.Name(), methodTablePush, forged, nil)
	if err == nil {
		t.Fatal("forged push into the owner's table succeeded, want an error")
	}
	if got := owner.Table("allocs").Rows(owner.Name()); !reflect.DeepEqual(got, want) {
		t.Errorf("owner rows after a forged push = %q, want %q", got, want)
	}
	// Forget keeps the copy out until the owner publishes a newer version.
	other := c.peers[2].Table("allocs")
	other.Forget(owner.Name())
	if rows := other.Rows(owner.Name()); rows != nil {
		t.Fatalf("rows after Forget = %q, want none", rows)
	}
	allocs.SetOwn("a3", []byte("running"))
	eventually(t, "a newer version is accepted after Forget", func() bool {
		return string(other.Rows(owner.Name())["a3"]) == "running"
	})
}

func TestDownPeerCatchesUp(t *testing.T) {
	c := newCluster(t, 4, nil)
	down := c.peers[3]
	c.net.Kill(down.Name())
	eventually(t, "the down peer is seen failed", func() bool { return statusOf(c.peers[0], down.Name()) == StatusFailed })
	for i := 0; i < 10; i++ {
		c.peers[i%3].Map("jobs").Put(fmt.Sprintf("job-%d", i), []byte("v"))
	}
	c.peers[1].Table("allocs").SetOwn("x", []byte("1"))
	c.net.Revive(down.Name())
	waitMapsEqual(t, c.peers, "jobs")
	eventually(t, "the returning peer holds the table", func() bool {
		return string(down.Table("allocs").Rows(c.peers[1].Name())["x"]) == "1"
	})
}

func TestRestartWithSameIdentityAndNewAddress(t *testing.T) {
	c := newCluster(t, 3, nil)
	dir := t.TempDir()
	snap := filepath.Join(dir, "serf.snapshot")
	p := c.start("phoenix", 99, snap)
	c.peers = append(c.peers, p)
	if _, err := p.Join([]string{c.peers[0].LocalAddr()}); err != nil {
		t.Fatalf("join: %v", err)
	}
	c.waitAlive(4)
	oldAddr := p.LocalAddr()
	c.peers[0].Map("jobs").Put("j", []byte("1"))
	waitMapsEqual(t, c.peers, "jobs")
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stopped peer is seen failed", func() bool { return statusOf(c.peers[0], "phoenix") == StatusFailed })
	c.peers[0].Map("jobs").Put("k", []byte("2"))

	// Same name and snapshot, new address; no explicit Join: the snapshot rejoins.
	p2 := c.start("phoenix", 100, snap)
	c.peers[3] = p2
	if p2.LocalAddr() == oldAddr {
		t.Fatalf("restarted peer kept address %s; the test needs a new one", oldAddr)
	}
	eventually(t, "others see phoenix alive at its new address", func() bool {
		for _, q := range c.peers[:3] {
			found := false
			for _, m := range q.Members() {
				if m.Name == "phoenix" && m.Status == StatusAlive && m.Addr == p2.LocalAddr() {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	})
	waitMapsEqual(t, c.peers, "jobs")
}

func TestMapConvergesUnderPacketLoss(t *testing.T) {
	c := newCluster(t, 5, nil)
	c.net.SetLoss(0.3) // 30% of UDP packets vanish: many notices are lost
	for i := 0; i < 30; i++ {
		c.peers[i%5].Map("jobs").Put(fmt.Sprintf("job-%d", i), []byte("v"))
	}
	c.peers[3].Table("allocs").SetOwn("a", []byte("1"))
	waitMapsEqual(t, c.peers, "jobs")
	eventually(t, "every peer holds the table under loss", func() bool {
		for _, p := range c.peers {
			if string(p.Table("allocs").Rows(c.peers[3].Name())["a"]) != "1" {
				return false
			}
		}
		return true
	})
	if n := c.peers[0].Map("jobs").Len(); n != 30 {
		t.Errorf("live keys = %d, want 30", n)
	}
}

func TestLoadSeedsStateThatAntiEntropySpreads(t *testing.T) {
	c := newCluster(t, 3, nil)
	fired := make(chan Entry, 10)
	m := c.peers[0].Map("jobs")
	m.OnChange(func(e Entry) { fired <- e })
	m.Load([]Entry{{Key: "from-disk", Value: []byte("v"), Version: 7, Writer: "old-peer"}})
	c.peers[0].Table("allocs").LoadOwn(map[string][]byte{"a": []byte("1")}, 3)
	waitMapsEqual(t, c.peers, "jobs")
	eventually(t, "loaded table rows reach the others", func() bool {
		return string(c.peers[2].Table("allocs").Rows(c.peers[0].Name())["a"]) == "1"
	})
	if e := m.Put("new", []byte("x")); e.Version <= 7 {
		t.Errorf("a write after Load got version %d, want above the loaded 7", e.Version)
	}
	if e := <-fired; e.Key != "new" {
		t.Errorf("first OnChange was for %q; Load must not fire callbacks", e.Key)
	}
}

// A table change reaches another peer through the direct notice alone: with gossip,
// probes (which piggyback broadcasts), push-pull and anti-entropy all an hour
// apart, and no push-pull after joining (it would carry the new row's digest tag),
// nothing else could carry it within the test's deadline.
func TestTableChangeToldDirectly(t *testing.T) {
	hour := time.Hour
	c := newCluster(t, 2, func(cfg *Config) {
		cfg.GossipInterval, cfg.ProbeInterval, cfg.ProbeTimeout = hour, hour, time.Second
		cfg.PushPullInterval, cfg.AntiEntropyInterval, cfg.TagInterval = hour, hour, hour
		cfg.JoinSyncDelay = 0
	})
	owner, other := c.peers[0], c.peers[1]
	owner.Table("allocs").SetOwn("a1", []byte("running"))
	eventually(t, "the other peer holds the new row", func() bool {
		return string(other.Table("allocs").Rows(owner.Name())["a1"]) == "running"
	})
	owner.Table("allocs").SetOwn("a1", []byte("complete"))
	eventually(t, "the other peer holds the changed row", func() bool {
		return string(other.Table("allocs").Rows(owner.Name())["a1"]) == "complete"
	})
}

// A pull asked for while one of its key runs is run after it (the latest asked for
// only), not dropped: the running one may have read the writer's rows before the
// write the later one was asked for (a burst of allocation status changes), and that
// change would wait for the owner's next notice or for anti-entropy.
func TestPullAskedForDuringAPullRunsAfterIt(t *testing.T) {
	c := newCluster(t, 1, nil)
	r := c.peers[0].repl
	started, release := make(chan struct{}), make(chan struct{})
	r.pull("k", func(context.Context) error { close(started); <-release; return nil })
	<-started
	older, latest := make(chan struct{}), make(chan struct{})
	r.pull("k", func(context.Context) error { close(older); return nil })
	r.pull("k", func(context.Context) error { close(latest); return nil })
	close(release)
	select {
	case <-latest:
	case <-time.After(10 * time.Second):
		t.Fatal("the pull asked for while another ran never ran")
	}
	select {
	case <-older:
		t.Error("a pull superseded by a later one ran too")
	default:
	}
	eventually(t, "the key is free again", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return !r.inflight["k"] && r.again["k"] == nil
	})
}

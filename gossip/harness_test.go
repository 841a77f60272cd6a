package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// convergeDeadline bounds how long tests wait for gossip to converge. It is a
// deadline, not a speed assertion: convergence normally takes well under a second.
const convergeDeadline = 20 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(convergeDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, convergeDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// cluster is n peers on one in-memory network.
type cluster struct {
	t     testing.TB
	net   *MemNetwork
	peers []*Peer
	mod   func(*Config)
}

func nodeName(i int) string { return fmt.Sprintf("n%03d", i) }

func newCluster(t testing.TB, n int, mod func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: NewMemNetwork(1), mod: mod}
	for i := 0; i < n; i++ {
		c.peers = append(c.peers, c.start(nodeName(i), int64(i+1), ""))
	}
	t.Cleanup(c.shutdown)
	errs := make(chan error, n)
	for i := 1; i < n; i++ {
		go func(p *Peer) {
			// Many simultaneous joins can overrun the seed: retry like a booting peer.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := p.RetryJoin(ctx, []string{c.peers[0].LocalAddr()}, 200*time.Millisecond)
			errs <- err
		}(c.peers[i])
	}
	for i := 1; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	c.waitAlive(n)
	return c
}

func (c *cluster) config(name string, seed int64, snapshot string) Config {
	cfg := DefaultLocalConfig()
	cfg.NodeName = name
	cfg.Transport = c.net.NewTransport(name)
	cfg.Seed = seed
	cfg.SnapshotPath = snapshot
	cfg.Logger = testLogger()
	if c.mod != nil {
		c.mod(&cfg)
	}
	return cfg
}

func (c *cluster) start(name string, seed int64, snapshot string) *Peer {
	c.t.Helper()
	p, err := New(c.config(name, seed, snapshot))
	if err != nil {
		c.t.Fatalf("starting %s: %v", name, err)
	}
	return p
}

func (c *cluster) shutdown() {
	var wg sync.WaitGroup
	for _, p := range c.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Shutdown()
		}()
	}
	wg.Wait()
}

// live returns the peers not shut down.
func (c *cluster) live() []*Peer {
	var out []*Peer
	for _, p := range c.peers {
		if !p.stopped() {
			out = append(out, p)
		}
	}
	return out
}

// aliveCount is how many members p sees alive.
func aliveCount(p *Peer) int {
	n := 0
	for _, m := range p.Members() {
		if m.Status == StatusAlive {
			n++
		}
	}
	return n
}

func statusOf(p *Peer, name string) MemberStatus {
	for _, m := range p.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return StatusNone
}

// waitAlive waits until every live peer sees n alive members.
func (c *cluster) waitAlive(n int) {
	c.t.Helper()
	eventually(c.t, fmt.Sprintf("every peer sees %d alive", n), func() bool {
		for _, p := range c.live() {
			if p.serf.Memberlist().NumMembers() != n || len(p.aliveOthers())+1 != n {
				return false
			}
		}
		return true
	})
}

// mapSnapshot renders a map's full state (tombstones included) for comparison.
func mapSnapshot(m *LWWMap) string {
	var rows []string
	m.RangeAll(func(e Entry) bool {
		rows = append(rows, fmt.Sprintf("%s=%q@%d/%s/%v", e.Key, e.Value, e.Version, e.Writer, e.Deleted))
		return true
	})
	sort.Strings(rows)
	return fmt.Sprint(rows)
}

// waitMapsEqual waits until map name is identical on every given peer.
func waitMapsEqual(t testing.TB, peers []*Peer, name string) {
	t.Helper()
	var last []string
	deadline := time.Now().Add(convergeDeadline)
	for {
		last = last[:0]
		same := true
		for _, p := range peers {
			s := mapSnapshot(p.Map(name))
			last = append(last, p.Name()+": "+s)
			if s != mapSnapshot(peers[0].Map(name)) {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("map %q did not converge within %v:\n%s", name, convergeDeadline, fmt.Sprint(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// envInt reads an integer test knob (0 when unset; 1 for "1" or "true").
// envInt reads a test knob: def when name is unset, its value when it is a
// non-negative integer; anything else fails the test, naming the variable.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestGossipBench measures convergence, failure detection, traffic at rest and
// false deaths on the in-memory network (docs/bench/gossip.md). It is off by
// default; run it with e.g.
//
//	SHOAL_BENCH=10,100,500 go test -run TestGossipBench -v -timeout 60m ./gossip/
//
// SHOAL_BENCH_PROFILES=lan,node selects the timing profiles.
func TestGossipBench(t *testing.T) {
	spec := os.Getenv("SHOAL_BENCH")
	if spec == "" {
		t.Skip("set SHOAL_BENCH=10,100,500 to run the gossip benchmark")
	}
	// scale: how much slower than real time the profile's protocol runs; the
	// traffic and busy windows and the waits are that much longer, so they cover
	// as many rounds.
	type profile struct {
		config func() Config
		scale  time.Duration
	}
	profiles := map[string]profile{
		"lan": {DefaultLANConfig, 1}, "node": {DefaultNodeConfig, 1},
		"node-s4": {func() Config { // the alternative considered: longer suspicion
			c := DefaultNodeConfig()
			c.SuspicionMult = 4
			return c
		}, 1},
		// LAN timings with every protocol interval and timeout 4x longer: the CPU a
		// simulated second needs drops 4x, so 500 peers fit two cores. Its times are
		// protocol rounds at 1/4 speed; the table says so.
		"lan-x4": {func() Config { return stretched(DefaultLANConfig(), 4) }, 4},
	}
	names := strings.Split(os.Getenv("SHOAL_BENCH_PROFILES"), ",")
	if names[0] == "" {
		names = []string{"lan", "node"}
	}
	for _, name := range names {
		if _, ok := profiles[name]; !ok {
			t.Fatalf("SHOAL_BENCH_PROFILES=%q: unknown profile %q (known: %s)", os.Getenv("SHOAL_BENCH_PROFILES"),
				name, strings.Join(slices.Sorted(maps.Keys(profiles)), ", "))
		}
	}
	fmt.Printf("| N | timings | form | tag 99.9%% | tag 100%% | entry 99.9%% | entry 100%% | kill->dead p50 | p99 | max | msgs/peer/s | bytes/peer/s | false deaths (busy): members/observations |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 3 {
			t.Fatalf("SHOAL_BENCH=%q: got %q, want comma-separated peer counts >= 3 (the bench kills 3 peers)", spec, s)
		}
		for _, name := range names {
			r := runBench(t, n, name, profiles[name].config, profiles[name].scale)
			fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.0f | %d/%d |\n",
				n, name, r.form, r.tag999, r.tag100, r.entry999, r.entry100, r.killP50, r.killP99, r.killMax,
				r.msgsPerSec, r.bytesPerSec, r.falseMembers, r.falseDeaths)
		}
	}
}

type benchResult struct {
	form, tag999, tag100, entry999, entry100, killP50, killP99, killMax string
	msgsPerSec, bytesPerSec                                             float64
	falseDeaths, falseMembers                                           int
}

// recorder collects when each observer saw what.
type recorder struct {
	mu      sync.Mutex
	tagSeen map[string]time.Time            // observer -> time
	entry   map[string]time.Time            // observer -> time
	failed  map[string]map[string]time.Time // member -> observer -> time
}

func (r *recorder) failedAt(member string) map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range r.failed[member] {
		out[k] = v
	}
	return out
}

func (r *recorder) count(m map[string]time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(m)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func fmtDur(d time.Duration, ok bool) string {
	if !ok {
		return "n/a"
	}
	return d.Round(time.Millisecond).String()
}

// spread returns the times to reach 99.9% and 100% of want observers.
func spread(t0 time.Time, seen map[string]time.Time, want int) (string, string) {
	var ds []time.Duration
	for _, at := range seen {
		ds = append(ds, at.Sub(t0))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	need := int(math.Ceil(0.999 * float64(want)))
	p999, p100 := "n/a", "n/a"
	if len(ds) >= need {
		p999 = fmtDur(ds[need-1], true)
	}
	if len(ds) >= want {
		p100 = fmtDur(ds[want-1], true)
	}
	return p999, p100
}

func waitFor(deadline time.Duration, cond func() bool) bool {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func runBench(t *testing.T, n int, profile string, base func() Config, scale time.Duration) benchResult {
	var res benchResult
	rec := &recorder{tagSeen: map[string]time.Time{}, entry: map[string]time.Time{}, failed: map[string]map[string]time.Time{}}
	// memberlist's own account of suspicions, failures and dropped messages, for
	// the formation diagnostics (SHOAL_LOG=1 logs everything to stderr instead).
	logs := &logLines{}
	c := &cluster{t: t, net: NewMemNetwork(1), mod: func(cfg *Config) {
		b := base()
		b.NodeName, b.Transport, b.Seed, b.Logger = cfg.NodeName, cfg.Transport, cfg.Seed, cfg.Logger
		if b.Logger == nil {
			b.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		b.BindAddr, b.BindPort, b.RPCPort = "127.0.0.1", 0, 0
		*cfg = b
	}}
	defer c.shutdown()
	start := time.Now()
	for i := 0; i < n; i++ {
		c.peers = append(c.peers, c.start(nodeName(i), int64(i+1), ""))
	}
	target := c.peers[1].Name()
	for _, p := range c.peers {
		ch := p.Events()
		observer := p.Name()
		go func() {
			for e := range ch {
				now := time.Now()
				rec.mu.Lock()
				switch {
				case e.Type == EventUpdate && e.Member.Name == target && e.Member.Tags.CPUFree == 777:
					if _, ok := rec.tagSeen[observer]; !ok {
						rec.tagSeen[observer] = now
					}
				case e.Type == EventFailed:
					if rec.failed[e.Member.Name] == nil {
						rec.failed[e.Member.Name] = map[string]time.Time{}
					}
					rec.failed[e.Member.Name][observer] = now
				}
				rec.mu.Unlock()
			}
		}()
		p.Map("jobs").OnChange(func(e Entry) {
			if e.Key == "bench" {
				rec.mu.Lock()
				if _, ok := rec.entry[observer]; !ok {
					rec.entry[observer] = time.Now()
				}
				rec.mu.Unlock()
			}
		})
	}
	// Join in waves of 10, each to an earlier peer, as peers boot; a join that
	// times out (a push-pull of hundreds of members on starved cores) is retried.
	for i := 1; i < n; i += 10 {
		var wg sync.WaitGroup
		for j := i; j < min(i+10, n); j++ {
			wg.Add(1)
			go func(p *Peer, seed *Peer) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if _, err := p.RetryJoin(ctx, []string{seed.LocalAddr()}, time.Second); err != nil {
					t.Errorf("join %s: %v", p.Name(), err)
				}
			}(c.peers[j], c.peers[j%i])
		}
		wg.Wait()
	}
	formDeadline := time.Duration(envInt(t, "SHOAL_BENCH_FORM_MINUTES", 4)) * time.Minute
	lastLog, lastHoles := time.Now(), ""
	formed := waitFor(formDeadline, func() bool {
		time.Sleep(200 * time.Millisecond) // polling 500 views is not free
		counts := make([]int, 0, n)
		for _, p := range c.peers {
			counts = append(counts, p.serf.Memberlist().NumMembers())
		}
		sort.Ints(counts)
		if time.Since(lastLog) > 30*time.Second {
			lastLog = time.Now()
			t.Logf("N=%d %s after %v: peers see min %d, median %d, max %d alive; %s",
				n, profile, time.Since(start).Round(time.Second), counts[0], counts[n/2], counts[n-1], losses(c, logs))
			if counts[0] < n && counts[0] >= n-10 {
				// Each time the set of holes changes, add what memberlist logged.
				pairs, missing := holes(c.peers)
				var l *logLines
				if s := fmt.Sprint(pairs[:min(5, len(pairs))], len(pairs)); s != lastHoles {
					lastHoles, l = s, logs
				}
				t.Logf("missing:\n%s", strings.Join(describeHoles(c.peers, pairs, missing, 5, l), "\n"))
			}
		}
		return counts[0] == n && counts[n-1] == n
	})
	res.form = fmtDur(time.Since(start), formed)
	if !formed {
		pairs, missing := holes(c.peers)
		t.Logf("N=%d %s: cluster did not form in %v; %s; missing:\n%s", n, profile, formDeadline,
			losses(c, logs), strings.Join(describeHoles(c.peers, pairs, missing, 20, logs), "\n"))
		if envInt(t, "SHOAL_BENCH_PARTIAL", 0) == 0 {
			return res
		}
		res.form = fmt.Sprintf("not formed in %v (%s)", formDeadline, formedShare(c.peers))
	}
	t.Logf("N=%d %s: formed (%s) after %v; %s", n, profile, formedShare(c.peers),
		time.Since(start).Round(time.Second), losses(c, logs))
	time.Sleep(3 * time.Second) // let join traffic drain

	// Traffic at rest.
	var m0, b0 int64
	for _, p := range c.peers {
		s := c.net.Stats(p.Name())
		m0, b0 = m0+s.Messages.Load(), b0+s.Bytes.Load()
	}
	window := 10 * time.Second * scale
	time.Sleep(window)
	var m1, b1 int64
	for _, p := range c.peers {
		s := c.net.Stats(p.Name())
		m1, b1 = m1+s.Messages.Load(), b1+s.Bytes.Load()
	}
	res.msgsPerSec = float64(m1-m0) / float64(n) / window.Seconds()
	res.bytesPerSec = float64(b1-b0) / float64(n) / window.Seconds()

	// Tag update.
	t0 := time.Now()
	if err := c.peers[1].SetTagsNow(Tags{CPUFree: 777}); err != nil {
		t.Fatal(err)
	}
	want := len(knowers(c.peers, c.peers[1].Name()))
	waitFor(time.Minute*scale, func() bool { return rec.count(rec.tagSeen) >= want })
	rec.mu.Lock()
	res.tag999, res.tag100 = spread(t0, rec.tagSeen, want)
	rec.mu.Unlock()

	// Replicated map entry.
	t0 = time.Now()
	c.peers[2].Map("jobs").Put("bench", []byte("job body"))
	waitFor(time.Minute*scale, func() bool { return rec.count(rec.entry) >= n })
	rec.mu.Lock()
	res.entry999, res.entry100 = spread(t0, rec.entry, n)
	rec.mu.Unlock()

	// False deaths with both cores busy: nobody is killed; count failures seen.
	busy, stop := 20*time.Second*scale, make(chan struct{})
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go func() {
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					for k := 0; k < 1e6; k++ {
						x += k
					}
				}
			}
		}()
	}
	time.Sleep(busy)
	close(stop)
	rec.mu.Lock()
	for _, obs := range rec.failed {
		res.falseDeaths += len(obs)
		res.falseMembers++
	}
	rec.mu.Unlock()

	// Kill -> every other peer sees it failed, 3 victims one after another.
	var ds []time.Duration
	complete := true
	killed := map[string]bool{}
	for k := 0; k < 3; k++ {
		victim := c.peers[n-1-k].Name()
		// The observers: peers that hold the victim alive and are not cut off
		// themselves (an earlier victim only declares it dead by its own timeouts).
		var observers []string
		for _, p := range knowers(c.peers, victim) {
			if !killed[p.Name()] {
				observers = append(observers, p.Name())
			}
		}
		killed[victim] = true
		t0 := time.Now()
		c.net.Kill(victim)
		seen := func() map[string]time.Time {
			at, out := rec.failedAt(victim), map[string]time.Time{}
			for _, o := range observers {
				if v, ok := at[o]; ok {
					out[o] = v
				}
			}
			return out
		}
		ok := waitFor(2*time.Minute*scale, func() bool { return len(seen()) >= len(observers) })
		complete = complete && ok
		var slowest string
		var worst time.Duration
		for o, at := range seen() {
			ds = append(ds, at.Sub(t0))
			if at.Sub(t0) > worst {
				slowest, worst = o, at.Sub(t0)
			}
		}
		t.Logf("kill %s: %d/%d observers saw it failed, the last (%s) after %v", victim, len(seen()), len(observers),
			slowest, worst.Round(time.Millisecond))
	}
	res.killP50, res.killP99 = fmtDur(quantile(ds, 0.5), true), fmtDur(quantile(ds, 0.99), true)
	res.killMax = fmtDur(quantile(ds, 1), complete)
	t.Logf("N=%d %s: done after %v; %s", n, profile, time.Since(start).Round(time.Second), losses(c, logs))
	return res
}

// knowers are the peers other than name whose memberlist holds name alive or
// suspect: the observers a change about name can reach.
func knowers(peers []*Peer, name string) []*Peer {
	var out []*Peer
	for _, p := range peers {
		if p.Name() == name {
			continue
		}
		if st := mlNodeOf(p.serf.Memberlist(), name); st.known && (st.state == memberlist.StateAlive || st.state == memberlist.StateSuspect) {
			out = append(out, p)
		}
	}
	return out
}

// formedShare is the share of (observer, member) pairs that see each other,
// e.g. "249999/250000 pairs, 499/500 peers see all".
func formedShare(peers []*Peer) string {
	n, pairs, full := len(peers), 0, 0
	for _, p := range peers {
		m := p.serf.Memberlist().NumMembers()
		pairs += m
		if m == n {
			full++
		}
	}
	return fmt.Sprintf("%d/%d pairs, %d/%d peers see all", pairs, n*n, full, n)
}

// losses sums what the network dropped at slow receivers and what memberlist
// logged about dropping or suspecting.
func losses(c *cluster, logs *logLines) string {
	var dropped, syncs int64
	for _, p := range c.peers {
		dropped += c.net.Stats(p.Name()).Dropped.Load()
		syncs += p.joinSyncs.Load()
	}
	return fmt.Sprintf("network dropped %d packets/dials at full buffers, memberlist dropped %s messages at full handler queues, logged %d suspicions, %d failures, %d refutations; %d push-pulls after joining (%d failed)",
		dropped, logs.queueFull(), logs.count("has failed, no acks"), logs.count("Marking"), logs.count("Refuting"),
		syncs, logs.count("push-pull after joining failed"))
}

// stretched returns c with every periodic interval and protocol timeout k times
// longer (probes, gossip, push-pulls, reconnects, tags, notices, anti-entropy).
func stretched(c Config, k time.Duration) Config {
	for _, d := range []*time.Duration{&c.ProbeInterval, &c.ProbeTimeout, &c.GossipInterval,
		&c.GossipToTheDeadTime, &c.PushPullInterval, &c.DeadNodeReclaimTime, &c.ReapInterval,
		&c.ReconnectInterval, &c.LeavePropagate, &c.BroadcastTimeout, &c.TagInterval,
		&c.NoticeInterval, &c.AntiEntropyInterval, &c.RPCTimeout, &c.JoinSyncDelay} {
		*d *= k
	}
	return c
}

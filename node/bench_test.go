package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-sched/shoal/node/api"
)

// Benchmarks with real peers (see docs/bench/node.md):
//
//	go test -run '^$' -bench . -benchtime 5x ./node
//
// Each iteration starts a fresh three-peer cluster. The reported s/op is the mean;
// the medians are reported as their own metrics.

// BenchmarkSubmit30Exec: submit -> all 30 allocations of a count = 30 job running
// (/bin/sleep under the exec driver).
func BenchmarkSubmit30Exec(b *testing.B) { benchSubmit(b, "exec") }

// BenchmarkSubmit30Container: the same under the container driver (busybox image),
// cold: every peer pulls and unpacks the image for its first allocation.
func BenchmarkSubmit30Container(b *testing.B) { benchSubmit(b, "container") }

// BenchmarkSubmit30ContainerWarm: the same with the image already unpacked on every
// peer (as a Docker host that has pulled it), by a system job run and purged first.
func BenchmarkSubmit30ContainerWarm(b *testing.B) { benchSubmit(b, "container-warm") }

func benchSubmit(b *testing.B, driver string) {
	label, warm := driver, driver == "container-warm"
	if warm {
		driver = "container"
	}
	var runs []time.Duration
	for range b.N {
		b.StopTimer()
		c := newCluster(b, 3)
		if warm {
			warmImage(b, c)
		}
		job := benchJob("bench", 30, driver)
		b.StartTimer()
		start := time.Now()
		submit(b, c.peers[0].client, job)
		waitAll(c, "bench", 30, -1)
		runs = append(runs, time.Since(start))
		b.StopTimer()
		c.shutdown()
		b.StartTimer()
	}
	b.ReportMetric(median(runs).Seconds(), "s-median")
	b.Logf("submit -> 30 running (%s): runs %s, median %s", label, durations(runs), median(runs))
}

// BenchmarkSubmit30Bridge: submit -> 30 running, exec driver, in host mode and in
// bridge mode (each allocation a namespace on the bridge and a mapped port),
// alternately in one run so that the machine's load hits both alike.
func BenchmarkSubmit30Bridge(b *testing.B) {
	requireCNIPlugins(b)
	runs := map[string][]time.Duration{}
	for range b.N {
		for _, mode := range []string{"host", "bridge"} {
			b.StopTimer()
			c := newCluster(b, 3)
			job := benchJob("bench", 30, "exec")
			job = strings.Replace(job, `  group "g" {`, `  group "g" {
    network {
      mode = "`+mode+`"
      port "p" {
        to = 8080
      }
    }`, 1)
			b.StartTimer()
			start := time.Now()
			submit(b, c.peers[0].client, job)
			waitAll(c, "bench", 30, -1)
			runs[mode] = append(runs[mode], time.Since(start))
			b.StopTimer()
			c.shutdown()
			b.StartTimer()
		}
	}
	host, bridge := median(runs["host"]), median(runs["bridge"])
	b.ReportMetric(host.Seconds(), "s-host-median")
	b.ReportMetric(bridge.Seconds(), "s-bridge-median")
	b.ReportMetric(bridge.Seconds()/host.Seconds(), "bridge/host")
	b.Logf("submit -> 30 running, exec: host mode %s (median %s), bridge mode %s (median %s)",
		durations(runs["host"]), host, durations(runs["bridge"]), bridge)
}

// BenchmarkKillPeer: kill -9 a peer and its containers; time until its allocations
// run elsewhere (a count = 30 job over three peers), with Shoal's default timings.
func BenchmarkKillPeer(b *testing.B) {
	var runs []time.Duration
	for range b.N {
		b.StopTimer()
		c := newCluster(b, 3)
		submit(b, c.peers[0].client, benchJob("bench", 30, "exec"))
		before := waitAll(c, "bench", 30, -1)
		victim := busiest(c, before)
		b.StartTimer()
		start := time.Now()
		c.kill(victim, true)
		waitAll(c, "bench", 30, victim)
		runs = append(runs, time.Since(start))
		b.StopTimer()
		c.shutdown()
		b.StartTimer()
	}
	b.ReportMetric(median(runs).Seconds(), "s-median")
	b.Logf("kill -9 -> allocations running elsewhere: runs %s, median %s", durations(runs), median(runs))
}

// BenchmarkIdleRSS: resident memory of an idle peer in a three-peer cluster, with the
// binary as a host has it (copied into place, its pages read from disk at start) and
// as `make build` (scripts/build-peer.sh) leaves it, alternated. The two differed by
// how the page cache held the file: the Go linker writes its output through a
// mapping, which leaves it in 2 MiB folios, and a process maps a whole folio at its
// first touch (Linux 6.18 maps large folios entirely, a PMD-sized one with one
// entry), ~4 MiB more than the pages a peer touches. Attaching the container init
// now drops the built file from the page cache (containerinit.Attach), so both read
// it from disk into small folios.
func BenchmarkIdleRSS(b *testing.B) {
	built := peerBin
	defer func() { peerBin = built }()
	installed := filepath.Join(b.TempDir(), "peer")
	if err := installBinary(built, installed); err != nil {
		b.Fatal(err)
	}
	// SHOAL_IDLE_SETTLE (a duration, default 5s) is how long the peers idle before
	// the reading: an idle peer's RSS still creeps up for minutes as it touches more
	// of its code (timers, anti-entropy, GC).
	settle := 5 * time.Second
	if v := os.Getenv("SHOAL_IDLE_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("SHOAL_IDLE_SETTLE=%q: %v (want a duration such as 3m)", v, err)
		}
		settle = d
	}
	rss := map[string][]float64{}
	for range b.N {
		b.StopTimer()
		for _, v := range []struct{ name, bin string }{{"installed", installed}, {"as-built", built}} {
			peerBin = v.bin
			if v.name == "installed" {
				if err := dropCache(installed); err != nil { // as after a reboot
					b.Fatal(err)
				}
			}
			c := newCluster(b, 3)
			time.Sleep(settle) // joins done, anti-entropy running
			for _, p := range c.peers {
				rss[v.name] = append(rss[v.name], rssMiB(p.cmd.Process.Pid))
			}
			c.shutdown()
		}
		b.StartTimer()
	}
	for name, r := range rss {
		sort.Float64s(r)
		b.ReportMetric(r[len(r)/2], "MiB-median-"+name)
		b.Logf("idle peer RSS MiB, binary %s: %v", name, r)
	}
}

// installBinary copies a binary into place as an installer does (write, not a
// mapping), so its page cache is what a host's would be.
func installBinary(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// dropCache writes back and evicts a file's pages from the page cache, so the next
// process reads it from disk.
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// waitAll polls (every 10 ms) until n allocations of job run, none on peer not.
func waitAll(c *cluster, job string, n, not int) []api.Alloc {
	via := c.any(not)
	var got []api.Alloc
	c.waitEvery(60*time.Second, 10*time.Millisecond, fmt.Sprintf("%d running", n), func() (bool, string) {
		allocs, err := via.JobAllocs(context.Background(), job)
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, a := range allocs {
			if a.DesiredStatus == "run" && a.ClientStatus == "running" && (not < 0 || a.NodeName != c.peers[not].name) {
				got = append(got, a)
			}
		}
		return len(got) == n, describe(allocs)
	})
	return got
}

// warmImage has every peer unpack the benchmark image: a system job of it runs on
// each, and is purged once all of them run.
func warmImage(b *testing.B, c *cluster) {
	job := strings.Replace(benchJob("warm", 1, "container"), `job "warm" {`, "job \"warm\" {\n  type = \"system\"", 1)
	job = strings.Replace(job, "count = 1\n", "", 1)
	submit(b, c.peers[0].client, job)
	waitAll(c, "warm", len(c.peers), -1)
	if err := c.peers[0].client.StopJob(context.Background(), "warm", true); err != nil {
		b.Fatal(err)
	}
	c.waitFor(30*time.Second, "the warm-up job gone", func() (bool, string) {
		allocs, err := c.peers[0].client.JobAllocs(context.Background(), "warm")
		return err != nil || len(allocs) == 0, fmt.Sprint(len(allocs), err)
	})
}

func benchJob(id string, count int, driver string) string {
	cfg := `command = "/bin/sleep"
        args    = ["3600"]`
	if driver == "container" {
		cfg = fmt.Sprintf(`image   = %q
        command = "sleep"
        args    = ["3600"]`, imageRef)
	}
	return fmt.Sprintf(`job %q {
  group "g" {
    count = %d
    task "t" {
      driver       = %q
      kill_timeout = "500ms"
      config {
        %s
      }
      resources {
        cpu    = 20
        memory = 64
      }
    }
  }
}
`, id, count, driver, cfg)
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func durations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return strings.Join(parts, " ")
}

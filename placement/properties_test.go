package placement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"pgregory.net/rapid"
)

// drawCluster builds a simulator with 3-6 peers (ample capacity) and a service job.
func drawCluster(t *rapid.T) (*sim, *jobspec.Job) {
	s := newSim()
	for i := range rapid.IntRange(3, 6).Draw(t, "peers") {
		s.addNode(sizedNode(fmt.Sprintf("n%d", i+1), 4000, 4096))
	}
	job := testJob(rapid.IntRange(0, 5).Draw(t, "count"), 200, 256)
	job.Type = rapid.SampledFrom([]string{jobspec.TypeService, jobspec.TypeService, jobspec.TypeSystem}).Draw(t, "type")
	if rapid.Bool().Draw(t, "rolling") {
		job.Update = &jobspec.Update{MaxParallel: rapid.IntRange(1, 2).Draw(t, "maxpar"), MinHealthyTime: 10 * time.Second}
	}
	s.jobs[job.ID] = &simJob{job: job}
	return s, job
}

// Applying reconciliation's actions to any observed state reaches a fixed point within
// a bounded number of rounds, and there every slot has exactly one running allocation.
func TestReconcileReachesFixedPoint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, job := drawCluster(t)
		statuses := []string{ClientRunning, ClientPending, ClientFailed, ClientComplete, ClientLost}
		if job.Type == jobspec.TypeSystem {
			statuses = []string{ClientRunning, ClientPending, ClientComplete, ClientLost} // a failed copy stays down, by design
		}
		for i := range rapid.IntRange(0, 10).Draw(t, "allocs") {
			node := s.order[rapid.IntRange(0, len(s.order)-1).Draw(t, "node")]
			a := running("web", "api", rapid.IntRange(0, 6).Draw(t, "index"), node, 200, 256)
			if job.Type == jobspec.TypeSystem {
				a.Index = 0
			}
			a.ID = fmt.Sprintf("x%d", i)
			a.ClientStatus = rapid.SampledFrom(statuses).Draw(t, "status")
			a.Epoch = Epoch(rapid.IntRange(0, 3).Draw(t, "epoch"))
			a.JobVersion = uint64(rapid.IntRange(0, 1).Draw(t, "version"))
			a.CreateTime = t0.Add(-time.Duration(rapid.IntRange(0, 100).Draw(t, "age")) * time.Second)
			s.allocs[a.ID] = &a
		}
		if rapid.Bool().Draw(t, "newversion") {
			job.Version++
			job.Groups[0].Tasks[0].Config.Image = "app:2"
		}
		if rapid.Bool().Draw(t, "deadpeer") {
			s.nodes[s.order[0]].Alive = false
		}
		lines, ok := s.stabilize(40, time.Minute)
		if !ok {
			t.Fatalf("no fixed point after 40 rounds; last actions:\n%s", tail(lines, 10))
		}
		if bad := append(s.slotReport(), s.overCommitted()...); len(bad) > 0 {
			t.Fatalf("at the fixed point: %v\n%s", bad, s.table())
		}
	})
}

// After any history of partitions, heals, failures and rounds, once the cluster heals
// and settles every slot holds exactly one running allocation and no peer is
// over-committed.
func TestPartitionHealConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, job := drawCluster(t)
		s.stabilize(20, 10*time.Second)
		failed := 0
		for i := range rapid.IntRange(1, 12).Draw(t, "steps") {
			switch rapid.SampledFrom([]string{"partition", "heal", "round", "tick", "fail-alloc", "fail-node", "scale"}).Draw(t, fmt.Sprintf("op%d", i)) {
			case "partition":
				var a, b []string
				for _, id := range s.order {
					if rapid.Bool().Draw(t, "side") {
						a = append(a, id)
					} else {
						b = append(b, id)
					}
				}
				s.partition([][]string{a, b})
			case "heal":
				s.heal()
			case "round":
				s.reconcile(false)
			case "tick":
				s.tick(time.Duration(rapid.IntRange(1, 60).Draw(t, "secs")) * time.Second)
			case "fail-alloc":
				if job.Type == jobspec.TypeSystem {
					break // a failed system copy stays down until the job changes, by design
				}
				for _, a := range s.allocs {
					if !a.Terminal() && a.ClientStatus == ClientRunning {
						a.ClientStatus, a.ModifyTime = ClientFailed, s.now
						break
					}
				}
			case "fail-node":
				if failed < len(s.order)-2 {
					s.nodes[s.order[rapid.IntRange(0, len(s.order)-1).Draw(t, "victim")]].Alive = false
					failed++
				}
			case "scale":
				job.Groups[0].Count = rapid.IntRange(0, 5).Draw(t, "newcount")
				job.Version++
			}
			if bad := s.overCommitted(); len(bad) > 0 {
				t.Fatalf("over-committed during the history: %v", bad)
			}
		}
		s.heal()
		lines, ok := s.stabilize(60, time.Minute)
		if !ok {
			t.Fatalf("no fixed point after healing; last actions:\n%s", tail(lines, 10))
		}
		if bad := append(s.slotReport(), s.overCommitted()...); len(bad) > 0 {
			t.Fatalf("after healing: %v\n%s%s", bad, s.table(), s.debug())
		}
	})
}

// debug shows the peers and what each coordinator would decide now.
func (s *sim) debug() string {
	var b strings.Builder
	for _, id := range s.order {
		fmt.Fprintf(&b, "peer %s alive=%v\n", id, s.nodes[id].Alive)
	}
	for jobID, sj := range s.jobs {
		for _, c := range s.coordinators(jobID) {
			view := s.view(c)
			r := Reconcile(ReconcileInput{Job: sj.job, Stopped: sj.stopped, Allocs: s.allocsView(jobID, view), Nodes: view, Now: s.now})
			fmt.Fprintf(&b, "%s@%s would: %v (count %d, v%d)\n", jobID, c, describe(r), sj.job.Groups[0].Count, sj.job.Version)
		}
	}
	return b.String()
}

func tail(lines []string, n int) string {
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

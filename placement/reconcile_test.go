package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"pgregory.net/rapid"
)

// describe renders a Result as one line per action, the form the tests compare.
func describe(r Result) []string {
	var out []string
	for _, l := range r.MarkLost {
		out = append(out, fmt.Sprintf("lost %s on %s: %s", l.AllocID, l.NodeID, l.Reason))
	}
	for _, s := range r.Stop {
		out = append(out, fmt.Sprintf("stop %s on %s: %s", s.AllocID, s.NodeID, s.Reason))
	}
	for _, p := range r.Place {
		line := fmt.Sprintf("place %s[%d] v%d", p.Group, p.Index, p.JobVersion)
		if p.NodeID != "" {
			line += " on " + p.NodeID
		}
		if p.PreviousAlloc != "" {
			line += " after " + p.PreviousAlloc
		}
		if !p.NotBefore.IsZero() {
			line += " not before +" + p.NotBefore.Sub(t0).String()
		}
		if p.Canary {
			line += " canary"
		}
		out = append(out, line+": "+p.Reason)
	}
	for _, b := range r.Blocked {
		out = append(out, fmt.Sprintf("blocked %s: %s", b.Slot, b.Reason))
	}
	for _, d := range r.Deploying {
		out = append(out, "deploying: "+d)
	}
	if r.Revert != "" {
		out = append(out, "revert: "+r.Revert)
	}
	for _, n := range r.Notes {
		out = append(out, "note: "+n)
	}
	if !r.NextEval.IsZero() {
		out = append(out, "next eval +"+r.NextEval.Sub(t0).String())
	}
	return out
}

// alloc builds an allocation of job web, group api, for the reconcile tables:
// id, slot index, node, status ("running", "pending", "failed", "complete", "lost",
// or "stopped"), and options.
func alloc(id string, index int, node, status string, opts ...func(a *Alloc)) Alloc {
	a := Alloc{ID: id, JobID: "web", Group: "api", Index: index, NodeID: node, JobVersion: 1,
		SpecHash: GroupHash(testJob(1, 100, 128).Groups[0]), DesiredStatus: DesiredRun, ClientStatus: status,
		Resources: jobspec.Resources{CPU: 100, MemoryMB: 128}, CreateTime: t0.Add(-time.Hour), ModifyTime: t0.Add(-time.Minute)}
	if status == ClientRunning {
		a.StartedAt = t0.Add(-time.Hour)
	}
	if status == "stopped" {
		a.DesiredStatus, a.ClientStatus = DesiredStop, ClientComplete
	}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func threePeers() []Node {
	return []Node{sizedNode("n1", 4000, 4096), sizedNode("n2", 4000, 4096), sizedNode("n3", 4000, 4096)}
}

func TestReconcile(t *testing.T) {
	newVersion := func(j *jobspec.Job) {
		j.Version = 2
		j.Groups[0].Tasks[0].Config.Image = "web:2"
		j.Update = &jobspec.Update{MaxParallel: 1, MinHealthyTime: 10 * time.Second}
	}
	nodes := threePeers()
	deadN2 := threePeers()
	deadN2[1].Alive = false
	drainN1 := threePeers()
	drainN1[0].Draining = true
	epoch := func(e Epoch) func(a *Alloc) { return func(a *Alloc) { a.Epoch = e } }

	progress := func(j *jobspec.Job) { j.Update.ProgressDeadline, j.Update.AutoRevert = 10*time.Minute, true }
	emptied := alloc("a0", 0, "n1", "stopped", func(a *Alloc) { a.DesiredDescription = ReasonUpdate })
	tests := []struct {
		name    string
		job     *jobspec.Job
		stopped bool
		purged  bool
		since   time.Time // ReconcileInput.Since
		allocs  []Alloc
		nodes   []Node
		want    []string
	}{
		{name: "new job places every slot", job: testJob(2, 100, 128), nodes: nodes,
			want: []string{"place api[0] v1: slot is empty", "place api[1] v1: slot is empty"}},
		{name: "steady state does nothing", job: testJob(2, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)}},
		{name: "scale down stops highest index first", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning), alloc("a2", 2, "n3", ClientRunning)},
			want:   []string{"stop a2 on n3: count reduced", "stop a1 on n2: count reduced"}},
		{name: "zero count says so", job: testJob(0, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning)},
			want:   []string{"stop a0 on n1: count reduced", `note: group "api" has count 0: nothing to place`}},
		{name: "job stopped", job: testJob(2, 100, 128), stopped: true, nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", "stopped")},
			want:   []string{"stop a0 on n1: job stopped"}},
		{name: "job purged", job: testJob(2, 100, 128), purged: true, nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientPending)},
			want:   []string{"stop a0 on n1: job purged"}},
		{name: "dead peer: lost and replaced at once", job: testJob(2, 100, 128), nodes: deadN2,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)},
			want:   []string{"lost a1 on n2: peer is down", "place api[1] v1 after a1: replaces a lost allocation"}},
		{name: "vanished peer counts as dead", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "gone", ClientRunning)},
			want:   []string{"lost a0 on gone: peer is down", "place api[0] v1 after a0: replaces a lost allocation"}},
		{name: "failed service alloc rescheduled after its delay", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientFailed, func(a *Alloc) { a.ModifyTime = t0 })},
			want:   []string{"place api[0] v1 after a0 not before +30s: reschedules a failed allocation", "next eval +30s"}},
		{name: "failed batch alloc out of attempts", job: testJob(1, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch }), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientFailed, func(a *Alloc) { a.Reschedules = []time.Time{t0.Add(-time.Hour)} })},
			want:   []string{"blocked web/api[0]: reschedule attempts exhausted (1 of 1 within 24h0m0s)"}},
		{name: "completed batch slot is done", job: testJob(1, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch }), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientComplete)}},
		{name: "batch slot stopped by a scale-down runs again on scale-up", job: testJob(1, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch }), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", "stopped")},
			want:   []string{"place api[0] v1 after a0: slot is empty"}},
		{name: "batch slot completed under an older spec runs again", nodes: nodes,
			job: testJob(1, 100, 128, func(j *jobspec.Job) {
				j.Type, j.Version = jobspec.TypeBatch, 2
				j.Groups[0].Tasks[0].Config.Image = "v2"
			}),
			allocs: []Alloc{alloc("a0", 0, "n1", ClientComplete)},
			want:   []string{"place api[0] v2 after a0: slot is empty"}},
		{name: "completed service slot is refilled", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientComplete)},
			want:   []string{"place api[0] v1 after a0: slot is empty"}},
		{name: "doubled slot: higher epoch survives", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("old", 0, "n1", ClientRunning, epoch(1)), alloc("new", 0, "n2", ClientRunning, epoch(2))},
			want:   []string{"stop old on n1: duplicate slot: another allocation outranks it"}},
		{name: "doubled slot: loser kept until survivor runs", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("old", 0, "n1", ClientRunning, epoch(1)), alloc("new", 0, "n2", ClientPending, epoch(2))}},
		{name: "draining peer: replacement first", job: testJob(1, 100, 128), nodes: drainN1,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning)},
			want:   []string{"place api[0] v1 after a0: peer is draining"}},
		{name: "draining peer: old stops once replacement runs", job: testJob(1, 100, 128), nodes: drainN1,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("b0", 0, "n2", ClientRunning)},
			want:   []string{"stop a0 on n1: peer is draining"}},
		{name: "new version rolls one at a time", job: testJob(2, 100, 128, newVersion), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)},
			want:   []string{"stop a0 on n1: replaced by a new job version", "place api[0] v2 after a0: replaced by a new job version"}},
		{name: "rolling update waits for the new one to be healthy", job: testJob(2, 100, 128, newVersion), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(testJob(2, 100, 128, newVersion).Groups[0]), t0.Add(-4*time.Second)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"next eval +6s"}},
		{name: "with service checks, a running replacement waits for its checks", job: withChecks(newVersion), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(withChecks(newVersion).Groups[0]), t0.Add(-time.Minute)
			}), alloc("a1", 1, "n2", ClientRunning)}},
		{name: "with service checks, min_healthy_time counts from the checks passing", job: withChecks(newVersion), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(withChecks(newVersion).Groups[0]), t0.Add(-time.Minute)
				a.ChecksPassingSince = t0.Add(-3 * time.Second)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"next eval +7s"}},
		{name: "with service checks passing long enough, the rollout goes on", job: withChecks(newVersion), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(withChecks(newVersion).Groups[0]), t0.Add(-time.Minute)
				a.ChecksPassingSince = t0.Add(-11 * time.Second)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"stop a1 on n2: replaced by a new job version", "place api[1] v2 after a1: replaced by a new job version"}},
		{name: "health_check task_states ignores the checks", nodes: nodes,
			job: withChecks(newVersion, func(j *jobspec.Job) { j.Update.HealthCheck = "task_states" }),
			allocs: []Alloc{alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(withChecks(newVersion).Groups[0]), t0.Add(-time.Minute)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"stop a1 on n2: replaced by a new job version", "place api[1] v2 after a1: replaced by a new job version"}},
		{name: "a failed replacement pauses the rollout", job: testJob(2, 100, 128, newVersion), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientFailed, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.ModifyTime = 2, GroupHash(testJob(2, 100, 128, newVersion).Groups[0]), t0
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"place api[0] v2 after b0 not before +30s: reschedules a failed allocation",
				"blocked web/api[1]: rolling update paused: web/api[0] (b0) of the new version failed", "next eval +30s"}},
		{name: "with auto_revert, a failed replacement asks to revert", job: testJob(2, 100, 128, newVersion, func(j *jobspec.Job) { j.Update.AutoRevert = true }), nodes: nodes,
			allocs: []Alloc{alloc("b0", 0, "n3", ClientFailed, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.ModifyTime = 2, GroupHash(testJob(2, 100, 128, newVersion).Groups[0]), t0
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"place api[0] v2 after b0 not before +30s: reschedules a failed allocation",
				"blocked web/api[1]: rolling update paused: web/api[0] (b0) of the new version failed",
				"revert: web/api[0] (b0) of the new version failed", "next eval +30s"}},
		{name: "an older version's failure with the same spec does not stop the rollout of a version that brings that spec back",
			job: testJob(2, 100, 128, func(j *jobspec.Job) {
				j.Version = 4 // the spec of version 1 again (an auto_revert)
				j.Update = &jobspec.Update{MaxParallel: 1, MinHealthyTime: 10 * time.Second, AutoRevert: true}
			}), nodes: nodes,
			allocs: []Alloc{
				alloc("old-failure", 0, "n1", ClientFailed), // version 1, long ago, rescheduled since
				alloc("a0", 0, "n2", ClientRunning),         // version 1's spec, still serving
				alloc("bad1", 1, "n3", ClientRunning, func(a *Alloc) { // the failed version 3
					a.JobVersion, a.SpecHash = 3, GroupHash(testJob(2, 100, 128, newVersion).Groups[0])
				}),
			},
			want: []string{"stop bad1 on n3: replaced by a new job version", "place api[1] v4 after bad1: replaced by a new job version"}},
		{name: "a replacement unhealthy past its deadline pauses the rollout", nodes: nodes,
			job: testJob(2, 100, 128, newVersion, func(j *jobspec.Job) { j.Update.HealthyDeadline = time.Minute }),
			allocs: []Alloc{alloc("b0", 0, "n3", ClientPending, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.CreateTime = 2, GroupHash(testJob(2, 100, 128, newVersion).Groups[0]), t0.Add(-2*time.Minute)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"blocked web/api[1]: rolling update paused: web/api[0] (b0) of the new version not healthy within healthy_deadline 1m0s"}},
		{name: "no progress within progress_deadline fails the rollout, and auto_revert undoes it", nodes: nodes,
			job: testJob(2, 100, 128, newVersion, progress), since: t0.Add(-11 * time.Minute),
			allocs: []Alloc{emptied, alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"place api[0] v2 after a0: slot is empty",
				"blocked web/api[1]: rolling update failed: no allocation of version 2 turned healthy within progress_deadline 10m0s",
				"revert: no allocation of version 2 turned healthy within progress_deadline 10m0s"}},
		{name: "a rollout within its progress_deadline waits for its emptied slot, and to check the deadline", nodes: nodes,
			job: testJob(2, 100, 128, newVersion, progress), since: t0.Add(-5 * time.Minute),
			allocs: []Alloc{emptied, alloc("a1", 1, "n2", ClientRunning)},
			want:   []string{"place api[0] v2 after a0: slot is empty", "next eval +5m0s"}},
		{name: "a version no peer could take pauses the rollout, and fails it by its progress_deadline", nodes: nodes,
			job: testJob(2, 100, 1<<20, newVersion, progress), since: t0.Add(-11 * time.Minute),
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"blocked web/api[0]: rolling update failed: no allocation of version 2 turned healthy within progress_deadline 10m0s",
				"revert: no allocation of version 2 turned healthy within progress_deadline 10m0s"}},
		{name: "a version no peer could take replaces nothing", nodes: nodes,
			job: testJob(2, 100, 1<<20, newVersion, progress), since: t0.Add(-time.Minute),
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)},
			want:   []string{"blocked web/api[0]: rolling update paused: no peer could run the new version: 3 peers are too small for 1048576 MiB memory", "next eval +9m0s"}},
		{name: "a new allocation turning healthy restarts the progress_deadline", nodes: nodes,
			job: testJob(2, 100, 128, newVersion, progress), since: t0.Add(-20 * time.Minute),
			allocs: []Alloc{emptied, alloc("b0", 0, "n3", ClientRunning, func(a *Alloc) {
				a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(testJob(2, 100, 128, newVersion).Groups[0]), t0.Add(-3*time.Minute)
			}), alloc("a1", 1, "n2", ClientRunning)},
			want: []string{"stop a1 on n2: replaced by a new job version", "place api[1] v2 after a1: replaced by a new job version", "next eval +7m10s"}},
		{name: "ineligible peer keeps its allocation", job: testJob(1, 100, 128),
			nodes:  func() []Node { ns := threePeers(); ns[0].Eligible = false; return ns }(),
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning)}},
		{name: "version bump that leaves the group alone replaces nothing", job: testJob(2, 100, 128, func(j *jobspec.Job) { j.Version = 7 }), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning)}},
		{name: "group removed", job: testJob(1, 100, 128), nodes: nodes,
			allocs: []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("x0", 0, "n2", ClientRunning, func(a *Alloc) { a.Group = "old" })},
			want:   []string{"stop x0 on n2: group removed from the job"}},
		{name: "no job", nodes: nodes, want: []string{"note: no job: nothing to reconcile"}},
		{name: "empty cluster still asks for placements", job: testJob(1, 100, 128),
			want: []string{"place api[0] v1: slot is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(Reconcile(ReconcileInput{Job: tt.job, Stopped: tt.stopped, Purged: tt.purged, Since: tt.since, Allocs: tt.allocs, Nodes: tt.nodes, Now: t0}))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestReconcileSystem(t *testing.T) {
	system := func(j *jobspec.Job) { j.Type = jobspec.TypeSystem }
	nodes := threePeers()
	nodes = append(nodes, sizedNode("n4", 4000, 4096))
	nodes[2].Eligible = false
	nodes[3].Datacenter = "dc9"
	sys := func(id, node, status string) Alloc {
		return alloc(id, 0, node, status)
	}
	tests := []struct {
		name   string
		allocs []Alloc
		nodes  []Node
		want   []string
	}{
		{"one per fitting peer", nil, nodes, []string{"place api[0] v1 on n1: slot is empty", "place api[0] v1 on n2: slot is empty"}},
		{"ineligible peer keeps its copy", []Alloc{sys("s1", "n1", ClientRunning), sys("s2", "n2", ClientRunning), sys("s3", "n3", ClientRunning)}, nodes, nil},
		{"draining peer stops its copy", []Alloc{sys("s1", "n1", ClientRunning), sys("s2", "n2", ClientRunning)},
			func() []Node { ns := slices.Clone(nodes); ns[1].Draining = true; return ns }(),
			[]string{"stop s2 on n2: peer no longer fits the system job: is draining"}},
		{"peer outside the datacenters stops its copy", []Alloc{sys("s1", "n1", ClientRunning), sys("s2", "n2", ClientRunning), sys("s4", "n4", ClientRunning)}, nodes,
			[]string{"stop s4 on n4: peer no longer fits the system job: is not in datacenter dc1"}},
		{"new peer gets one", []Alloc{sys("s1", "n1", ClientRunning)}, nodes, []string{"place api[0] v1 on n2: slot is empty"}},
		{"failed copy is not rescheduled", []Alloc{sys("s1", "n1", ClientRunning), sys("s2", "n2", ClientFailed)}, nodes,
			[]string{"blocked web/api[0] on n2: failed on this peer; system jobs are not rescheduled until the job changes"}},
		{"dead peer's copy is lost, not replaced", []Alloc{sys("s1", "n1", ClientRunning), sys("s2", "n2", ClientRunning)},
			func() []Node { ns := slices.Clone(nodes); ns[1].Alive = false; return ns }(), []string{"lost s2 on n2: peer is down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(Reconcile(ReconcileInput{Job: testJob(1, 100, 128, system), Allocs: tt.allocs, Nodes: tt.nodes, Now: t0}))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// Reconcile's result does not depend on the order of its inputs.
func TestReconcileOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := threePeers()
		nodes[1].Alive = rapid.Bool().Draw(t, "n2alive")
		var allocs []Alloc
		statuses := []string{ClientRunning, ClientPending, ClientFailed, ClientComplete, ClientLost, "stopped"}
		for i := range rapid.IntRange(0, 8).Draw(t, "allocs") {
			allocs = append(allocs, alloc(fmt.Sprintf("a%d", i), rapid.IntRange(0, 3).Draw(t, "index"),
				rapid.SampledFrom([]string{"n1", "n2", "n3", "gone"}).Draw(t, "node"),
				rapid.SampledFrom(statuses).Draw(t, "status"), func(a *Alloc) { a.Epoch = Epoch(rapid.IntRange(0, 2).Draw(t, "epoch")) }))
		}
		job := testJob(rapid.IntRange(0, 3).Draw(t, "count"), 100, 128)
		want := describe(Reconcile(ReconcileInput{Job: job, Allocs: allocs, Nodes: nodes, Now: t0}))
		got := describe(Reconcile(ReconcileInput{Job: job, Allocs: rapid.Permutation(allocs).Draw(t, "a"),
			Nodes: rapid.Permutation(nodes).Draw(t, "n"), Now: t0}))
		if !slices.Equal(got, want) {
			t.Fatalf("input order changed the result:\n%v\n%v", want, got)
		}
	})
}

// withChecks is testJob(2, 100, 128, opts...) with an http check on its group.
func withChecks(opts ...func(*jobspec.Job)) *jobspec.Job {
	j := testJob(2, 100, 128, opts...)
	j.Groups[0].Services = []jobspec.Service{{Name: "api", Port: "http",
		Checks: []jobspec.Check{{Name: "alive", Type: "http", Path: "/", Interval: time.Second, Timeout: time.Second}}}}
	return j
}

// Canary rollouts (update.canary): new-version allocations beside the old ones, nothing
// replaced until promotion, by a user or by auto_promote once every canary is healthy.
func TestReconcileCanary(t *testing.T) {
	v2 := func(opts ...func(*jobspec.Update)) func(j *jobspec.Job) {
		return func(j *jobspec.Job) {
			j.Version = 2
			j.Groups[0].Tasks[0].Config.Image = "web:2"
			j.Update = &jobspec.Update{MaxParallel: 1, MinHealthyTime: 10 * time.Second, Canary: 1}
			for _, o := range opts {
				o(j.Update)
			}
		}
	}
	auto := func(u *jobspec.Update) { u.AutoPromote = true }
	blueGreen := func(u *jobspec.Update) { u.Canary = 3 }
	deadline := func(u *jobspec.Update) { u.HealthyDeadline = time.Minute }
	// canary is a v2 canary allocation in slot index, started `age` ago.
	canary := func(id string, index int, node, status string, age time.Duration) Alloc {
		return alloc(id, index, node, status, func(a *Alloc) {
			a.JobVersion, a.SpecHash, a.Canary = 2, GroupHash(testJob(3, 100, 128, v2()).Groups[0]), true
			a.CreateTime, a.StartedAt = t0.Add(-age), t0.Add(-age)
			if status != ClientRunning {
				a.StartedAt = time.Time{}
			}
		})
	}
	old := []Alloc{alloc("a0", 0, "n1", ClientRunning), alloc("a1", 1, "n2", ClientRunning), alloc("a2", 2, "n3", ClientRunning)}
	with := func(extra ...Alloc) []Alloc { return append(slices.Clone(old), extra...) }
	tests := []struct {
		name     string
		job      *jobspec.Job
		allocs   []Alloc
		promoted bool
		want     []string
	}{
		{name: "a new version places its canary beside the old allocations", job: testJob(3, 100, 128, v2()), allocs: old,
			want: []string{"place api[0] v2 canary: canary of a new job version",
				"deploying: group \"api\": 0 of 1 canaries of version 2 healthy; promote with: peer job promote web"}},
		{name: "a healthy canary waits for promotion and replaces nothing", job: testJob(3, 100, 128, v2()),
			allocs: with(canary("c0", 0, "n2", ClientRunning, time.Minute)),
			want:   []string{"deploying: group \"api\": 1 of 1 canaries of version 2 healthy; promote with: peer job promote web"}},
		{name: "promoted: the canary's slot drops its old allocation and the rollout goes on", job: testJob(3, 100, 128, v2()),
			allocs: with(canary("c0", 0, "n2", ClientRunning, time.Minute)), promoted: true,
			want: []string{"stop a0 on n1: replaced by a promoted canary",
				"stop a1 on n2: replaced by a new job version", "place api[1] v2 after a1: replaced by a new job version"}},
		{name: "auto_promote waits for the canary to be healthy", job: testJob(3, 100, 128, v2(auto)),
			allocs: with(canary("c0", 0, "n2", ClientRunning, 4*time.Second)),
			want: []string{"deploying: group \"api\": 0 of 1 canaries of version 2 healthy; promoted automatically once all are healthy",
				"next eval +6s"}},
		{name: "auto_promote promotes a healthy canary", job: testJob(3, 100, 128, v2(auto)),
			allocs: with(canary("c0", 0, "n2", ClientRunning, time.Minute)),
			want: []string{"stop a0 on n1: replaced by a promoted canary",
				"stop a1 on n2: replaced by a new job version", "place api[1] v2 after a1: replaced by a new job version"}},
		{name: "a failed canary fails the rollout; the old version keeps serving", job: testJob(3, 100, 128, v2()),
			allocs: with(canary("c0", 0, "n2", ClientFailed, time.Minute)),
			want:   []string{"blocked web/api[0]: canary rollout failed: web/api[0] (c0) of the new version failed"}},
		{name: "with auto_revert, a failed canary asks to revert", job: testJob(3, 100, 128, v2(func(u *jobspec.Update) { u.AutoRevert = true })),
			allocs: with(canary("c0", 0, "n2", ClientFailed, time.Minute)),
			want: []string{"blocked web/api[0]: canary rollout failed: web/api[0] (c0) of the new version failed",
				"revert: web/api[0] (c0) of the new version failed"}},
		{name: "a canary not healthy by its deadline fails the rollout", job: testJob(3, 100, 128, v2(deadline)),
			allocs: with(canary("c0", 0, "n2", ClientPending, 2*time.Minute)),
			want:   []string{"blocked web/api[0]: canary rollout failed: web/api[0] (c0) of the new version not healthy within healthy_deadline 1m0s"}},
		{name: "blue/green: as many canaries as the count", job: testJob(3, 100, 128, v2(blueGreen)), allocs: old,
			want: []string{"place api[0] v2 canary: canary of a new job version", "place api[1] v2 canary: canary of a new job version",
				"place api[2] v2 canary: canary of a new job version",
				"deploying: group \"api\": 0 of 3 canaries of version 2 healthy; promote with: peer job promote web"}},
		{name: "a lost canary is replaced by another", job: testJob(3, 100, 128, v2()),
			allocs: with(canary("c0", 0, "n2", ClientLost, time.Minute)),
			want: []string{"place api[0] v2 canary: canary of a new job version",
				"deploying: group \"api\": 0 of 1 canaries of version 2 healthy; promote with: peer job promote web"}},
		{name: "a fresh job places normally whatever its canary setting", job: testJob(2, 100, 128, v2()),
			want: []string{"place api[0] v2: slot is empty", "place api[1] v2: slot is empty"}},
		{name: "once every slot runs the new version the canary setting is idle", job: testJob(1, 100, 128, v2()),
			allocs: []Alloc{canary("c0", 0, "n2", ClientRunning, time.Minute), alloc("a0", 0, "n1", "stopped")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(Reconcile(ReconcileInput{Job: tt.job, Promoted: tt.promoted, Allocs: tt.allocs, Nodes: threePeers(), Now: t0}))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// A version is stable, and so what auto_revert goes back to, once every slot runs it
// healthy.
func TestStable(t *testing.T) {
	v2 := func(j *jobspec.Job) {
		j.Version = 2
		j.Groups[0].Tasks[0].Config.Image = "web:2"
		j.Update = &jobspec.Update{MaxParallel: 1, MinHealthyTime: 10 * time.Second}
	}
	current := func(id string, index int, started time.Duration) Alloc {
		return alloc(id, index, "n1", ClientRunning, func(a *Alloc) {
			a.JobVersion, a.SpecHash, a.StartedAt = 2, GroupHash(testJob(2, 100, 128, v2).Groups[0]), t0.Add(-started)
		})
	}
	tests := []struct {
		name   string
		job    *jobspec.Job
		allocs []Alloc
		want   bool
	}{
		{"every slot runs the version, healthy", testJob(2, 100, 128, v2), []Alloc{current("b0", 0, time.Minute), current("b1", 1, time.Minute)}, true},
		{"stopped old allocations do not count", testJob(2, 100, 128, v2),
			[]Alloc{current("b0", 0, time.Minute), current("b1", 1, time.Minute), alloc("a0", 0, "n2", "stopped")}, true},
		{"an old allocation still runs", testJob(2, 100, 128, v2), []Alloc{current("b0", 0, time.Minute), alloc("a1", 1, "n2", ClientRunning)}, false},
		{"a new allocation not yet healthy for min_healthy_time", testJob(2, 100, 128, v2), []Alloc{current("b0", 0, time.Minute), current("b1", 1, 4*time.Second)}, false},
		{"a slot is empty", testJob(2, 100, 128, v2), []Alloc{current("b0", 0, time.Minute)}, false},
		{"batch jobs are never stable", testJob(1, 100, 128, v2, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch }), []Alloc{current("b0", 0, time.Minute)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Stable(tt.job, tt.allocs, t0); got != tt.want {
				t.Errorf("Stable = %v, want %v", got, tt.want)
			}
		})
	}
}

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

// Options of alloc for the collection tables: when an allocation was created and
// when it became terminal (before t0), its job version and spec, its epoch.
func created(ago time.Duration) func(*Alloc) { return func(a *Alloc) { a.CreateTime = t0.Add(-ago) } }
func ended(ago time.Duration) func(*Alloc)   { return func(a *Alloc) { a.ModifyTime = t0.Add(-ago) } }
func epochOf(e Epoch) func(*Alloc)           { return func(a *Alloc) { a.Epoch = e } }
func ofVersion(j *jobspec.Job) func(*Alloc) {
	return func(a *Alloc) { a.JobVersion, a.SpecHash = j.Version, GroupHash(j.Groups[0]) }
}

func TestCollect(t *testing.T) {
	service := testJob(2, 100, 128)
	batch := testJob(2, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch })
	system := testJob(1, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeSystem })
	v2 := testJob(2, 100, 128, func(j *jobspec.Job) {
		j.Version = 2
		j.Groups[0].Tasks[0].Config.Image = "web:2"
	})
	hour := time.Hour
	policy := GCPolicy{Threshold: hour, MaxAllocs: 50}
	// Two running allocations of the job's epoch: the epoch rule stays out of the way.
	live := []Alloc{alloc("r0", 0, "n2", ClientRunning, epochOf(1), created(10*time.Minute)),
		alloc("r1", 1, "n2", ClientRunning, epochOf(1), created(10*time.Minute))}

	tests := []struct {
		name   string
		job    *jobspec.Job
		policy GCPolicy
		own    []Alloc // this peer's (n1) allocations
		others []Alloc // the rest of the cluster's
		want   []string
	}{
		{name: "superseded failed allocation collected once terminal for the threshold", job: service,
			own: []Alloc{
				alloc("f-old", 0, "n1", ClientFailed, created(3*hour), ended(2*hour)),
				alloc("f-young", 1, "n1", ClientFailed, created(3*hour), ended(59*time.Minute)),
			},
			others: live, want: []string{"f-old"}},
		{name: "stopped allocations collected, oldest first", job: service,
			own: []Alloc{
				alloc("s-b", 0, "n1", "stopped", created(3*hour), ended(90*time.Minute)),
				alloc("s-a", 1, "n1", "stopped", created(3*hour), ended(3*hour)),
			},
			others: live, want: []string{"s-a", "s-b"}},
		{name: "over the maximum: the oldest collectable go first, down to the maximum", job: service,
			policy: GCPolicy{Threshold: hour, MaxAllocs: 2},
			own: []Alloc{
				alloc("kept", 0, "n1", ClientFailed, created(time.Minute), ended(time.Second)), // the slot's newest: counts, stays
				alloc("s3", 0, "n1", "stopped", created(30*time.Minute), ended(3*time.Minute)),
				alloc("s1", 0, "n1", "stopped", created(30*time.Minute), ended(5*time.Minute)),
				alloc("s4", 1, "n1", "stopped", created(30*time.Minute), ended(2*time.Minute)),
				alloc("s2", 1, "n1", "stopped", created(30*time.Minute), ended(4*time.Minute)),
			},
			others: live, want: []string{"s1", "s2", "s3"}},
		{name: "at the maximum and young: nothing", job: service, policy: GCPolicy{Threshold: hour, MaxAllocs: 2},
			own: []Alloc{
				alloc("s1", 0, "n1", "stopped", created(30*time.Minute), ended(5*time.Minute)),
				alloc("s2", 1, "n1", "stopped", created(30*time.Minute), ended(4*time.Minute)),
				alloc("running", 1, "n1", ClientRunning, created(4*time.Minute)),
			},
			others: live},
		{name: "the newest failed allocation of an empty slot stays: its reschedule history", job: service,
			own: []Alloc{
				alloc("f1", 0, "n1", ClientFailed, created(5*hour), ended(4*hour)),
				alloc("f2", 0, "n1", ClientFailed, created(3*hour), ended(2*hour)),
			},
			others: live[1:], want: []string{"f1"}},
		{name: "a newer allocation on another peer supersedes", job: service,
			own:    []Alloc{alloc("f1", 0, "n1", ClientFailed, created(5*hour), ended(4*hour))},
			others: []Alloc{alloc("f2", 0, "n2", ClientFailed, epochOf(1), created(3*hour), ended(2*hour)), live[1]},
			want:   []string{"f1"}},
		{name: "the newest lost allocation of an empty slot stays", job: service,
			own: []Alloc{alloc("l1", 0, "n1", ClientLost, created(5*hour), ended(4*hour))}, others: live[1:]},
		{name: "a stopped newest allocation goes: its slot is placed either way", job: service,
			own: []Alloc{alloc("s1", 0, "n1", "stopped", created(5*hour), ended(4*hour))}, others: live[1:], want: []string{"s1"}},
		{name: "a failed newest allocation asked to stop stays", job: system,
			own:    []Alloc{alloc("s1", 0, "n1", ClientFailed, created(5*hour), ended(4*hour), func(a *Alloc) { a.DesiredStatus = DesiredStop })},
			others: live[:1]},
		{name: "a slot beyond the count: stopped ones go", job: testJob(1, 100, 128),
			own: []Alloc{alloc("s1", 1, "n1", "stopped", created(5*hour), ended(4*hour))}, others: live[:1], want: []string{"s1"}},
		{name: "completed batch allocations stay, past the threshold and over the maximum", job: batch,
			policy: GCPolicy{Threshold: hour, MaxAllocs: 1},
			own: []Alloc{
				alloc("c0", 0, "n1", ClientComplete, created(5*hour), ended(4*hour)),
				alloc("c1", 1, "n1", ClientComplete, created(5*hour), ended(4*hour)),
				alloc("c-old", 1, "n1", ClientComplete, created(9*hour), ended(8*hour), ofVersion(v2)),
			}},
		{name: "a batch slot's failed attempts go once it has a newer one", job: batch, policy: GCPolicy{Threshold: hour, MaxAllocs: 1},
			own: []Alloc{
				alloc("f0", 0, "n1", ClientFailed, created(5*hour), ended(4*hour)),
				alloc("c0", 0, "n1", ClientComplete, created(3*hour), ended(2*hour)),
				alloc("s1", 1, "n1", "stopped", created(3*hour), ended(time.Minute)),
			},
			others: []Alloc{alloc("c1", 1, "n2", ClientComplete, epochOf(1), created(2*hour))},
			want:   []string{"f0", "s1"}},
		{name: "a failed allocation of the new version stays while the rollout is paused", job: v2,
			own: []Alloc{
				alloc("f-new", 0, "n1", ClientFailed, created(5*hour), ended(4*hour), ofVersion(v2)),
				alloc("f-old", 0, "n1", ClientFailed, created(6*hour), ended(5*hour)),
			},
			others: []Alloc{alloc("r0", 0, "n2", ClientRunning, epochOf(1), created(3*hour), ofVersion(v2)),
				alloc("old1", 1, "n2", ClientRunning, epochOf(1), created(9*hour))},
			want: []string{"f-old"}},
		{name: "and goes once the rollout is over", job: v2,
			own: []Alloc{alloc("f-new", 0, "n1", ClientFailed, created(5*hour), ended(4*hour), ofVersion(v2))},
			others: []Alloc{alloc("r0", 0, "n2", ClientRunning, epochOf(1), created(3*hour), ofVersion(v2)),
				alloc("r1", 1, "n2", ClientRunning, epochOf(1), created(3*hour), ofVersion(v2))},
			want: []string{"f-new"}},
		{name: "a system job's failed allocation stays on its peer, older ones go", job: system,
			own: []Alloc{
				alloc("s-f1", 0, "n1", ClientFailed, created(5*hour), ended(4*hour)),
				alloc("s-f2", 0, "n1", ClientFailed, created(3*hour), ended(2*hour)),
			},
			others: []Alloc{alloc("s-n2", 0, "n2", ClientRunning, epochOf(1), created(hour))},
			want:   []string{"s-f1"}},
		{name: "the only carrier of the job's highest epoch stays", job: service,
			own: []Alloc{
				alloc("s-e2", 0, "n1", "stopped", epochOf(2), created(5*hour), ended(4*hour)),
				alloc("s-e1", 1, "n1", "stopped", epochOf(1), created(5*hour), ended(4*hour)),
			},
			others: []Alloc{alloc("r0", 0, "n2", ClientRunning, epochOf(1), created(3*hour)), alloc("r1", 1, "n2", ClientRunning, epochOf(1), created(3*hour))},
			want:   []string{"s-e1"}},
		{name: "a stopped job keeps the newest record of its epoch", job: service,
			own: []Alloc{
				alloc("s0", 0, "n1", "stopped", epochOf(1), created(5*hour), ended(4*hour)),
				alloc("s1", 1, "n1", "stopped", epochOf(1), created(5*hour), ended(4*hour)),
				alloc("s-older", 1, "n1", "stopped", created(9*hour), ended(8*hour)),
			},
			want: []string{"s-older", "s0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p == (GCPolicy{}) {
				p = policy
			}
			all := append(slices.Clone(tt.own), tt.others...)
			in := GCInput{Own: tt.own, Jobs: map[string]*jobspec.Job{"web": tt.job},
				Allocs: map[string][]Alloc{"web": all}, Policy: p, Now: t0}
			got := Collect(in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("collected %v, want %v", got, tt.want)
			}
			// Any order of the inputs, same answer.
			slices.Reverse(in.Own)
			slices.Reverse(in.Allocs["web"])
			if again := Collect(in); !slices.Equal(again, got) {
				t.Fatalf("inputs reversed: collected %v, then %v", got, again)
			}
		})
	}
	t.Run("a job the catalog no longer holds is not judged here", func(t *testing.T) {
		own := []Alloc{alloc("s1", 0, "n1", "stopped", created(5*hour), ended(4*hour))}
		got := Collect(GCInput{Own: own, Jobs: map[string]*jobspec.Job{}, Policy: GCPolicy{Threshold: time.Second}, Now: t0})
		if len(got) != 0 {
			t.Fatalf("collected %v of an unknown job, want none (purges are node's)", got)
		}
	})
}

// What Collect collects is never read by Reconcile: with or without it, every
// reconciliation decides the same (up to the allocation a placement says it replaces).
func TestCollectChangesNoDecision(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := threePeers()
		typ := rapid.SampledFrom([]string{jobspec.TypeService, jobspec.TypeBatch, jobspec.TypeSystem}).Draw(t, "type")
		old := testJob(2, 100, 128, func(j *jobspec.Job) { j.Type = typ })
		job := testJob(rapid.IntRange(0, 3).Draw(t, "count"), 100, 128, func(j *jobspec.Job) {
			j.Type = typ
			if rapid.Bool().Draw(t, "newversion") {
				j.Version = 2
				j.Groups[0].Tasks[0].Config.Image = "web:2"
			}
			if rapid.Bool().Draw(t, "update") {
				j.Update = &jobspec.Update{MaxParallel: 1, MinHealthyTime: 10 * time.Second, AutoRevert: rapid.Bool().Draw(t, "revert"),
					Canary: rapid.IntRange(0, 1).Draw(t, "canary")}
			}
		})
		statuses := []string{ClientRunning, ClientPending, ClientFailed, ClientComplete, ClientLost, "stopped", "stopped-failed"}
		var allocs []Alloc
		for i := range rapid.IntRange(0, 10).Draw(t, "allocs") {
			status := rapid.SampledFrom(statuses).Draw(t, "status")
			a := alloc(fmt.Sprintf("a%d", i), rapid.IntRange(0, 3).Draw(t, "index"), rapid.SampledFrom([]string{"n1", "n2", "n3"}).Draw(t, "node"),
				strings.TrimSuffix(status, "-failed"), epochOf(Epoch(rapid.IntRange(0, 2).Draw(t, "epoch"))),
				created(time.Duration(rapid.IntRange(1, 50).Draw(t, "created"))*time.Minute), ended(time.Duration(rapid.IntRange(0, 60).Draw(t, "ended"))*time.Second))
			if status == "stopped-failed" {
				a.ClientStatus = ClientFailed
			}
			if typ == jobspec.TypeSystem {
				a.Index = 0
			}
			if rapid.Bool().Draw(t, "old") {
				ofVersion(old)(&a)
			} else {
				ofVersion(job)(&a)
			}
			if a.ClientStatus == ClientFailed {
				a.Reschedules = make([]time.Time, rapid.IntRange(0, 3).Draw(t, "reschedules"))
				for k := range a.Reschedules {
					a.Reschedules[k] = t0.Add(-time.Duration(k+1) * time.Minute)
				}
			}
			allocs = append(allocs, a)
		}
		gone := Collect(GCInput{Own: allocs, Jobs: map[string]*jobspec.Job{"web": job},
			Allocs: map[string][]Alloc{"web": allocs}, Policy: GCPolicy{}, Now: t0})
		var rest []Alloc
		for _, a := range allocs {
			if !slices.Contains(gone, a.ID) {
				rest = append(rest, a)
			}
		}
		decide := func(allocs []Alloc) []string {
			out := describe(Reconcile(ReconcileInput{Job: job, Allocs: allocs, Nodes: nodes, Now: t0}))
			for i, line := range out {
				line = strings.Replace(line, ReasonLost, ReasonMissing, 1)
				if before, after, ok := strings.Cut(line, " after "); ok {
					_, reason, _ := strings.Cut(after, ":")
					line = before + ":" + reason
				}
				out[i] = line
			}
			return out
		}
		if want, got := decide(allocs), decide(rest); !slices.Equal(got, want) {
			t.Fatalf("collecting %v changed the decision:\nwith:    %v\nwithout: %v", gone, want, got)
		}
	})
}

package placement

import (
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestPeriodic(t *testing.T) {
	at := func(min, sec int) time.Time { return time.Date(2026, 11, 30, 4, min, sec, 0, time.UTC) }
	every5 := func(overlap bool) *jobspec.Job {
		return &jobspec.Job{ID: "p", Type: jobspec.TypeBatch, Periodic: &jobspec.Periodic{Specs: []string{"*/5 * * * *"}, ProhibitOverlap: overlap}}
	}
	off := false
	disabled := every5(false)
	disabled.Periodic.Enabled = &off
	tests := []struct {
		name string
		in   PeriodicInput
		want PeriodicResult
	}{
		{name: "a new coordinator waits for the next tick",
			in:   PeriodicInput{Job: every5(false), Since: at(1, 0), Now: at(2, 0)},
			want: PeriodicResult{Next: at(5, 0)}},
		{name: "not due yet",
			in:   PeriodicInput{Job: every5(false), Next: at(5, 0), Since: at(1, 0), Now: at(4, 59)},
			want: PeriodicResult{Next: at(5, 0)}},
		{name: "due: launch it and wait for the one after",
			in:   PeriodicInput{Job: every5(false), Next: at(5, 0), Since: at(1, 0), Now: at(5, 0)},
			want: PeriodicResult{Launch: at(5, 0), Next: at(10, 0)}},
		{name: "a late pass launches the due tick only",
			in:   PeriodicInput{Job: every5(false), Next: at(5, 0), Since: at(1, 0), Now: at(16, 0)},
			want: PeriodicResult{Launch: at(5, 0), Next: at(20, 0)}},
		{name: "overlap allowed: a live child does not matter",
			in:   PeriodicInput{Job: every5(false), Next: at(10, 0), Children: []PeriodicChild{{Launch: at(5, 0), Live: true}}, Now: at(10, 0)},
			want: PeriodicResult{Launch: at(10, 0), Next: at(15, 0)}},
		{name: "prohibit_overlap skips while a child is live",
			in:   PeriodicInput{Job: every5(true), Next: at(10, 0), Children: []PeriodicChild{{Launch: at(5, 0), Live: true}}, Now: at(10, 0)},
			want: PeriodicResult{Skipped: at(10, 0), Next: at(15, 0)}},
		{name: "prohibit_overlap launches once the children are done",
			in:   PeriodicInput{Job: every5(true), Next: at(10, 0), Children: []PeriodicChild{{Launch: at(5, 0)}}, Now: at(10, 0)},
			want: PeriodicResult{Launch: at(10, 0), Next: at(15, 0)}},
		{name: "a tick launched already is not launched again",
			in:   PeriodicInput{Job: every5(false), Next: at(10, 0), Children: []PeriodicChild{{Launch: at(10, 0), Live: true}}, Now: at(10, 1)},
			want: PeriodicResult{Next: at(15, 0)}},
		{name: "a takeover launches the first tick missed since the last launch",
			in:   PeriodicInput{Job: every5(false), Children: []PeriodicChild{{Launch: at(5, 0)}}, Since: at(1, 0), Now: at(17, 0)},
			want: PeriodicResult{Launch: at(10, 0), CatchUp: true, Next: at(20, 0)}},
		{name: "a takeover with nothing missed launches nothing",
			in:   PeriodicInput{Job: every5(false), Children: []PeriodicChild{{Launch: at(10, 0)}}, Since: at(1, 0), Now: at(12, 0)},
			want: PeriodicResult{Next: at(15, 0)}},
		{name: "a takeover counts from the submission when nothing was launched",
			in:   PeriodicInput{Job: every5(false), Since: at(1, 0), Now: at(6, 0)},
			want: PeriodicResult{Launch: at(5, 0), CatchUp: true, Next: at(10, 0)}},
		{name: "a takeover's catch-up respects prohibit_overlap",
			in:   PeriodicInput{Job: every5(true), Children: []PeriodicChild{{Launch: at(5, 0), Live: true}}, Since: at(1, 0), Now: at(11, 0)},
			want: PeriodicResult{Skipped: at(10, 0), Next: at(15, 0)}},
		{name: "stopped: nothing, ever",
			in:   PeriodicInput{Job: every5(false), Stopped: true, Next: at(5, 0), Now: at(5, 0)},
			want: PeriodicResult{}},
		{name: "disabled: nothing, ever",
			in:   PeriodicInput{Job: disabled, Next: at(5, 0), Now: at(5, 0)},
			want: PeriodicResult{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Periodic(tc.in)
			if !got.Launch.Equal(tc.want.Launch) || got.CatchUp != tc.want.CatchUp || !got.Skipped.Equal(tc.want.Skipped) || !got.Next.Equal(tc.want.Next) {
				t.Errorf("got  launch %s catch-up %v skipped %s next %s\nwant launch %s catch-up %v skipped %s next %s",
					got.Launch, got.CatchUp, got.Skipped, got.Next, tc.want.Launch, tc.want.CatchUp, tc.want.Skipped, tc.want.Next)
			}
		})
	}
}

func TestPeriodicPurgesOldFinishedChildren(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 30, h, 0, 0, 0, time.UTC) }
	job := &jobspec.Job{ID: "p", Type: jobspec.TypeBatch, Periodic: &jobspec.Periodic{Specs: []string{"@hourly"}}}
	children := []PeriodicChild{
		{Launch: at(1)}, {Launch: at(2), Live: true}, {Launch: at(3)}, {Launch: at(6)}, {Launch: at(7)},
	}
	for _, tc := range []struct {
		name      string
		children  []PeriodicChild
		stopped   bool
		retention time.Duration
		want      []time.Time
	}{
		{name: "finished and older than the retention; a live one stays", children: children, retention: 4 * time.Hour, want: []time.Time{at(1), at(3)}},
		{name: "a stopped parent's children too", children: children, stopped: true, retention: 4 * time.Hour, want: []time.Time{at(1), at(3)}},
		{name: "a stopped parent keeps not even its newest", children: []PeriodicChild{{Launch: at(1)}, {Launch: at(2)}}, stopped: true, retention: time.Hour, want: []time.Time{at(1), at(2)}},
		{name: "the newest child stays however old", children: []PeriodicChild{{Launch: at(1)}, {Launch: at(2)}}, retention: time.Hour, want: []time.Time{at(1)}},
		{name: "no retention: kept for ever", children: children},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Periodic(PeriodicInput{Job: job, Stopped: tc.stopped, Next: at(9), Children: tc.children, Now: at(8), Retention: tc.retention}).Purge
			if len(got) != len(tc.want) {
				t.Fatalf("purge %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Fatalf("purge %v, want %v", got, tc.want)
				}
			}
		})
	}
}

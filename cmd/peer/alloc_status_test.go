package main

import (
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestHookLabel(t *testing.T) {
	g := &jobspec.Group{Tasks: []*jobspec.Task{
		{Name: "web"},
		{Name: "init", Lifecycle: &jobspec.Lifecycle{Hook: jobspec.HookPrestart}},
		{Name: "proxy", Lifecycle: &jobspec.Lifecycle{Hook: jobspec.HookPrestart, Sidecar: true}},
		{Name: "cleanup", Lifecycle: &jobspec.Lifecycle{Hook: jobspec.HookPoststop}},
	}}
	for _, tc := range []struct {
		group      *jobspec.Group
		task, want string
	}{
		{g, "web", ""}, {g, "init", " (prestart)"}, {g, "proxy", " (prestart sidecar)"},
		{g, "cleanup", " (poststop)"}, {g, "gone", ""}, {nil, "init", ""},
	} {
		if got := hookLabel(tc.group, tc.task); got != tc.want {
			t.Errorf("hookLabel(%s) = %q, want %q", tc.task, got, tc.want)
		}
	}
}

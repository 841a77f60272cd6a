package node

import (
	"slices"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/placement"
)

// TestOrphanJobs: allocations of a job the catalog does not hold are stopped only once
// the job has stayed unknown for orphanGrace (a joining peer can see the allocation
// tables before the job catalog), not at first sight, and never once the job is known.
func TestOrphanJobs(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	allocs := map[string][]placement.Alloc{"gone": {{ID: "a"}}, "late": {{ID: "b"}}, "web": {{ID: "c"}}}
	catalog := map[string]bool{"web": true}
	known := func(job string) bool { return catalog[job] }
	unknown := map[string]time.Time{}

	if got := orphanJobs(allocs, known, unknown, t0); len(got) != 0 {
		t.Fatalf("at first sight: %v, want nothing stopped", got)
	}
	if got := orphanJobs(allocs, known, unknown, t0.Add(orphanGrace-time.Second)); len(got) != 0 {
		t.Fatalf("within the grace: %v, want nothing stopped", got)
	}
	catalog["late"] = true // the catalog caught up
	if got := orphanJobs(allocs, known, unknown, t0.Add(orphanGrace)); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("after the grace: %v, want [gone] (late is known now)", got)
	}
	if _, ok := unknown["late"]; ok {
		t.Error("a job known again is still remembered as unknown")
	}
	delete(allocs, "gone") // its allocations stopped and forgotten
	orphanJobs(allocs, known, unknown, t0.Add(orphanGrace+time.Second))
	if len(unknown) != 0 {
		t.Errorf("unknown keeps %v after their allocations went", unknown)
	}
}

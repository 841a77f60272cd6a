package placement

import (
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestJobDone(t *testing.T) {
	batch := testJob(2, 100, 128, func(j *jobspec.Job) { j.Type = jobspec.TypeBatch })
	service := testJob(2, 100, 128)
	periodic := testJob(1, 100, 128, func(j *jobspec.Job) {
		j.Type, j.Periodic = jobspec.TypeBatch, &jobspec.Periodic{}
	})
	hour := time.Hour
	stoppedAt := t0.Add(-3 * hour)
	tests := []struct {
		name      string
		job       *jobspec.Job
		stopped   bool
		stoppedAt time.Time
		allocs    []Alloc
		since     time.Time // zero: not done
	}{
		{name: "stopped, every allocation ended: since the last one ended", job: service, stopped: true, stoppedAt: stoppedAt,
			allocs: []Alloc{alloc("a", 0, "n1", "stopped", ended(2*hour)), alloc("b", 1, "n1", "stopped", ended(hour))},
			since:  t0.Add(-hour)},
		{name: "stopped, allocations ended before the stop: since the stop", job: service, stopped: true, stoppedAt: stoppedAt,
			allocs: []Alloc{alloc("a", 0, "n1", ClientFailed, ended(5*hour))},
			since:  stoppedAt},
		{name: "stopped, one allocation still stopping", job: service, stopped: true, stoppedAt: stoppedAt,
			allocs: []Alloc{alloc("a", 0, "n1", ClientRunning), alloc("b", 1, "n1", "stopped", ended(hour))}},
		{name: "stopped with no allocation: since the stop", job: service, stopped: true, stoppedAt: stoppedAt, since: stoppedAt},
		{name: "stopped before stop times were kept, no allocation: never", job: service, stopped: true},
		{name: "batch, every slot complete: since the last completed", job: batch,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour)), alloc("b", 1, "n1", ClientComplete, ended(hour))},
			since:  t0.Add(-hour)},
		{name: "batch, a slot not placed yet", job: batch,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour))}},
		{name: "batch, a slot failed (for good or awaiting its reschedule)", job: batch,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour)), alloc("b", 1, "n1", ClientFailed, ended(hour))}},
		{name: "batch, a slot complete after an earlier failure", job: batch,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour)), alloc("b-1", 1, "n1", ClientFailed, ended(3*hour)),
				alloc("b-2", 1, "n2", ClientComplete, ended(hour))},
			since: t0.Add(-hour)},
		{name: "batch, still running", job: batch,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour)), alloc("b", 1, "n1", ClientRunning)}},
		{name: "service, every allocation complete: a service is never done unless stopped", job: service,
			allocs: []Alloc{alloc("a", 0, "n1", ClientComplete, ended(2*hour)), alloc("b", 1, "n1", ClientComplete, ended(hour))}},
		{name: "periodic parent: it launches children, it is never done unless stopped", job: periodic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			since, done := JobDone(tc.job, tc.stopped, tc.stoppedAt, tc.allocs)
			if done != !tc.since.IsZero() || !since.Equal(tc.since) {
				t.Errorf("JobDone = %v, %v; want %v, %v", since, done, tc.since, !tc.since.IsZero())
			}
		})
	}
}

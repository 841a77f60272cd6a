package placement

import (
	"sort"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// PeriodicChild is a child job a periodic parent launched, as the catalog shows it.
type PeriodicChild struct {
	Launch time.Time // the tick it was launched for (from its id)
	Live   bool      // pending or running: prohibit_overlap waits for it
}

// PeriodicInput is what the coordinator of a periodic parent knows on one pass.
type PeriodicInput struct {
	Job      *jobspec.Job // the parent
	Stopped  bool         // stopped or purged: it launches nothing more
	Children []PeriodicChild
	// Next is the tick this coordinator waits for, as the last pass returned it;
	// zero when this peer has just started (or taken over) coordinating the job.
	Next time.Time
	// Since is when the parent's current version was submitted: with no child
	// launched after it, the reference for a launch missed before this peer took
	// over (Nomad's periodic launch record starts at the job's registration).
	Since time.Time
	Now   time.Time
	// Retention is how long a finished child stays in the catalog (0: for ever).
	Retention time.Duration
}

// PeriodicResult is what to do now.
type PeriodicResult struct {
	Launch  time.Time // a tick to launch a child for now; zero when none
	CatchUp bool      // Launch makes up for a tick that passed while no peer coordinated the job
	Skipped time.Time // a due tick not launched because a child is live (prohibit_overlap)
	Next    time.Time // the next tick to wait for; zero when the job launches nothing
	// Purge are the ticks of finished children older than Retention, to remove from
	// the catalog (Nomad's job garbage collection). The newest child is kept while
	// the job runs: it tells a coordinator that takes over which tick was launched
	// last. A stopped job launches nothing, so its children all go, and then the job.
	Purge []time.Time
}

// Periodic decides the launches of a periodic parent, as Nomad's periodic
// dispatcher does: at each tick, a child, unless prohibit_overlap holds and an
// earlier child is still pending or running (the tick is skipped, not delayed).
// A coordinator that starts launches the ticks from now on, plus, as Nomad's new
// leader does, one launch for the first tick missed since the last launch; Nomad
// launches that one at the time of the takeover, here it is named by the missed tick,
// so that two peers taking over at once launch the same child. A tick that has a
// child already is never launched again. Periodic is pure.
func Periodic(in PeriodicInput) PeriodicResult {
	p := in.Job.Periodic
	purge := expired(in.Children, in.Now, in.Retention, !in.Stopped)
	if in.Stopped || !p.IsEnabled() {
		return PeriodicResult{Purge: purge}
	}
	res := PeriodicResult{Next: p.Next(in.Now), Purge: purge}
	var due time.Time
	catchUp := in.Next.IsZero() // this peer has just started coordinating the job
	if catchUp {
		last := in.Since
		for _, c := range in.Children {
			if c.Launch.After(last) {
				last = c.Launch
			}
		}
		if m := p.Next(last); !last.IsZero() && !m.IsZero() && !m.After(in.Now) {
			due = m
		}
	} else if !in.Next.After(in.Now) {
		due = in.Next
	}
	if due.IsZero() {
		return res
	}
	live := false
	for _, c := range in.Children {
		if c.Launch.Equal(due) {
			return res // launched already (by this peer or one before it)
		}
		live = live || c.Live
	}
	if p.ProhibitOverlap && live {
		res.Skipped = due
		return res
	}
	res.Launch, res.CatchUp = due, catchUp
	return res
}

// expired lists the finished children launched more than retention before now,
// all but the newest child, oldest first.
func expired(children []PeriodicChild, now time.Time, retention time.Duration, keepNewest bool) []time.Time {
	if retention <= 0 || len(children) == 0 {
		return nil
	}
	var newest time.Time
	if keepNewest {
		for _, c := range children {
			if c.Launch.After(newest) {
				newest = c.Launch
			}
		}
	}
	var out []time.Time
	for _, c := range children {
		if !c.Live && !c.Launch.Equal(newest) && now.Sub(c.Launch) > retention {
			out = append(out, c.Launch)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

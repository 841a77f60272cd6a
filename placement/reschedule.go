package placement

import (
	"strconv"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// maxRescheduleHistory bounds the reschedule times carried from one allocation to its
// replacement: enough to count attempts and grow delays to any MaxDelay.
const maxRescheduleHistory = 32

// reschedulePolicy is the group's policy, or jobspec's default for the job type when a
// job arrived without one (parsed jobs always carry one).
func reschedulePolicy(job *jobspec.Job, g *jobspec.Group) jobspec.ReschedulePolicy {
	if g.Reschedule != nil {
		return *g.Reschedule
	}
	if p := jobspec.DefaultReschedulePolicy(job.Type); p != nil {
		return *p
	}
	return jobspec.ReschedulePolicy{}
}

// rescheduleDecision is what to do about a failed allocation: when its replacement may
// be placed, the history the replacement carries, or why it may not be replaced.
type rescheduleDecision struct {
	notBefore time.Time
	history   []time.Time
	refused   string
}

// decideReschedule applies policy p to failed, which failed at its ModifyTime.
// Attempts counts the reschedules within the last Interval (all of them when Interval
// is 0); the delay grows with the number of earlier reschedules of the slot.
func decideReschedule(p jobspec.ReschedulePolicy, failed *Alloc, now time.Time) rescheduleDecision {
	var recent []time.Time
	for _, t := range failed.Reschedules {
		if p.Interval <= 0 || now.Sub(t) < p.Interval {
			recent = append(recent, t)
		}
	}
	if !p.Unlimited && len(recent) >= p.Attempts {
		return rescheduleDecision{refused: "reschedule attempts exhausted (" + strconv.Itoa(len(recent)) + " of " +
			strconv.Itoa(p.Attempts) + " within " + p.Interval.String() + ")"}
	}
	at := failed.ModifyTime
	if at.IsZero() {
		at = failed.CreateTime
	}
	notBefore := at.Add(rescheduleDelay(p, len(failed.Reschedules)))
	history := append(append([]time.Time(nil), failed.Reschedules...), notBefore)
	if len(history) > maxRescheduleHistory {
		history = history[len(history)-maxRescheduleHistory:]
	}
	return rescheduleDecision{notBefore: notBefore, history: history}
}

// rescheduleDelay is the wait before the (prior+1)-th reschedule of a slot: Delay,
// grown by DelayFunction (constant, exponential or fibonacci), capped by MaxDelay.
func rescheduleDelay(p jobspec.ReschedulePolicy, prior int) time.Duration {
	d := p.Delay
	switch p.DelayFunction {
	case "exponential":
		for range prior {
			if p.MaxDelay > 0 && d >= p.MaxDelay {
				break
			}
			d *= 2
		}
	case "fibonacci":
		prev := time.Duration(0)
		for range prior {
			if p.MaxDelay > 0 && d >= p.MaxDelay {
				break
			}
			prev, d = d, d+prev
		}
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	return d
}

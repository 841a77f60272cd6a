package placement

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestRescheduleDelay(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		p     jobspec.ReschedulePolicy
		prior int
		want  time.Duration
	}{
		{"constant", jobspec.ReschedulePolicy{Delay: 5 * s, DelayFunction: "constant"}, 3, 5 * s},
		{"empty function is constant", jobspec.ReschedulePolicy{Delay: 5 * s}, 3, 5 * s},
		{"exponential first", jobspec.ReschedulePolicy{Delay: 30 * s, DelayFunction: "exponential"}, 0, 30 * s},
		{"exponential third", jobspec.ReschedulePolicy{Delay: 30 * s, DelayFunction: "exponential"}, 2, 120 * s},
		{"exponential capped", jobspec.ReschedulePolicy{Delay: 30 * s, DelayFunction: "exponential", MaxDelay: 100 * s}, 5, 100 * s},
		{"exponential huge history stays capped", jobspec.ReschedulePolicy{Delay: 30 * s, DelayFunction: "exponential", MaxDelay: time.Hour}, 500, time.Hour},
		{"fibonacci", jobspec.ReschedulePolicy{Delay: 10 * s, DelayFunction: "fibonacci"}, 4, 50 * s}, // 10 10 20 30 50
		{"fibonacci capped", jobspec.ReschedulePolicy{Delay: 10 * s, DelayFunction: "fibonacci", MaxDelay: 25 * s}, 4, 25 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rescheduleDelay(tt.p, tt.prior); got != tt.want {
				t.Fatalf("rescheduleDelay(%+v, %d) = %v, want %v", tt.p, tt.prior, got, tt.want)
			}
		})
	}
}

func TestDecideReschedule(t *testing.T) {
	m := time.Minute
	failed := func(history ...time.Time) *Alloc {
		return &Alloc{ClientStatus: ClientFailed, ModifyTime: t0, Reschedules: history}
	}
	limited := jobspec.ReschedulePolicy{Attempts: 2, Interval: 10 * m, Delay: m, DelayFunction: "constant"}
	tests := []struct {
		name      string
		p         jobspec.ReschedulePolicy
		a         *Alloc
		notBefore time.Time
		refused   string
	}{
		{"first failure", limited, failed(), t0.Add(m), ""},
		{"one attempt used", limited, failed(t0.Add(-5 * m)), t0.Add(m), ""},
		{"attempts used up", limited, failed(t0.Add(-5*m), t0.Add(-2*m)), time.Time{}, "reschedule attempts exhausted (2 of 2 within 10m0s)"},
		{"old attempts fall out of the interval", limited, failed(t0.Add(-30*m), t0.Add(-2*m)), t0.Add(m), ""},
		{"unlimited", *jobspec.DefaultReschedulePolicy(jobspec.TypeService), failed(t0, t0, t0, t0), t0.Add(8 * 30 * time.Second * 2), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideReschedule(tt.p, tt.a, t0)
			if !strings.Contains(d.refused, tt.refused) || (tt.refused == "") != (d.refused == "") || !d.notBefore.Equal(tt.notBefore) {
				t.Fatalf("got notBefore %v refused %q, want %v %q", d.notBefore, d.refused, tt.notBefore, tt.refused)
			}
			if d.refused == "" && len(d.history) != len(tt.a.Reschedules)+1 {
				t.Fatalf("history %v: want the old one plus this reschedule", d.history)
			}
		})
	}
}

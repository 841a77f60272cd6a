package placement

import (
	"math"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestAntiAffinityScore(t *testing.T) {
	tests := []struct {
		name       string
		collisions int
		desired    int
		want       float64
		applies    bool
	}{
		{"none here", 0, 4, 0, false},
		{"one here", 1, 4, -0.5, true},
		{"three here", 3, 4, -1, true},
		{"zero count does not divide by zero", 1, 0, -2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := antiAffinityScore(tt.collisions, tt.desired)
			if got != tt.want || ok != tt.applies {
				t.Fatalf("antiAffinityScore(%d, %d) = %v, %v; want %v, %v", tt.collisions, tt.desired, got, ok, tt.want, tt.applies)
			}
		})
	}
}

func TestAffinityAndPenalty(t *testing.T) {
	job := testJob(2, 100, 128, func(j *jobspec.Job) {
		j.Affinities = []jobspec.Affinity{
			{LTarget: "${node.class}", Operand: "=", RTarget: "gpu", Weight: 75},
			{LTarget: "${meta.rack}", Operand: "=", RTarget: "r1", Weight: -25},
		}
	})
	gpu, plain, gpuR1 := testNode(), testNode(), testNode()
	plain.Class = "cpu"
	gpuR1.Meta = map[string]string{"rack": "r1"}
	tests := []struct {
		name      string
		node      Node
		penalized []string
		want      SlotScore
	}{
		{"matches the positive affinity", gpu, nil, SlotScore{0.75, 1}},
		{"matches none: affinity does not apply", plain, nil, SlotScore{}},
		{"matches both", gpuR1, nil, SlotScore{0.5, 1}},
		{"recent failure here", plain, []string{"n1"}, SlotScore{-1, 1}},
		{"recent failure elsewhere", plain, []string{"n9"}, SlotScore{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newScorer(job, job.Groups[0], tt.penalized).fixed(&tt.node)
			if math.Abs(got.Sum-tt.want.Sum) > 1e-9 || got.Scorers != tt.want.Scorers {
				t.Fatalf("fixed = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSpreadScore(t *testing.T) {
	even := []spreadSpec{{attr: "${node.datacenter}", weight: 1, targets: map[string]float64{}}}
	targeted := []spreadSpec{{attr: "${node.datacenter}", weight: 1, targets: map[string]float64{"dc1": 75}, sumPercent: 75}}
	full := []spreadSpec{{attr: "${node.datacenter}", weight: 1, targets: map[string]float64{"dc1": 100}, sumPercent: 100}}
	counts := func(dc1, dc2 int) map[string]map[string]int {
		return map[string]map[string]int{"${node.datacenter}": {"dc1": dc1, "dc2": dc2}}
	}
	at := func(dc string) map[string]string { return map[string]string{"${node.datacenter}": dc} }
	tests := []struct {
		name    string
		specs   []spreadSpec
		props   map[string]string
		counts  map[string]map[string]int
		want    float64
		applies bool
	}{
		{"even: nothing placed yet", even, at("dc1"), counts(0, 0), 0, false},
		{"even: level does not apply", even, at("dc1"), counts(2, 2), 0, false},
		{"even: behind the least used", even, at("dc3"), counts(2, 2), 1, true},
		{"even: ahead of the least used", even, at("dc1"), counts(4, 2), -1, true},
		{"even: at the least used, others ahead", even, at("dc2"), counts(4, 2), 1, true},
		{"target: under its share", targeted, at("dc1"), counts(0, 0), (3 - 1) / 3.0, true},
		{"target: the implicit rest", targeted, at("dc2"), counts(0, 0), 0, false},
		{"target: over the implicit rest", targeted, at("dc2"), counts(0, 1), -1, true},
		{"target: no share left", full, at("dc2"), counts(0, 0), -1, true},
		{"peer lacks the attribute", even, map[string]string{}, counts(1, 1), -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := spreadScore(tt.specs, tt.props, tt.counts, 4)
			if math.Abs(got-tt.want) > 1e-9 || ok != tt.applies {
				t.Fatalf("spreadScore = %v, %v; want %v, %v", got, ok, tt.want, tt.applies)
			}
		})
	}
}

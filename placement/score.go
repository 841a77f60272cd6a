package placement

import (
	"math"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
)

// Scoring ranks feasible peers. Each scorer that applies to a peer yields a score in
// about [-1, 1]; a peer's final score is the mean of those that applied, as Nomad's
// ScoreNormalizationIterator does, so scores from Shoal and Nomad are comparable:
//
//	bin-pack       always     Nomad's ScoreFitBinPack, normalised: fuller peers score higher
//	anti-affinity  if >0 here -(allocations of this job/group on the peer + 1) / count
//	affinity       if any     sum of matching affinity weights / sum of |weights|
//	penalty        if failed  -1 on a peer where this job's group recently failed
//	spread         if any     Nomad's spread boost, by the coordinator (see Award)
//
// The first four need only the peer, so a bidder computes them from its exact state;
// spread needs the whole job's placement, so the coordinator folds it in while awarding.

// SlotScore is the score of a peer taking one more slot: the sum and number of the
// scorers that applied. Keeping them apart lets the coordinator fold in its own scorer
// (spread) before taking the mean.
type SlotScore struct {
	Sum     float64
	Scorers int
}

// Mean is the normalised score: the mean of the scorers that applied (0 if none).
func (s SlotScore) Mean() float64 {
	if s.Scorers == 0 {
		return 0
	}
	return s.Sum / float64(s.Scorers)
}

func (s SlotScore) plus(score float64) SlotScore { return SlotScore{s.Sum + score, s.Scorers + 1} }

// binPackMaxFit is the highest raw ScoreFitBinPack value (a perfectly full peer).
const binPackMaxFit = 18.0

// BinPackScore is Nomad's ScoreFitBinPack normalised to [0, 1]:
// (20 - (10^freeCPU + 10^freeMem)) / 18, where free* is the fraction of the peer's
// capacity still free once used (including the proposed allocation) is taken. A peer
// left exactly full scores 1; an empty one scores about 0.
func BinPackScore(total, used Usage) float64 {
	if total.CPU <= 0 || total.MemoryMB <= 0 {
		return 0
	}
	freeCPU := 1 - float64(used.CPU)/float64(total.CPU)
	freeMem := 1 - float64(used.MemoryMB)/float64(total.MemoryMB)
	score := 20 - (math.Pow(10, freeCPU) + math.Pow(10, freeMem))
	return math.Max(0, math.Min(score, binPackMaxFit)) / binPackMaxFit
}

// antiAffinityScore penalises stacking a job's group on one peer: with collisions
// allocations of the group already there, -(collisions+1)/desired. It applies only
// when collisions > 0 (Nomad's JobAntiAffinityIterator).
func antiAffinityScore(collisions, desired int) (float64, bool) {
	if collisions <= 0 {
		return 0, false
	}
	return -float64(collisions+1) / float64(max(desired, 1)), true
}

// affinity is a compiled jobspec.Affinity.
type affinity struct {
	c      constraint
	weight float64
}

// scorer holds what a group's node-local scoring needs, compiled once per decision.
type scorer struct {
	jobID, group string
	desired      int
	affinities   []affinity
	sumWeights   float64
	penalized    map[string]bool
}

func newScorer(job *jobspec.Job, group *jobspec.Group, penalized []string) *scorer {
	s := &scorer{jobID: job.ID, group: group.Name, desired: group.Count, penalized: make(map[string]bool, len(penalized))}
	for _, id := range penalized {
		s.penalized[id] = true
	}
	for _, list := range [][]jobspec.Affinity{job.Affinities, group.Affinities} {
		for _, a := range list {
			c := compileConstraint(jobspec.Constraint{LTarget: a.LTarget, RTarget: a.RTarget, Operand: a.Operand})
			if c.err != nil || a.Weight == 0 {
				continue // validation rejects these; an unusable affinity only loses its preference
			}
			s.affinities = append(s.affinities, affinity{c, float64(a.Weight)})
			s.sumWeights += math.Abs(float64(a.Weight))
		}
	}
	return s
}

// affinityScore is the weighted share of matching affinities, in [-1, 1]. It applies
// when the job has affinities and the peer matches at least one (as in Nomad).
func (s *scorer) affinityScore(n *Node) (float64, bool) {
	var total float64
	for i := range s.affinities {
		if reason, _ := s.affinities[i].c.check(n); reason == "" {
			total += s.affinities[i].weight
		}
	}
	if total == 0 {
		return 0, false
	}
	return total / s.sumWeights, true
}

// collisions counts the live allocations of the group on the peer.
func (s *scorer) collisions(allocs []Alloc) int {
	c := 0
	for i := range allocs {
		if a := &allocs[i]; !a.Terminal() && a.JobID == s.jobID && a.Group == s.group {
			c++
		}
	}
	return c
}

// slot scores a peer taking one more instance: total is its capacity, used what it will
// hold with this instance, collisions how many of the group it holds before it, and
// fixed the scores that do not change with the number taken (affinity, penalty).
func (s *scorer) slot(total, used Usage, collisions int, fixed SlotScore) SlotScore {
	score := fixed.plus(BinPackScore(total, used))
	if aa, ok := antiAffinityScore(collisions, s.desired); ok {
		score = score.plus(aa)
	}
	return score
}

// fixed scores the parts of a peer's score that do not depend on how many slots it takes.
func (s *scorer) fixed(n *Node) SlotScore {
	var score SlotScore
	if a, ok := s.affinityScore(n); ok {
		score = score.plus(a)
	}
	if s.penalized[n.ID] {
		score = score.plus(-1)
	}
	return score
}

// spreadSpec is a compiled jobspec.Spread.
type spreadSpec struct {
	attr       string
	weight     float64 // this spread's share of all spread weights
	targets    map[string]float64
	sumPercent float64
}

func compileSpreads(job *jobspec.Job, group *jobspec.Group) []spreadSpec {
	var specs []spreadSpec
	var sum float64
	for _, list := range [][]jobspec.Spread{job.Spreads, group.Spreads} {
		for _, sp := range list {
			w := float64(max(sp.Weight, 1))
			spec := spreadSpec{attr: sp.Attribute, weight: w, targets: make(map[string]float64)}
			for _, t := range sp.Targets {
				spec.targets[t.Value] = float64(t.Percent)
				spec.sumPercent += float64(t.Percent)
			}
			specs = append(specs, spec)
			sum += w
		}
	}
	for i := range specs {
		specs[i].weight /= sum
	}
	return specs
}

// spreadScore is Nomad's spread boost for a peer whose attribute values are props,
// given counts (allocations of the group per attribute value, the proposed one not
// included) and desired (the group's count). It applies when the boost is not zero.
func spreadScore(specs []spreadSpec, props map[string]string, counts map[string]map[string]int, desired int) (float64, bool) {
	var total float64
	for _, sp := range specs {
		value, ok := props[sp.attr]
		if !ok {
			total -= sp.weight // the peer lacks the attribute: the largest penalty
			continue
		}
		used := counts[sp.attr]
		if len(sp.targets) == 0 {
			total += sp.weight * evenSpreadBoost(used, value)
			continue
		}
		pct, ok := sp.targets[value]
		if !ok {
			pct = 100 - sp.sumPercent // the implicit "everything else" target
		}
		want := pct / 100 * float64(desired)
		if want <= 0 {
			total -= sp.weight
			continue
		}
		total += sp.weight * (want - float64(used[value]+1)) / want
	}
	return total, total != 0
}

// evenSpreadBoost is Nomad's even-spread boost: positive for a value below the least
// used one, negative above it, and relative to the spread otherwise. One deviation:
// when every value is level Nomad gives every peer -1, which tells peers apart not at
// all but drags each mean down so far that the other scorers (anti-affinity) stop
// mattering; here a level spread does not apply (0).
func evenSpreadBoost(used map[string]int, value string) float64 {
	cur := used[value]
	minC, maxC := 0, 0
	for _, c := range used {
		if c <= 0 {
			continue
		}
		if minC == 0 || c < minC {
			minC = c
		}
		maxC = max(maxC, c)
	}
	switch {
	case minC == 0:
		return 0 // nothing placed yet
	case cur != minC:
		return float64(minC-cur) / float64(minC)
	case minC == maxC:
		return 0
	}
	return float64(maxC-minC) / float64(minC)
}

// propertyValues resolves, on n, every attribute the coordinator scores or limits by
// (spread attributes and distinct_property targets).
func propertyValues(attrs []string, n *Node) map[string]string {
	if len(attrs) == 0 {
		return nil
	}
	props := make(map[string]string, len(attrs))
	for _, a := range attrs {
		if v, ok := resolveTarget(a, n); ok && strings.HasPrefix(a, "${") {
			props[a] = v
		}
	}
	return props
}

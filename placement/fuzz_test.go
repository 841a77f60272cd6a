package placement

import (
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

// FuzzConstraint feeds arbitrary operators, targets and node values through the
// constraint compiler and checker: whatever a job file or a peer's attributes hold,
// feasibility answers with a reason or a pass, and never panics.
//
//	go test ./placement -run '^$' -fuzz FuzzConstraint -fuzztime 1m
func FuzzConstraint(f *testing.F) {
	for _, seed := range [][3]string{
		{"version", ">= 1.2, < 2.0", "1.5.2"}, {"semver", "~> 1.4.0", "1.4.9-rc.1"},
		{"regexp", "^lin(ux)?$", "linux"}, {"set_contains", "a,b", "a,b,c"}, {"<", "10", "9"},
		{"version", "~>", "v"}, {"semver", "", "1..2"}, {"regexp", "(", "x"}, {"is_set", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, op, rtarget, value string) {
		n := Node{ID: "n", Attributes: map[string]string{"x": value}, Alive: true, Eligible: true}
		c := compileConstraint(jobspec.Constraint{LTarget: "${attr.x}", Operand: op, RTarget: rtarget})
		if c.nodeLocal() {
			c.check(&n)
		}
		if v, err := parseVersion(value, op == OpSemver); err == nil {
			if r, err := parseVersionRange(rtarget); err == nil {
				r.allows(v)
			}
		}
	})
}

package placement

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
)

// Constraint operators (jobspec.Constraint.Operand), as in Nomad. An empty operand means "=".
const (
	OpEqual          = "="
	OpEqualAlt       = "=="
	OpIs             = "is"
	OpNotEqual       = "!="
	OpNot            = "not"
	OpLess           = "<"
	OpLessEqual      = "<="
	OpGreater        = ">"
	OpGreaterEqual   = ">="
	OpRegexp         = "regexp"
	OpVersion        = "version"
	OpSemver         = "semver"
	OpSetContains    = "set_contains"
	OpSetContainsAll = "set_contains_all"
	OpSetContainsAny = "set_contains_any"
	OpIsSet          = "is_set"
	OpIsNotSet       = "is_not_set"
	OpDistinctHosts  = "distinct_hosts"
	OpDistinctProp   = "distinct_property"
)

// resolveTarget interpolates one side of a constraint against n. A string that is not
// a ${...} reference is a literal. ok is false when the reference names something n
// does not have (a missing attribute or meta key, or an unknown reference).
func resolveTarget(target string, n *Node) (value string, ok bool) {
	ref, isRef := strings.CutPrefix(target, "${")
	if !isRef || !strings.HasSuffix(ref, "}") {
		return target, true
	}
	ref = ref[:len(ref)-1]
	switch ref {
	case "node.unique.id":
		return n.ID, true
	case "node.unique.name":
		return n.Name, true
	case "node.datacenter":
		return n.Datacenter, true
	case "node.class":
		return n.Class, true
	}
	if k, ok := strings.CutPrefix(ref, "attr."); ok {
		v, ok := n.Attributes[k]
		return v, ok
	}
	if k, ok := strings.CutPrefix(ref, "meta."); ok {
		v, ok := n.Meta[k]
		return v, ok
	}
	if k, ok := strings.CutPrefix(ref, "node.meta."); ok {
		v, ok := n.Meta[k]
		return v, ok
	}
	return "", false
}

// constraint is a jobspec.Constraint compiled once per decision: its regexp or version
// range parsed, or the error that makes it unusable (which rejects every peer, with
// the error as the reason, rather than silently passing them).
type constraint struct {
	jobspec.Constraint
	re      *regexp.Regexp
	version versionRange
	err     error
}

func (c constraint) String() string {
	op := c.Operand
	if op == "" {
		op = OpEqual
	}
	if op == OpIsSet || op == OpIsNotSet || op == OpDistinctHosts {
		return strings.TrimSpace(c.LTarget + " " + op)
	}
	return c.LTarget + " " + op + " " + c.RTarget
}

func compileConstraint(jc jobspec.Constraint) constraint {
	c := constraint{Constraint: jc}
	switch jc.Operand {
	case "", OpEqual, OpEqualAlt, OpIs, OpNotEqual, OpNot, OpLess, OpLessEqual, OpGreater,
		OpGreaterEqual, OpSetContains, OpSetContainsAll, OpSetContainsAny, OpIsSet, OpIsNotSet,
		OpDistinctHosts, OpDistinctProp:
	case OpRegexp:
		c.re, c.err = regexp.Compile(jc.RTarget)
	case OpVersion, OpSemver:
		c.version, c.err = parseVersionRange(jc.RTarget)
	default:
		c.err = fmt.Errorf("unknown operator %q (accepted: =, !=, <, <=, >, >=, regexp, version, semver, set_contains, set_contains_any, is_set, is_not_set, distinct_hosts, distinct_property)", jc.Operand)
	}
	return c
}

// nodeLocal reports whether c can be decided from one peer alone.
func (c *constraint) nodeLocal() bool {
	return c.Operand != OpDistinctHosts && c.Operand != OpDistinctProp
}

// check decides a node-local constraint on n. On failure it returns the reason class
// (shared by every peer failing the same way, so Explain can count them) and a detail.
func (c *constraint) check(n *Node) (reason, detail string) {
	if c.err != nil {
		return "reject invalid constraint " + c.String(), c.err.Error()
	}
	l, lok := resolveTarget(c.LTarget, n)
	switch c.Operand {
	case OpIsSet:
		if !lok {
			return "fail constraint " + c.String(), c.LTarget + " is not set"
		}
		return "", ""
	case OpIsNotSet:
		if lok {
			return "fail constraint " + c.String(), c.LTarget + " is set to " + strconv.Quote(l)
		}
		return "", ""
	}
	if !lok {
		return "lack " + c.LTarget + " for constraint " + c.String(), c.LTarget + " is not set on this peer"
	}
	r, rok := resolveTarget(c.RTarget, n)
	if !rok {
		return "lack " + c.RTarget + " for constraint " + c.String(), c.RTarget + " is not set on this peer"
	}
	if ok, why := compare(c, l, r); !ok {
		return "fail constraint " + c.String(), why
	}
	return "", ""
}

// compare applies c's operator to the resolved values.
func compare(c *constraint, l, r string) (ok bool, why string) {
	why = fmt.Sprintf("%s is %q", c.LTarget, l)
	switch c.Operand {
	case "", OpEqual, OpEqualAlt, OpIs:
		return l == r, why
	case OpNotEqual, OpNot:
		return l != r, why
	case OpLess, OpLessEqual, OpGreater, OpGreaterEqual:
		return ordered(c.Operand, l, r), why
	case OpRegexp:
		return c.re.MatchString(l), why
	case OpVersion, OpSemver:
		v, err := parseVersion(l, c.Operand == OpSemver)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", c.LTarget, err)
		}
		return c.version.allows(v), why
	case OpSetContains, OpSetContainsAll:
		have := splitSet(l)
		for _, want := range splitList(r) {
			if !have[want] {
				return false, fmt.Sprintf("%s (%q) lacks %q", c.LTarget, l, want)
			}
		}
		return true, ""
	case OpSetContainsAny:
		have := splitSet(l)
		for _, want := range splitList(r) {
			if have[want] {
				return true, ""
			}
		}
		return false, why
	}
	return false, "operator " + c.Operand + " is not node-local"
}

// ordered compares numerically when both sides parse as numbers, else lexically.
func ordered(op, l, r string) bool {
	var c int
	lf, lerr := strconv.ParseFloat(l, 64)
	rf, rerr := strconv.ParseFloat(r, 64)
	if lerr == nil && rerr == nil {
		switch {
		case lf < rf:
			c = -1
		case lf > rf:
			c = 1
		}
	} else {
		c = strings.Compare(l, r)
	}
	switch op {
	case OpLess:
		return c < 0
	case OpLessEqual:
		return c <= 0
	case OpGreater:
		return c > 0
	}
	return c >= 0
}

// splitList splits a comma-separated set, in its written order (so that a message
// naming the first missing item is deterministic).
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func splitSet(s string) map[string]bool {
	set := make(map[string]bool)
	for _, item := range splitList(s) {
		set[item] = true
	}
	return set
}

// matchDatacenter reports whether dc matches any of the job's datacenter patterns
// ("*" globs, as in Nomad). No patterns means any datacenter.
func matchDatacenter(patterns []string, dc string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, err := path.Match(p, dc); ok && err == nil {
			return true
		}
	}
	return false
}

package placement

import (
	"fmt"
	"strconv"
	"strings"
)

// A small version comparator for the "version" and "semver" constraint operators,
// covering what job files use: dotted numeric versions with an optional "v" prefix,
// "-prerelease" and "+build" suffixes, and ranges such as ">= 1.2, < 2.0" or "~> 1.4".

type version struct {
	nums []int64
	pre  []string // prerelease identifiers; a prerelease sorts before its release
}

// parseVersion parses s. With strict (semver), exactly major.minor.patch is required.
func parseVersion(s string, strict bool) (version, error) {
	raw := s
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i] // build metadata never affects ordering
	}
	var v version
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.pre = strings.Split(s[i+1:], ".")
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if strict && len(parts) != 3 {
		return v, fmt.Errorf("%q is not a semantic version (want MAJOR.MINOR.PATCH)", raw)
	}
	for _, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q is not a version (want dotted numbers such as 1.2.3)", raw)
		}
		v.nums = append(v.nums, n)
	}
	return v, nil
}

// compareVersions orders a and b; missing numeric segments count as zero.
func compareVersions(a, b version) int {
	for i := range max(len(a.nums), len(b.nums)) {
		x, y := seg(a.nums, i), seg(b.nums, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := range min(len(a.pre), len(b.pre)) {
		if c := comparePre(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return compareInts(int64(len(a.pre)), int64(len(b.pre)))
}

func seg(nums []int64, i int) int64 {
	if i < len(nums) {
		return nums[i]
	}
	return 0
}

// comparePre orders prerelease identifiers as semver does: numeric ones numerically
// and before alphanumeric ones, which compare lexically.
func comparePre(a, b string) int {
	x, xerr := strconv.ParseInt(a, 10, 64)
	y, yerr := strconv.ParseInt(b, 10, 64)
	switch {
	case xerr == nil && yerr == nil:
		return compareInts(x, y)
	case xerr == nil:
		return -1
	case yerr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// versionRange is a conjunction of comparisons: ">= 1.2, < 2.0".
type versionRange []versionBound

type versionBound struct {
	op string
	v  version
}

func parseVersionRange(s string) (versionRange, error) {
	var r versionRange
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		op := "="
		for _, cand := range []string{">=", "<=", "!=", "~>", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(term, cand); ok {
				op, term = cand, strings.TrimSpace(rest)
				break
			}
		}
		v, err := parseVersion(term, false)
		if err != nil {
			return nil, fmt.Errorf("version range %q: %w", s, err)
		}
		if op != "~>" {
			r = append(r, versionBound{op, v})
			continue
		}
		// Pessimistic: "~> 1.2" allows >= 1.2, < 2; "~> 1.2.3" allows >= 1.2.3, < 1.3.
		if len(v.nums) < 2 {
			return nil, fmt.Errorf("version range %q: ~> needs at least MAJOR.MINOR", s)
		}
		upper := version{nums: append([]int64(nil), v.nums[:len(v.nums)-1]...)}
		upper.nums[len(upper.nums)-1]++
		r = append(r, versionBound{">=", v}, versionBound{"<", upper})
	}
	return r, nil
}

func (r versionRange) allows(v version) bool {
	for _, b := range r {
		c := compareVersions(v, b.v)
		var ok bool
		switch b.op {
		case "=":
			ok = c == 0
		case "!=":
			ok = c != 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

package jobspec

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a Diagnostic stops the job (Error) or is advice (Warning),
// for instance a Nomad-only setting that Shoal accepts and ignores.
type Severity int

const (
	// SeverityError makes the job invalid.
	SeverityError Severity = iota
	// SeverityWarning is printed but does not stop the job.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a job. File, Line and Column locate it in the
// user's file (empty/zero for jobs that arrived as JSON); Field names it by path, e.g.
// `group "web" task "srv": resources.memory`; Value is the offending value as written;
// Message says what is wrong and what would be accepted.
type Diagnostic struct {
	Severity Severity `json:"Severity"`
	File     string   `json:"File,omitempty"`
	Line     int      `json:"Line,omitempty"`
	Column   int      `json:"Column,omitempty"`
	Field    string   `json:"Field,omitempty"`
	Value    string   `json:"Value,omitempty"`
	Message  string   `json:"Message"`

	// last asks the position lookup for the last occurrence of Field (duplicates).
	last bool
}

// String renders the diagnostic as `file:line:col: [warning: ]field: message`.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", d.Line, d.Column)
		}
		b.WriteString(": ")
	}
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Diagnostics is every problem found in a job, in file order. As an error it prints
// one problem per line. A Diagnostics value returned as an error always holds at
// least one error-severity entry.
type Diagnostics []Diagnostic

// Error prints every diagnostic, one per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any diagnostic has error severity.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns only the error-severity diagnostics.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns only the warning-severity diagnostics.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Err returns ds as an error when it holds an error, and nil otherwise.
func (ds Diagnostics) Err() error {
	if ds.HasErrors() {
		return ds
	}
	return nil
}

// sortByPosition orders diagnostics by file, line and column; diagnostics without a
// position keep their relative order after the positioned ones of the same file.
func (ds Diagnostics) sortByPosition() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// suggest returns ` (did you mean "x"?)` when one of candidates is close to got, else "".
func suggest(got string, candidates []string) string {
	if best := closest(got, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closest returns the candidate closest to got if it is close enough to be the
// word meant, else "".
func closest(got string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	// Close enough: at most a third of the word wrong (and at least one edit allowed).
	if best == "" || bestDist > max(1, len(best)/3) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b: insertions,
// deletions, substitutions and swaps of adjacent characters (the commonest typo,
// "cuont" for "count") each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j]; three rows suffice.
	prev2, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// acceptedList renders candidates as `a, b or c` for messages.
func acceptedList(candidates []string) string {
	q := make([]string, len(candidates))
	for i, c := range candidates {
		q[i] = fmt.Sprintf("%q", c)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// field joins a block path and a field within it: `group "web"` + `count` ->
// `group "web": count`. Either part may be empty.
func field(block, sub string) string {
	switch {
	case block == "":
		return sub
	case sub == "":
		return block
	}
	return block + ": " + sub
}

// parentField strips the last component of a field path, for position lookup:
// `group "web": network.port "http".static` -> `group "web": network.port "http"`.
// Separators inside quoted labels are ignored. Returns "" at the top.
func parentField(f string) string {
	cut, inQuote := -1, false
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '.' || c == '[' || c == ' ':
			cut = i
		case c == ':':
			cut = i
		}
	}
	if cut <= 0 {
		return ""
	}
	return strings.TrimRight(f[:cut], ": ")
}

// sortedKeys returns the keys of m in order, for deterministic diagnostics.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package shoal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// allowed lists, for each top-level package, the top-level packages of ours it may import
// (shared/DESIGN.md: cmd -> node -> {gossip, placement, exec} -> jobspec).
var allowed = map[string][]string{
	"jobspec":     {},
	"gossip":      {},
	"exec":        {},
	"placement":   {"jobspec"},
	"node":        {"gossip", "placement", "exec", "jobspec"},
	"cmd":         {"node", "gossip", "placement", "exec", "jobspec"},
	"integration": {"node", "gossip", "placement", "exec", "jobspec", "cmd"},
}

const module = "github.com/shoal-sched/shoal"

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		from := top(fields[0])
		if from == "" {
			continue
		}
		ok, known := allowed[from]
		if !known {
			t.Errorf("package %s is not in DESIGN.md's house map; add it to allowed", fields[0])
			continue
		}
		for _, imp := range fields[1:] {
			to := top(imp)
			if to == "" || to == from {
				continue
			}
			if !contains(ok, to) {
				t.Errorf("%s imports %s: %s may import only %v", fields[0], imp, from, ok)
			}
		}
	}
}

// top returns the top-level directory of an import path inside our module, or "".
func top(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

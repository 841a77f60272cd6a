package placement

import (
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

func testNode() Node {
	return Node{
		ID: "n1", Name: "alpha", Datacenter: "eu-west-1", Class: "gpu",
		Attributes: map[string]string{
			"kernel.name": "linux", "cpu.numcores": "16", "driver.versions": "1.2,1.4,2.0",
			"os.version": "22.04", "runc.version": "1.5.2", "zone": "b",
		},
		Meta:     map[string]string{"rack": "r7", "tier": "gold"},
		CPUTotal: 4000, MemoryTotalMB: 8192, CPUFree: 4000, MemoryFreeMB: 8192,
		Alive: true, Eligible: true,
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		name       string
		l, op, r   string
		wantReason string // "" = feasible; otherwise a substring of the reason
	}{
		{"equal attr", "${attr.kernel.name}", "=", "linux", ""},
		{"empty operand is equal", "${attr.kernel.name}", "", "linux", ""},
		{"double equal", "${node.class}", "==", "gpu", ""},
		{"equal fails", "${node.class}", "=", "cpu", "fail constraint ${node.class} = cpu"},
		{"not equal", "${node.datacenter}", "!=", "us-east-1", ""},
		{"unique id", "${node.unique.id}", "=", "n1", ""},
		{"unique name", "${node.unique.name}", "=", "alpha", ""},
		{"meta", "${meta.rack}", "=", "r7", ""},
		{"node.meta alias", "${node.meta.tier}", "=", "gold", ""},
		{"numeric greater", "${attr.cpu.numcores}", ">", "8", ""},
		{"numeric not lexical", "${attr.cpu.numcores}", ">=", "9", ""},
		{"numeric less fails", "${attr.cpu.numcores}", "<", "16", "fail constraint"},
		{"numeric less-equal", "${attr.cpu.numcores}", "<=", "16", ""},
		{"lexical when not numbers", "${meta.rack}", "<", "r8", ""},
		{"regexp", "${attr.kernel.name}", "regexp", "^lin", ""},
		{"regexp fails", "${attr.kernel.name}", "regexp", "^win", "fail constraint"},
		{"bad regexp", "${attr.kernel.name}", "regexp", "(", "reject invalid constraint"},
		{"version range", "${attr.runc.version}", "version", ">= 1.2, < 2.0", ""},
		{"version range fails", "${attr.runc.version}", "version", ">= 1.6", "fail constraint"},
		{"version pessimistic", "${attr.runc.version}", "version", "~> 1.4", ""},
		{"version pessimistic patch", "${attr.runc.version}", "version", "~> 1.5.0", ""},
		{"version pessimistic patch fails", "${attr.os.version}", "version", "~> 21.10.0", "fail constraint"},
		{"bad version range", "${attr.runc.version}", "version", ">= one", "reject invalid constraint"},
		{"semver", "${attr.runc.version}", "semver", ">= 1.5.0-rc.1", ""},
		{"semver needs three parts", "${attr.os.version}", "semver", ">= 1.0.0", "fail constraint"},
		{"set_contains", "${attr.driver.versions}", "set_contains", "1.2,2.0", ""},
		{"set_contains fails", "${attr.driver.versions}", "set_contains", "1.2,3.0", "fail constraint"},
		{"set_contains_any", "${attr.driver.versions}", "set_contains_any", "3.0,1.4", ""},
		{"set_contains_any fails", "${attr.driver.versions}", "set_contains_any", "3.0,4.0", "fail constraint"},
		{"is_set", "${meta.rack}", "is_set", "", ""},
		{"is_set fails", "${meta.gpu}", "is_set", "", "fail constraint ${meta.gpu} is_set"},
		{"is_not_set", "${meta.gpu}", "is_not_set", "", ""},
		{"is_not_set fails", "${meta.rack}", "is_not_set", "", "fail constraint"},
		{"missing attribute names it", "${attr.gpu.model}", "=", "a100", "lack ${attr.gpu.model}"},
		{"missing attribute fails not-equal too", "${attr.gpu.model}", "!=", "a100", "lack ${attr.gpu.model}"},
		{"missing right target", "${attr.kernel.name}", "=", "${meta.kernel}", "lack ${meta.kernel}"},
		{"right target interpolated", "${meta.rack}", "=", "${meta.rack}", ""},
		{"unknown reference", "${bogus.thing}", "=", "x", "lack ${bogus.thing}"},
		{"unknown operator", "${meta.rack}", "~=", "r7", "reject invalid constraint"},
	}
	n := testNode()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compileConstraint(jobspec.Constraint{LTarget: tt.l, Operand: tt.op, RTarget: tt.r})
			reason, detail := c.check(&n)
			if tt.wantReason == "" {
				if reason != "" {
					t.Fatalf("rejected: %s (%s), want feasible", reason, detail)
				}
				return
			}
			if !strings.Contains(reason, tt.wantReason) {
				t.Fatalf("reason = %q (detail %q), want it to contain %q", reason, detail, tt.wantReason)
			}
		})
	}
}

func TestVersionOrdering(t *testing.T) {
	ordered := []string{"0.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2", "v1.10.0", "2.0.0+build.7"}
	for i := 0; i+1 < len(ordered); i++ {
		a, err := parseVersion(ordered[i], false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseVersion(ordered[i+1], false)
		if err != nil {
			t.Fatal(err)
		}
		if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
			t.Errorf("want %s < %s", ordered[i], ordered[i+1])
		}
	}
	a, _ := parseVersion("1.2", false)
	b, _ := parseVersion("1.2.0", false)
	if compareVersions(a, b) != 0 {
		t.Error("1.2 and 1.2.0 must compare equal")
	}
	if _, err := parseVersion("1.2", true); err == nil || !strings.Contains(err.Error(), "MAJOR.MINOR.PATCH") {
		t.Errorf("semver 1.2: err = %v, want one naming MAJOR.MINOR.PATCH", err)
	}
}

func TestStages(t *testing.T) {
	base := testNode()
	mod := func(f func(n *Node)) Node { n := base; f(&n); return n }
	job := &jobspec.Job{ID: "web", Datacenters: []string{"eu-*"}}
	group := &jobspec.Group{Name: "api", Tasks: []*jobspec.Task{{Resources: jobspec.Resources{CPU: 500, MemoryMB: 1024}}},
		Network: &jobspec.Network{Ports: []jobspec.Port{{Label: "http", Static: 8080}}}}
	tests := []struct {
		name   string
		node   Node
		allocs []Alloc
		free   *Usage
		stage  string // "" = feasible
		reason string
	}{
		{"feasible", base, nil, nil, "", ""},
		{"down", mod(func(n *Node) { n.Alive = false }), nil, nil, StageStatus, "are down"},
		{"ineligible", mod(func(n *Node) { n.Eligible = false }), nil, nil, StageStatus, "are ineligible"},
		{"draining", mod(func(n *Node) { n.Draining = true }), nil, nil, StageStatus, "are draining"},
		{"wrong datacenter", mod(func(n *Node) { n.Datacenter = "us-east-1" }), nil, nil, StageDatacenter, "are not in datacenter eu-*"},
		{"too small ever", mod(func(n *Node) { n.MemoryTotalMB = 512 }), nil, nil, StageCapacity, "are too small for 1024 MiB memory"},
		{"lack free cpu", base, nil, &Usage{100, 8192}, StageCapacity, "lack free cpu"},
		{"lack free memory", base, nil, &Usage{4000, 100}, StageCapacity, "lack free memory"},
		{"static port held", base, []Alloc{{JobID: "other", Group: "g", DesiredStatus: DesiredRun, ClientStatus: ClientRunning, Ports: []int{8080}}}, nil, StagePorts, "have static port 8080 in use"},
		{"static port freed by terminal alloc", base, []Alloc{{JobID: "other", Group: "g", DesiredStatus: DesiredStop, ClientStatus: ClientComplete, Ports: []int{8080}}}, nil, "", ""},
		{"static port held while stopping", base, []Alloc{{JobID: "other", Group: "g", DesiredStatus: DesiredStop, ClientStatus: ClientRunning, Ports: []int{8080}}}, nil, StagePorts, "have static port 8080 in use"},
	}
	s := NewStack(job, group)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			free := FreeResources(tt.node, tt.allocs)
			if tt.free != nil {
				free = *tt.free
			}
			rej, ok := s.CheckLocal(&tt.node, tt.allocs, free, nil)
			if tt.stage == "" {
				if !ok {
					t.Fatalf("rejected: %v", rej)
				}
				return
			}
			if ok || rej.Stage != tt.stage || rej.Reason != tt.reason {
				t.Fatalf("got ok=%v %+v, want stage %q reason %q", ok, rej, tt.stage, tt.reason)
			}
		})
	}
}

func TestDistinctHosts(t *testing.T) {
	n := testNode()
	running := []Alloc{{JobID: "web", Group: "api", DesiredStatus: DesiredRun, ClientStatus: ClientRunning}}
	otherGroup := []Alloc{{JobID: "web", Group: "db", DesiredStatus: DesiredRun, ClientStatus: ClientRunning}}
	g := &jobspec.Group{Name: "api"}
	groupLevel := NewStack(&jobspec.Job{ID: "web"}, &jobspec.Group{Name: "api", Constraints: []jobspec.Constraint{{Operand: OpDistinctHosts, RTarget: "true"}}})
	jobLevel := NewStack(&jobspec.Job{ID: "web", Constraints: []jobspec.Constraint{{Operand: OpDistinctHosts}}}, g)
	none := NewStack(&jobspec.Job{ID: "web"}, g)
	tests := []struct {
		name   string
		s      *Stack
		allocs []Alloc
		want   bool
	}{
		{"group level, same group here", groupLevel, running, false},
		{"group level, other group here", groupLevel, otherGroup, true},
		{"job level, other group here", jobLevel, otherGroup, false},
		{"no constraint", none, running, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej, ok := tt.s.CheckLocal(&n, tt.allocs, FreeResources(n, tt.allocs), nil)
			if ok != tt.want {
				t.Fatalf("ok = %v (%v), want %v", ok, rej, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	rejs := []Rejection{
		{NodeID: "a", Reason: "lack free memory"},
		{NodeID: "b", Reason: "fail constraint ${node.class} = gpu"},
		{NodeID: "c", Reason: "lack free memory"},
		{NodeID: "d", Reason: "fail constraint ${node.class} = gpu"},
		{NodeID: "e", Reason: "lack free memory"},
		{NodeID: "f", Reason: "are down"},
	}
	want := "3 peers lack free memory, 2 peers fail constraint ${node.class} = gpu, 1 peer is down"
	if got := Explain(rejs); got != want {
		t.Fatalf("Explain =\n  %q\nwant\n  %q", got, want)
	}
	if got := Explain(nil); got != "" {
		t.Fatalf("Explain(nil) = %q, want empty", got)
	}
}

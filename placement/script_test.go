package placement

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/shoal-sched/shoal/jobspec"
)

// TestScripts runs the golden multi-round scenarios in testdata/*.txt on the simulator.
// Regenerate the expected output with: go test ./placement -run TestScripts -rewrite
//
// Commands:
//
//	add-nodes count=N [cpu=MHz] [mem=MiB] [dc=DC] [class=C] [attrs=k:v,...] [meta=k:v,...]
//	submit job=ID [type=service|batch|system] [count=N] [cpu=] [mem=] [image=]
//	       [max-parallel=N] [min-healthy=DUR] [port=P] [distinct-hosts] [dc=PATTERN]
//	       [constraint=L,OP,R] [spread=ATTR]                   a resubmit bumps the version
//	submit (input: an HCL job file, parsed by jobspec)
//	stop job=ID
//	fail-node ID | drain ID | fail-alloc slot=JOB/GROUP[I] | complete-alloc slot=...
//	partition (input: one side per line, peer IDs separated by spaces)
//	unaware ID of=ID,...           ID has not heard of those peers (until heal)
//	heal                           partitions end; every peer hears of every other
//	tick [d=DUR]
//	reconcile                      one round on every side
//	stabilize [rounds=N] [step=DUR]
//	coordinator job=ID             the peers that coordinate it in their own view
//	allocs                         the allocation records
//	check                          every slot has exactly one running alloc; no over-commit
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt") // testdata/rapid holds rapid's failure files
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := newSim()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return runCommand(t, s, d)
			})
		})
	}
}

func runCommand(t *testing.T, s *sim, d *datadriven.TestData) string {
	arg := func(key, def string) string {
		if a, ok := d.Arg(key); ok {
			if len(a.Vals) == 0 {
				return "true"
			}
			return strings.Join(a.Vals, ",")
		}
		return def
	}
	num := func(key string, def int) int {
		n, err := strconv.Atoi(arg(key, strconv.Itoa(def)))
		if err != nil {
			t.Fatalf("%s: %s=%q is not a number", d.Pos, key, arg(key, ""))
		}
		return n
	}
	dur := func(key, def string) time.Duration {
		v, err := time.ParseDuration(arg(key, def))
		if err != nil {
			t.Fatalf("%s: %s: %v", d.Pos, key, err)
		}
		return v
	}
	first := func() string {
		if len(d.CmdArgs) == 0 {
			t.Fatalf("%s: %s needs an argument", d.Pos, d.Cmd)
		}
		return d.CmdArgs[0].Key
	}
	switch d.Cmd {
	case "add-nodes":
		var out []string
		for range num("count", 1) {
			id := fmt.Sprintf("n%d", len(s.order)+1)
			n := sizedNode(id, num("cpu", 4000), num("mem", 4096))
			n.Datacenter, n.Class = arg("dc", "dc1"), arg("class", "")
			for _, kv := range strings.Split(arg("attrs", ""), ",") {
				if k, v, ok := strings.Cut(kv, ":"); ok {
					n.Attributes[k] = v
				}
			}
			for _, kv := range strings.Split(arg("meta", ""), ",") {
				if k, v, ok := strings.Cut(kv, ":"); ok {
					n.Meta[k] = v
				}
			}
			s.addNode(n)
			out = append(out, id)
		}
		return strings.Join(out, " ")
	case "submit":
		if strings.TrimSpace(d.Input) != "" {
			return submitHCL(t, s, d)
		}
		id := arg("job", "web")
		j := testJob(num("count", 1), num("cpu", 100), num("mem", 128))
		j.ID, j.Type, j.Datacenters = id, arg("type", jobspec.TypeService), []string{arg("dc", "*")}
		j.Groups[0].Tasks[0].Config.Image = arg("image", "app:1")
		if mp := num("max-parallel", 0); mp > 0 {
			j.Update = &jobspec.Update{MaxParallel: mp, MinHealthyTime: dur("min-healthy", "0s")}
		}
		if p := num("port", 0); p > 0 {
			j.Groups[0].Network = &jobspec.Network{Ports: []jobspec.Port{{Label: "p", Static: p}}}
		}
		if d.HasArg("distinct-hosts") {
			j.Constraints = append(j.Constraints, jobspec.Constraint{Operand: OpDistinctHosts})
		}
		if c := arg("constraint", ""); c != "" {
			parts := strings.SplitN(c, ",", 3)
			j.Constraints = append(j.Constraints, jobspec.Constraint{LTarget: parts[0], Operand: parts[1], RTarget: parts[2]})
		}
		if sp := arg("spread", ""); sp != "" {
			j.Spreads = []jobspec.Spread{{Attribute: sp, Weight: 100}}
		}
		j.Version = 1
		if old, ok := s.jobs[id]; ok {
			j.Version = old.job.Version + 1
		}
		s.jobs[id] = &simJob{job: j}
		return fmt.Sprintf("%s v%d", id, j.Version)
	case "stop":
		s.jobs[arg("job", "web")].stopped = true
		return "ok"
	case "fail-node":
		s.nodes[first()].Alive = false
		return "ok"
	case "drain":
		s.nodes[first()].Draining = true
		return "ok"
	case "fail-alloc", "complete-alloc":
		slot := arg("slot", "")
		for _, a := range s.allocs {
			if a.Slot() == slot && !a.Terminal() {
				a.ClientStatus, a.ModifyTime = ClientFailed, s.now
				if d.Cmd == "complete-alloc" {
					a.ClientStatus = ClientComplete
				}
				return a.ID + " " + a.ClientStatus
			}
		}
		t.Fatalf("%s: no live allocation in slot %q", d.Pos, slot)
	case "partition":
		var sides [][]string
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			sides = append(sides, strings.Fields(line))
		}
		s.partition(sides)
		return "ok"
	case "unaware":
		s.unaware[first()] = append(s.unaware[first()], strings.Split(arg("of", ""), ",")...)
		return "ok"
	case "heal":
		s.heal()
		return "ok"
	case "tick":
		s.tick(dur("d", "10s"))
		return "now +" + s.now.Sub(t0).String()
	case "reconcile":
		lines, _ := s.reconcile(true)
		return lines2out(lines)
	case "stabilize":
		lines, ok := s.stabilize(num("rounds", 10), dur("step", "10s"))
		if !ok {
			lines = append(lines, "DID NOT CONVERGE")
		}
		return lines2out(lines)
	case "coordinator":
		return strings.Join(s.coordinators(arg("job", "web")), " ")
	case "allocs":
		return s.table()
	case "check":
		bad := append(s.slotReport(), s.overCommitted()...)
		if len(bad) == 0 {
			return "ok"
		}
		return strings.Join(bad, "\n")
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// submitHCL submits the job file in the command's input, parsed by jobspec as a user's
// would be. A resubmit of the same ID bumps the version.
func submitHCL(t *testing.T, s *sim, d *datadriven.TestData) string {
	j, err := jobspec.Parse("script.hcl", []byte(d.Input), nil)
	if err != nil {
		return "error: " + err.Error()
	}
	j.Version = 1
	if old, ok := s.jobs[j.ID]; ok {
		j.Version = old.job.Version + 1
	}
	s.jobs[j.ID] = &simJob{job: j}
	return fmt.Sprintf("%s v%d", j.ID, j.Version)
}

func lines2out(lines []string) string {
	if len(lines) == 0 {
		return "no actions"
	}
	return strings.Join(lines, "\n")
}

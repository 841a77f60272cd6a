package node

import (
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

// lcTasks makes a group's tasks from "name:hook" (hook: main, leader (a main task
// with leader = true), prestart, sidecar, poststart, postside, poststop).
func lcTasks(specs ...string) []*jobspec.Task {
	var out []*jobspec.Task
	for _, s := range specs {
		name, h, _ := strings.Cut(s, ":")
		t := &jobspec.Task{Name: name}
		if h == "leader" {
			t.Leader = true
		}
		switch h {
		case "prestart", "poststart", "poststop":
			t.Lifecycle = &jobspec.Lifecycle{Hook: h}
		case "sidecar":
			t.Lifecycle = &jobspec.Lifecycle{Hook: jobspec.HookPrestart, Sidecar: true}
		case "postside":
			t.Lifecycle = &jobspec.Lifecycle{Hook: jobspec.HookPoststart, Sidecar: true}
		}
		out = append(out, t)
	}
	return out
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (a lcActions) String() string {
	var parts []string
	if len(a.start) > 0 {
		parts = append(parts, "start "+strings.Join(a.start, ","))
	}
	if len(a.stop) > 0 {
		parts = append(parts, "stop "+strings.Join(a.stop, ","))
	}
	if len(a.limit) > 0 {
		parts = append(parts, "limit "+strings.Join(a.limit, ","))
	}
	return strings.Join(parts, "; ")
}

// TestLifecycle drives the lifecycle through scripts of what the tasks do ("begin",
// "running T", "completed T", "failed T", "stopped T", "stop" for a stop of the
// allocation, "timeup T" for a limited task's kill_timeout run out) and checks the
// actions after each step and whether it is done at the end.
func TestLifecycle(t *testing.T) {
	all := []string{"init:prestart", "proxy:sidecar", "web:main", "announce:poststart", "log:postside", "cleanup:poststop"}
	tests := []struct {
		name            string
		tasks           []string
		completed, ran  []string // from a record, after a peer restart
		failedBefore    []string // failed for good, from a record after a peer restart
		steps           [][2]string
		failed, stopped bool
	}{
		{name: "no hooks: the main tasks start together", tasks: []string{"a:main", "b:main"},
			steps: [][2]string{{"begin", "start a,b"}, {"running a", ""}, {"completed a", ""}, {"completed b", ""}}},
		{name: "every hook, main completes", tasks: all, steps: [][2]string{
			{"begin", "start init,proxy"},
			{"running init", ""},
			{"running proxy", ""}, // init has not completed: the main task waits
			{"completed init", "start web"},
			{"running web", "start announce,log"},
			{"running announce", ""},
			{"completed announce", ""},
			{"completed web", "start cleanup; stop proxy,log"},
			{"stopped proxy", ""},
			{"stopped log", ""},
			{"completed cleanup", ""},
		}},
		{name: "the main task waits for the sidecar to run", tasks: []string{"init:prestart", "proxy:sidecar", "web:main"}, steps: [][2]string{
			{"begin", "start init,proxy"},
			{"completed init", ""},
			{"running proxy", "start web"},
			{"stop", "stop proxy,web"},
			{"stopped proxy", ""},
			{"stopped web", ""},
		}, stopped: true},
		{name: "a prestart task fails: the main tasks never start, no poststop", tasks: all, steps: [][2]string{
			{"begin", "start init,proxy"},
			{"running proxy", ""},
			{"failed init", "stop proxy"},
			{"stopped proxy", ""},
		}, failed: true},
		{name: "stopped before the main tasks start", tasks: all, steps: [][2]string{
			{"begin", "start init,proxy"},
			{"stop", "stop init,proxy"},
			{"stopped init", ""},
			{"stopped proxy", ""},
		}, stopped: true},
		{name: "stopped while the main task runs: poststop runs", tasks: all, steps: [][2]string{
			{"begin", "start init,proxy"},
			{"completed init", ""},
			{"running proxy", "start web"},
			{"running web", "start announce,log"},
			{"stop", "stop proxy,web,announce,log"},
			{"stopped announce", ""},
			{"stopped web", "start cleanup; limit cleanup"}, // told to stop: the poststop task is limited
			{"stop", ""},
			{"stopped proxy", ""},
			{"stopped log", ""},
			{"completed cleanup", ""},
		}, stopped: true},
		{name: "a main task fails: the others stop, poststop runs", tasks: []string{"a:main", "b:main", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start a,b"},
			{"running a", ""},
			{"running b", ""},
			{"failed a", "stop b"},
			{"stopped b", "start cleanup"},
			{"completed cleanup", ""},
		}, failed: true},
		{name: "poststart waits for every main task", tasks: []string{"a:main", "b:main", "p:poststart"}, steps: [][2]string{
			{"begin", "start a,b"},
			{"running a", ""},
			{"running b", "start p"},
			{"running a", ""}, // restarted: poststart is not started twice
			{"completed p", ""},
			{"stop", "stop a,b"},
			{"stopped a", ""},
			{"stopped b", ""},
		}, stopped: true},
		{name: "restart: completed prestart is not rerun", tasks: all, completed: []string{"init"}, ran: []string{"init", "proxy", "web"},
			steps: [][2]string{
				{"begin", "start proxy,web"},
				{"running proxy", ""},
				{"running web", "start announce,log"},
				{"stop", "stop proxy,web,announce,log"},
				{"stopped proxy", ""}, {"stopped announce", ""}, {"stopped log", ""},
				{"stopped web", "start cleanup; limit cleanup"},
				{"completed cleanup", ""},
			}, stopped: true},
		{name: "restart during prestart: only what did not complete", tasks: []string{"a:prestart", "b:prestart", "web:main"}, completed: []string{"a"}, ran: []string{"a", "b"},
			steps: [][2]string{{"begin", "start b"}, {"completed b", "start web"}, {"completed web", ""}}},
		{name: "restart during poststop: leftovers stop, poststop resumes", tasks: all, completed: []string{"init", "web"}, ran: []string{"init", "proxy", "web", "cleanup"},
			steps: [][2]string{{"begin", "start proxy,cleanup; stop proxy"}, {"stopped proxy", ""}, {"completed cleanup", ""}}},
		{name: "restart with every main task completed: poststop runs", tasks: all, completed: []string{"init", "web", "announce"}, ran: []string{"init", "proxy", "web", "announce"},
			steps: [][2]string{{"begin", "start proxy,cleanup; stop proxy"}, {"stopped proxy", ""}, {"completed cleanup", ""}}},
		{name: "the leader completing stops the other tasks, then poststop runs", tasks: []string{"a:leader", "b:main", "p:sidecar", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start p"},
			{"running p", "start a,b"},
			{"running a", ""},
			{"running b", ""},
			{"completed a", "stop b,p"},
			{"stopped p", ""},
			{"stopped b", "start cleanup"},
			{"completed cleanup", ""},
		}},
		{name: "told to stop: a poststop task still running after its kill_timeout is stopped", tasks: []string{"web:main", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start web"},
			{"running web", ""},
			{"stop", "stop web"},
			{"stopped web", "start cleanup; limit cleanup"},
			{"running cleanup", ""},
			{"timeup cleanup", "stop cleanup"},
			{"timeup cleanup", ""},
			{"stopped cleanup", ""},
		}, stopped: true},
		{name: "told to stop while poststop runs: it is limited from then on", tasks: []string{"web:main", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start web"},
			{"completed web", "start cleanup"}, // not told to stop: no limit
			{"stop", "limit cleanup"},
			{"completed cleanup", ""},
			{"timeup cleanup", ""}, // it had completed
		}, stopped: true},
		{name: "a main task failed: poststop runs without a limit until told to stop", tasks: []string{"a:main", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start a"},
			{"running a", ""},
			{"failed a", "start cleanup"},
			{"stop", "limit cleanup"},
			{"timeup cleanup", "stop cleanup"},
			{"stopped cleanup", ""},
		}, failed: true},
		{name: "restart during poststop after a main task failed: still failed, the failed task is not run again", tasks: []string{"a:main", "b:main", "cleanup:poststop"},
			failedBefore: []string{"a"}, ran: []string{"a", "b", "cleanup"},
			steps: [][2]string{{"begin", "start b,cleanup; stop b"}, {"stopped b", ""}, {"completed cleanup", ""}}, failed: true},
		{name: "restart while the others stop after a main task failed: poststop runs once they have", tasks: []string{"a:main", "b:main", "cleanup:poststop"},
			failedBefore: []string{"a"}, ran: []string{"a", "b"},
			steps: [][2]string{{"begin", "start b; stop b"}, {"stopped b", "start cleanup"}, {"completed cleanup", ""}}, failed: true},
		{name: "restart after a prestart task failed: its sidecar stops, nothing else starts", tasks: all,
			failedBefore: []string{"init"}, ran: []string{"init", "proxy"},
			steps: [][2]string{{"begin", "start proxy; stop proxy"}, {"stopped proxy", ""}}, failed: true},
		{name: "restart after a failure with every task ended: poststop runs", tasks: []string{"a:main", "cleanup:poststop"},
			failedBefore: []string{"a"}, ran: []string{"a"},
			steps: [][2]string{{"begin", "start cleanup"}, {"completed cleanup", ""}}, failed: true},
		{name: "a failing poststop task fails the allocation", tasks: []string{"web:main", "cleanup:poststop"}, steps: [][2]string{
			{"begin", "start web"},
			{"running web", ""},
			{"completed web", "start cleanup"},
			{"failed cleanup", ""},
		}, failed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLifecycle(lcTasks(tc.tasks...), set(tc.completed...), set(tc.failedBefore...), set(tc.ran...))
			for i, st := range tc.steps {
				verb, task, _ := strings.Cut(st[0], " ")
				var a lcActions
				switch verb {
				case "begin":
					a = l.begin()
				case "running":
					a = l.running(task)
				case "completed", "failed", "stopped":
					a = l.ended(task, verb == "completed", verb == "failed")
				case "stop":
					a = l.stop()
				case "timeup":
					a = l.timeUp(task)
				default:
					t.Fatalf("bad step %q", st[0])
				}
				if got := a.String(); got != st[1] {
					t.Fatalf("step %d %q: got %q, want %q", i, st[0], got, st[1])
				}
			}
			if !l.done() {
				t.Errorf("not done after the script; live: %v", l.live)
			}
			if l.failed != tc.failed || l.stopping != (tc.stopped || tc.failed) {
				t.Errorf("failed, stopping = %v, %v; want %v, %v", l.failed, l.stopping, tc.failed, tc.stopped || tc.failed)
			}
		})
	}
}

// Every hook maps to its phase, and only hooks that are not sidecars run to
// completion in a service job.
func TestHookOf(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want hook
		once bool
	}{
		{"a:main", hookMain, false}, {"a:prestart", hookPrestart, true}, {"a:sidecar", hookSidecar, false},
		{"a:poststart", hookPoststart, true}, {"a:postside", hookPostSide, false}, {"a:poststop", hookPoststop, true},
	} {
		h := hookOf(lcTasks(tc.spec)[0])
		if h != tc.want || h.runsToCompletion() != tc.once {
			t.Errorf("%s: hook %d, to completion %v; want %d, %v", tc.spec, h, h.runsToCompletion(), tc.want, tc.once)
		}
	}
}

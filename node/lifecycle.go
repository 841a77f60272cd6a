package node

import "github.com/shoal-sched/shoal/jobspec"

// lifecycle decides when each task of one allocation starts and stops, following
// Nomad's lifecycle block:
//
//   - prestart tasks run to completion (exit 0) before the main tasks start;
//     prestart sidecars start with them, and run beside the main tasks, which
//     start once they run;
//   - poststart tasks start once every main task has run;
//   - once every main task has ended, sidecars and poststart tasks are stopped and
//     the poststop tasks run to completion;
//   - a task failing for good stops every task but the poststop ones (which still
//     run if a main task ran), and the main tasks never start if they had not;
//   - the leader task (leader = true) ending stops the other tasks;
//   - an allocation told to stop (job stop, peer shutdown) stops the same way, but
//     its poststop tasks run against the clock: the runner stops each one still
//     running after its kill_timeout (lcActions.limit), so a stop always ends.
//
// It is pure: the runner feeds it what its tasks do and carries out the actions it
// returns. It is not safe for concurrent use (the runner's loop owns it).
type lifecycle struct {
	order     []string // task names in the group's order: actions are deterministic
	hooks     map[string]hook
	live      map[string]bool // started and not ended yet
	completed map[string]bool // ran to completion: never started again
	gaveUp    map[string]bool // failed for good: never started again
	ran       map[string]bool // reported running (or found running by recovery)
	stopped   map[string]bool // told to stop
	leader    string          // the group's leader task (leader = true), if any

	mainsStarted, mainsEnded, poststartStarted bool
	stopping, failed                           bool // no task starts but poststop ones; a task failed for good
	told                                       bool // told to stop: poststop tasks are limited
}

// hook is where a task sits in its allocation's lifecycle.
type hook int

const (
	hookMain      hook = iota
	hookPrestart       // to completion, before the main tasks
	hookSidecar        // prestart sidecar: from the start until the main tasks end
	hookPoststart      // to completion, once the main tasks run
	hookPostSide       // poststart sidecar: once the main tasks run, until they end
	hookPoststop       // to completion, after the main tasks
)

func hookOf(t *jobspec.Task) hook {
	l := t.Lifecycle
	switch {
	case l == nil:
		return hookMain
	case l.Hook == jobspec.HookPrestart && l.Sidecar:
		return hookSidecar
	case l.Hook == jobspec.HookPrestart:
		return hookPrestart
	case l.Hook == jobspec.HookPoststart && l.Sidecar:
		return hookPostSide
	case l.Hook == jobspec.HookPoststart:
		return hookPoststart
	case l.Hook == jobspec.HookPoststop:
		return hookPoststop
	}
	return hookMain // validation refuses other hooks
}

// runsToCompletion reports whether a task of this hook ends for good when it exits
// 0 (in a service job; in a batch job every task does).
func (h hook) runsToCompletion() bool {
	return h == hookPrestart || h == hookPoststart || h == hookPoststop
}

// lcActions are what the runner does next: start tasks (adopting a task a restarted
// peer found, if any), then stop tasks (their kill signal, then kill_timeout). The
// tasks in limit (poststop tasks of an allocation told to stop) are stopped once
// they have run for their kill_timeout: the runner then reports timeUp.
type lcActions struct {
	start, stop, limit []string
}

// and is a's actions, then b's.
func (a lcActions) and(b lcActions) lcActions {
	return lcActions{start: append(a.start, b.start...), stop: append(a.stop, b.stop...), limit: append(a.limit, b.limit...)}
}

// newLifecycle makes the lifecycle of an allocation of tasks. After a peer
// restart, completed lists the tasks that already ran to completion, failed those
// that failed for good (the allocation has failed: it resumes stopping), and ran
// the tasks that were started before (from the allocation's record and its
// recovered tasks); all are empty for a new allocation.
func newLifecycle(tasks []*jobspec.Task, completed, failed, ran map[string]bool) *lifecycle {
	l := &lifecycle{hooks: map[string]hook{}, live: map[string]bool{}, completed: map[string]bool{}, gaveUp: map[string]bool{},
		ran: map[string]bool{}, stopped: map[string]bool{}}
	for _, t := range tasks {
		l.order = append(l.order, t.Name)
		l.hooks[t.Name] = hookOf(t)
		l.completed[t.Name] = completed[t.Name]
		l.gaveUp[t.Name] = failed[t.Name]
		l.ran[t.Name] = ran[t.Name]
		if t.Leader {
			l.leader = t.Name
		}
		if failed[t.Name] {
			l.failed, l.stopping = true, true
		}
	}
	return l
}

// any reports whether some task of one of the hooks satisfies f.
func (l *lifecycle) any(f func(string) bool, hooks ...hook) bool {
	for _, name := range l.tasks(hooks...) {
		if f(name) {
			return true
		}
	}
	return false
}

// allRan reports whether every task of the hooks has run (or completed).
func (l *lifecycle) allRan(hooks ...hook) bool {
	return !l.any(func(n string) bool { return !l.ran[n] && !l.completed[n] }, hooks...)
}

// anyLive reports whether a task of the hooks is live.
func (l *lifecycle) anyLive(hooks ...hook) bool {
	return l.any(func(n string) bool { return l.live[n] }, hooks...)
}

// tasks lists the tasks of the hooks, in the group's order.
func (l *lifecycle) tasks(hooks ...hook) []string {
	var out []string
	for _, name := range l.order {
		for _, h := range hooks {
			if l.hooks[name] == h {
				out = append(out, name)
			}
		}
	}
	return out
}

// begin returns the tasks to start first. A restarted peer resumes where its
// allocation was: in the poststop phase if a poststop task had started (the other
// tasks it still finds are stopped), stopping if a task had failed for good (the
// poststop tasks then run once the main tasks have ended, if one ran), with the
// main tasks if one had started, else from the prestart tasks (those that
// completed are not run again).
func (l *lifecycle) begin() lcActions {
	ran := func(name string) bool { return l.ran[name] }
	switch {
	case l.any(ran, hookPoststop):
		l.mainsStarted, l.mainsEnded, l.poststartStarted = true, true, true
		a := l.adoptToStop()
		a.start = append(a.start, l.startable(hookPoststop)...)
		l.mark(a.start)
		return a
	case l.failed:
		a := l.adoptToStop()
		l.mark(a.start)
		l.mainsStarted = true
		if !l.any(func(n string) bool { return l.ran[n] || l.completed[n] }, hookMain) {
			l.mainsEnded = true // they never will: no poststop either
		} else if !l.anyLive(hookMain) {
			a = a.and(l.endMains())
		}
		return a
	case l.any(ran, hookMain, hookPoststart, hookPostSide):
		a := lcActions{start: l.startable(hookSidecar)}
		l.mark(a.start)
		a.start = append(a.start, l.startMains()...)
		if !l.anyLive(hookMain) { // every main task had completed
			a = a.and(l.endMains())
		}
		return a
	default:
		a := lcActions{start: l.startable(hookPrestart, hookSidecar)}
		l.mark(a.start)
		a.start = append(a.start, l.maybeStartMains()...)
		return a
	}
}

// adoptToStop lists, to start and stop at once, the tasks but the poststop ones
// that had started and not ended for good: the runner adopts those recovery found
// running, to stop them, and the others end at once.
func (l *lifecycle) adoptToStop() lcActions {
	var a lcActions
	for _, name := range l.order {
		if l.hooks[name] != hookPoststop && l.ran[name] && !l.completed[name] && !l.gaveUp[name] {
			a.start = append(a.start, name)
			a.stop = append(a.stop, name)
			l.stopped[name] = true
		}
	}
	return a
}

// maybeStartMains starts the main tasks once every prestart task has completed and
// every prestart sidecar runs, unless the allocation is stopping.
func (l *lifecycle) maybeStartMains() []string {
	if l.stopping || l.mainsStarted || !l.prestartDone() || !l.allRan(hookSidecar) {
		return nil
	}
	return l.startMains()
}

// startable lists the tasks of the hooks that have not ended for good and are not
// live, in the group's order.
func (l *lifecycle) startable(hooks ...hook) []string {
	var out []string
	for _, name := range l.tasks(hooks...) {
		if !l.completed[name] && !l.gaveUp[name] && !l.live[name] {
			out = append(out, name)
		}
	}
	return out
}

func (l *lifecycle) mark(started []string) {
	for _, name := range started {
		l.live[name] = true
	}
}

func (l *lifecycle) prestartDone() bool {
	return !l.any(func(name string) bool { return !l.completed[name] }, hookPrestart)
}

func (l *lifecycle) startMains() []string {
	l.mainsStarted = true
	s := l.startable(hookMain)
	l.mark(s)
	return s
}

// running records that a task runs: once every prestart sidecar runs (and every
// prestart task completed), the main tasks start; once every main task has run (or
// completed), the poststart tasks start.
func (l *lifecycle) running(name string) lcActions {
	l.ran[name] = true
	if l.hooks[name] == hookSidecar {
		return lcActions{start: l.maybeStartMains()}
	}
	if l.poststartStarted || !l.mainsStarted || l.mainsEnded || l.stopping {
		return lcActions{}
	}
	if !l.allRan(hookMain) {
		return lcActions{}
	}
	l.poststartStarted = true
	a := lcActions{start: l.startable(hookPoststart, hookPostSide)}
	l.mark(a.start)
	return a
}

// ended records that a task ended for good: completed (exit 0 of a task that runs
// to completion), failed (its restart policy is exhausted), or neither (stopped).
func (l *lifecycle) ended(name string, completed, failed bool) lcActions {
	delete(l.live, name)
	if completed {
		l.completed[name] = true
	}
	var a lcActions
	if failed {
		l.gaveUp[name] = true
	}
	if failed && !l.failed {
		l.failed = true
		a = l.halt()
	}
	switch l.hooks[name] {
	case hookPrestart, hookSidecar: // a batch job's sidecar may complete
		a.start = append(a.start, l.maybeStartMains()...)
	case hookMain:
		if name == l.leader && !l.mainsEnded {
			// The leader ended (in a batch job, it completed): the others stop,
			// as in Nomad; the allocation ends as the leader did.
			a.stop = append(a.stop, l.liveExcept(hookPoststop)...)
		}
		if l.mainsStarted && !l.mainsEnded && !l.anyLive(hookMain) {
			a = a.and(l.endMains())
		}
	}
	return a
}

// endMains is what follows the main tasks' end: every other task but the poststop
// ones stops, and the poststop tasks start if a main task ran (limited if the
// allocation was told to stop).
func (l *lifecycle) endMains() lcActions {
	l.mainsEnded = true
	a := lcActions{stop: l.liveExcept(hookPoststop)}
	if l.any(func(n string) bool { return l.ran[n] || l.completed[n] }, hookMain) {
		a.start = l.startable(hookPoststop)
		l.mark(a.start)
		if l.told {
			a.limit = a.start
		}
	}
	return a
}

// stop is the allocation told to stop (job stop, peer shutdown): every live task
// but the poststop ones stops, as in halt, and the poststop tasks, running now or
// once the main tasks have ended, are limited to their kill_timeout.
func (l *lifecycle) stop() lcActions {
	if l.told {
		return lcActions{}
	}
	l.told = true
	a := l.halt()
	for _, name := range l.tasks(hookPoststop) {
		if l.live[name] && !l.stopped[name] {
			a.limit = append(a.limit, name)
		}
	}
	return a
}

// timeUp is a limited poststop task's kill_timeout run out: it stops, if it still
// runs.
func (l *lifecycle) timeUp(name string) lcActions {
	if !l.live[name] || l.stopped[name] {
		return lcActions{}
	}
	l.stopped[name] = true
	return lcActions{stop: []string{name}}
}

// halt stops every live task but the poststop ones; no main or poststart task
// starts from now on. Poststop tasks still run once the main tasks have ended, if
// one of them ran.
func (l *lifecycle) halt() lcActions {
	if l.stopping {
		return lcActions{}
	}
	l.stopping = true
	a := lcActions{stop: l.liveExcept(hookPoststop)}
	if !l.mainsStarted {
		l.mainsStarted, l.mainsEnded = true, true // they never will
	}
	return a
}

// liveExcept lists the live tasks not of hook h that were not told to stop yet,
// and records that they are now.
func (l *lifecycle) liveExcept(h hook) []string {
	var out []string
	for _, name := range l.order {
		if l.live[name] && l.hooks[name] != h && !l.stopped[name] {
			l.stopped[name] = true
			out = append(out, name)
		}
	}
	return out
}

// done reports whether the allocation is over: no task runs and none will start.
func (l *lifecycle) done() bool { return len(l.live) == 0 }

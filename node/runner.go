package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// driver is what a runner needs from exec. *exec.Driver implements it.
type driver interface {
	PrepareImage(ctx context.Context, ref string) (exec.ImageInfo, error)
	Start(ctx context.Context, spec exec.TaskSpec) (*exec.Task, error)
}

// runner runs one local allocation: its tasks through the driver, restarted in place
// per the restart block, with every status change written to the allocation record
// through update. It is owned by the Node: started by startRunner, stopped by stop
// (or by its ctx), and it returns only when every task is gone.
type runner struct {
	allocID   string
	index     int // the allocation's slot in its group (NOMAD_ALLOC_INDEX)
	job       *jobspec.Job
	group     *jobspec.Group
	drv       driver
	update    func(id string, f func(*allocRecord)) // owner-side record update (persist + publish)
	log       *slog.Logger
	now       func() time.Time
	recovered map[string]*exec.Task // task name -> task reattached after a restart
	completed map[string]bool       // tasks that ran to completion before a restart: not run again
	failed    map[string]bool       // tasks that failed for good before a restart: the allocation failed
	ran       map[string]bool       // tasks that had started before a restart (they have a state)
	starts    chan struct{}         // shared by the peer's runners: a slot per concurrent start (nil: unbounded)
	env       map[string]string     // added to every task's env unless the task sets it (NOMAD_PORT_x, ...)
	allocDir  string                // the shared allocation directory on the host, made by run, bound at /alloc ("": none)
	checks    []checkSpec           // the group's service checks, resolved to addresses
	services  serviceLookup         // what templates' nomadService and nomadServices see
	artifacts artifactFetcher       // fetches the tasks' artifacts before each start

	// changes waits until the peer's view of the cluster has changed past an index
	// (nil: templates are rendered only when their task starts).
	changes func(ctx context.Context, after uint64) uint64

	// Bridge network mode (bridge or bridgeErr set): the allocation's namespace on
	// the peer's bridge, made by attach before the first task starts.
	bridge    bridgeNet
	bridgeErr error          // bridge mode, but the peer has no bridge networking
	ports     map[string]int // port label -> host port
	hostIP    string         // the address the host ports are on
	allocIP   string         // the allocation's address on the bridge
	netns     string         // the namespace every task joins

	hostVolumes map[string]placement.HostVolume // the peer's host volumes, for the tasks' volume_mounts

	liveMu sync.Mutex
	live   map[string]liveTask // the tasks running now, by name: alloc restart and signal reach them here

	stopOnce sync.Once
	stopCh   chan struct{} // closed to stop every task
	halted   atomic.Bool   // a task failed for good: the allocation stops (its status stays until run ends it)
	done     chan struct{} // closed when run returns
}

func newRunner(allocID string, job *jobspec.Job, group *jobspec.Group, drv driver, update func(string, func(*allocRecord)), log *slog.Logger) *runner {
	return &runner{
		allocID: allocID, job: job, group: group, drv: drv, update: update,
		log: log.With("alloc", allocID, "job", job.ID, "group", group.Name), now: time.Now,
		recovered: map[string]*exec.Task{}, ran: map[string]bool{}, live: map[string]liveTask{},
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
}

// stop asks every task to stop (kill signal, then SIGKILL after kill_timeout); poststop
// tasks then run, for their kill_timeout at most. It does not wait: wait on r.done.
func (r *runner) stop() { r.stopOnce.Do(func() { close(r.stopCh) }) }

// stopping reports whether the allocation stops: it was told to, or a task failed
// for good.
func (r *runner) stopping() bool {
	if r.halted.Load() {
		return true
	}
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

// taskID is the driver's id of a task of this allocation.
func taskID(allocID, task string) string { return allocID + "-" + task }

// run starts the tasks, in the order of their lifecycle hooks (see lifecycle), and
// supervises them until they are all done. The allocation is complete when every
// task that runs to completion exited 0 (a batch job's main tasks; a service job's
// hook tasks), failed when a task exhausted its restart policy (in mode "fail"), and
// otherwise ends when stopped.
func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	if r.allocDir != "" {
		if err := makeAllocDir(r.allocDir); err != nil {
			r.failSetup(err.Error())
			return
		}
	}
	if r.bridge != nil || r.bridgeErr != nil {
		if err := r.attach(ctx); err != nil {
			r.failSetup("setting up its bridge network: " + err.Error())
			return
		}
	}
	taskCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	checksDone := make(chan struct{})
	go func() { defer close(checksDone); r.runChecks(taskCtx, r.checks) }()

	type event struct {
		task    string
		running bool    // the task runs (again); else it ended for good
		end     taskEnd // how it ended
	}
	events := make(chan event)
	timeUps := make(chan string) // limited poststop tasks whose kill_timeout ran out
	loopDone := make(chan struct{})
	tasks := map[string]*jobspec.Task{}
	for _, t := range r.group.Tasks {
		tasks[t.Name] = t
	}
	ran := maps.Clone(r.ran)
	for name := range r.recovered {
		ran[name] = true
	}
	lc := newLifecycle(r.group.Tasks, r.completed, r.failed, ran)
	if lc.failed {
		r.halted.Store(true) // failed before the peer restarted
	}
	quits := map[string]chan struct{}{} // per live task: closed to stop it
	launched := map[string]bool{}
	outOfTime := map[string]bool{} // limited poststop tasks stopped when their time ran out
	var timers []*time.Timer
	apply := func(a lcActions) {
		for _, name := range a.start {
			quit := make(chan struct{})
			quits[name], launched[name] = quit, true
			t, adopted := tasks[name], r.recovered[name]
			go func() {
				end := r.superviseTask(taskCtx, t, adopted, quit, func() { events <- event{task: name, running: true} })
				events <- event{task: name, end: end}
			}()
		}
		for _, name := range a.stop {
			if q, ok := quits[name]; ok {
				close(q)
				delete(quits, name)
			}
		}
		for _, name := range a.limit {
			timer := time.AfterFunc(tasks[name].KillTimeout, func() {
				select {
				case timeUps <- name:
				case <-loopDone:
				}
			})
			timers = append(timers, timer)
		}
	}
	apply(lc.begin())
	stopCh := r.stopCh
	for !lc.done() {
		select {
		case ev := <-events:
			if ev.running {
				apply(lc.running(ev.task))
				continue
			}
			delete(quits, ev.task)
			if ev.end == endFailed {
				r.halted.Store(true) // one task failing for good fails the whole allocation
			}
			if outOfTime[ev.task] && ev.end == endStopped {
				r.update(r.allocID, func(a *allocRecord) {
					if s, ok := a.TaskStates[ev.task]; ok {
						s.Message = fmt.Sprintf("stopped: still running %s (its kill_timeout) after the allocation was told to stop", tasks[ev.task].KillTimeout)
						a.TaskStates[ev.task] = s
					}
				})
			}
			apply(lc.ended(ev.task, ev.end == endCompleted, ev.end == endFailed))
		case name := <-timeUps:
			a := lc.timeUp(name)
			if len(a.stop) > 0 {
				r.log.Info("poststop task ran out of time: stopping it", "task", name, "kill_timeout", tasks[name].KillTimeout)
				outOfTime[name] = true
			}
			apply(a)
		case <-stopCh:
			stopCh = nil
			apply(lc.stop())
		}
	}
	close(loopDone)
	for _, t := range timers {
		t.Stop()
	}
	// Recovered tasks the lifecycle did not start again: those that completed keep
	// their logs until the allocation is forgotten; any still running goes.
	for name, t := range r.recovered {
		if !launched[name] && taskAlive(t) {
			destroyTasks(map[string]*exec.Task{name: t})
		}
	}
	failed := lc.failed
	cancel()
	<-checksDone
	if r.netns != "" {
		// Before the allocation ends, and so frees its host ports for the next.
		r.detach()
	}
	r.update(r.allocID, func(a *allocRecord) {
		for name, s := range a.TaskStates {
			if s.State == "pending" { // it was to restart (the allocation ended first)
				exit, _, _ := strings.Cut(s.Message, "; restarting in ")
				s.State, s.Message = "dead", exit+"; stopped before its restart"
				a.TaskStates[name] = s
			}
		}
		switch {
		case failed:
			a.ClientStatus = placement.ClientFailed
			a.ClientDescription = descTaskFailed
		case r.stopping() || ctx.Err() != nil:
			if a.ClientStatus != placement.ClientFailed && a.ClientStatus != placement.ClientComplete {
				a.ClientStatus = placement.ClientComplete
				a.ClientDescription = "stopped"
			}
		default:
			a.ClientStatus = placement.ClientComplete
			a.ClientDescription = "all tasks exited successfully"
		}
	})
}

// descTaskFailed describes an allocation that failed because a task did.
const descTaskFailed = "a task failed and its restart policy is exhausted"

// restartPolicy returns the task's policy, else the group's, else Nomad's defaults.
func (r *runner) restartPolicy(t *jobspec.Task) jobspec.RestartPolicy {
	if t.Restart != nil {
		return *t.Restart
	}
	if r.group.Restart != nil {
		return *r.group.Restart
	}
	if r.job.Type == jobspec.TypeBatch {
		return jobspec.RestartPolicy{Attempts: 3, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: "fail"}
	}
	return jobspec.RestartPolicy{Attempts: 2, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: "fail"}
}

// taskEnd is how a supervised task ended for good.
type taskEnd int

const (
	endStopped   taskEnd = iota // told to stop (quit), or the peer is shutting down
	endCompleted                // exited 0, and it runs to completion: not started again
	endFailed                   // its restart policy is exhausted, or it cannot start at all
)

// superviseTask runs one task until it is stopped (quit closed), completes or fails
// for good, and says which. A task runs to completion in a batch job, or when it
// is a lifecycle hook that is not a sidecar; any other task is restarted when it
// exits, per the restart policy. adopted is the task a restarted peer reattached to
// (nil: start one). running is called each time the task runs.
func (r *runner) superviseTask(ctx context.Context, t *jobspec.Task, adopted *exec.Task, quit <-chan struct{}, running func()) taskEnd {
	log := r.log.With("task", t.Name)
	policy := r.restartPolicy(t)
	toCompletion := r.job.Type == jobspec.TypeBatch || hookOf(t).runsToCompletion()
	quitting := func() bool {
		select {
		case <-quit:
			return true
		default:
			return ctx.Err() != nil
		}
	}
	var restarts []time.Time // restarts within the current interval
	total := 0
	completed := false // it ran to completion: recorded in the same update as its last state
	setState := func(f func(*api.TaskState)) {
		r.update(r.allocID, func(a *allocRecord) {
			if completed { // before the status below: it sees the task completed
				if a.Completed == nil {
					a.Completed = map[string]bool{}
				}
				a.Completed[t.Name] = true
			}
			if a.TaskStates == nil {
				a.TaskStates = map[string]api.TaskState{}
			}
			ts := a.TaskStates[t.Name]
			f(&ts)
			ts.Restarts = total
			a.TaskStates[t.Name] = ts
			a.RestartCount = 0
			for _, s := range a.TaskStates {
				a.RestartCount += s.Restarts
			}
			if !r.stopping() { // a stopping allocation stays as it is until run ends it
				a.ClientStatus = aggregateStatus(a.TaskStates, a.Completed, r.group.Tasks, a.ClientStatus)
			}
		})
	}
	var prev *exec.Task      // the last exited task: its container is kept until the next start
	var rendered []exec.File // what its templates rendered when the task started (nil: adopted)
	for {
		// How the last run ended, recorded with what follows it (a restart, or the
		// end for good) in one update: a task's state says "dead" only once it will
		// not run again, and then "failed" only if it failed for good, as in Nomad,
		// so that a restarted peer can tell from the record.
		var ended func(*api.TaskState)
		task := adopted
		adopted = nil
		if task == nil && quitting() {
			return endStopped
		}
		if task == nil {
			if prev != nil { // its local/, secrets/ and logs carry over to the next start
				prev.DestroyKeepDir()
				prev = nil
			}
			var err error
			task, rendered, err = r.start(ctx, t, quit)
			if err != nil {
				log.Warn("task did not start", "err", err)
				ended = func(s *api.TaskState) { s.Message = err.Error() }
				switch {
				case errors.Is(err, errPermanent):
					setState(func(s *api.TaskState) { ended(s); s.State = "dead"; s.Failed = true })
					return endFailed
				case quitting(): // told to stop while it waited to start
					setState(func(s *api.TaskState) { ended(s); s.State = "dead" })
					return endStopped
				}
				goto restart
			}
		}
		setState(func(s *api.TaskState) {
			s.State = "running"
			s.Failed = false
			s.StartedAt = r.now()
			s.Message = ""
		})
		running()
		{
			restart := make(chan string, 1)
			r.setLive(t.Name, liveTask{task, restart})
			stopWatching := r.watch(ctx, t, task, rendered, restart)
			res, why, err := r.wait(ctx, task, quit, restart)
			stopWatching()
			r.setLive(t.Name, liveTask{})
			if quitting() {
				setState(func(s *api.TaskState) { s.State = "dead"; s.FinishedAt = r.now(); s.Message = "stopped" })
				return endStopped
			}
			if why != "" { // not a failure: start it again at once, outside the restart policy
				log.Info("restarting task", "why", why)
				setState(func(s *api.TaskState) { s.State = "dead"; s.FinishedAt = r.now(); s.Message = "restarted: " + why })
				total++
				continue
			}
			msg := fmt.Sprintf("exited with code %d", res.ExitCode)
			if res.OOMKilled {
				msg = "killed: out of memory"
			} else if err != nil {
				msg = err.Error()
			}
			prev = task
			finished := r.now()
			ended = func(s *api.TaskState) { s.ExitCode, s.FinishedAt, s.Message = res.ExitCode, finished, msg }
			if err == nil && res.ExitCode == 0 && !res.OOMKilled && toCompletion {
				completed = true
				setState(func(s *api.TaskState) { ended(s); s.State = "dead"; s.Failed = false })
				return endCompleted
			}
			log.Info("task exited", "exit_code", res.ExitCode, "oom", res.OOMKilled)
		}
	restart:
		now := r.now()
		kept := restarts[:0]
		for _, at := range restarts {
			if now.Sub(at) < policy.Interval {
				kept = append(kept, at)
			}
		}
		restarts = kept
		delay := policy.Delay
		if len(restarts) >= policy.Attempts {
			if policy.Mode != "delay" {
				log.Warn("restart policy exhausted", "attempts", policy.Attempts, "interval", policy.Interval)
				setState(func(s *api.TaskState) {
					ended(s)
					s.State, s.Failed = "dead", true
					s.Message = fmt.Sprintf("%s; restart policy exhausted (%d attempts in %s)", s.Message, policy.Attempts, policy.Interval)
				})
				return endFailed
			}
			delay = policy.Interval - now.Sub(restarts[0]) // mode delay: wait out the interval
			restarts = restarts[:0]
		}
		setState(func(s *api.TaskState) {
			ended(s)
			s.State, s.Failed = "pending", false
			s.Message = fmt.Sprintf("%s; restarting in %s", s.Message, delay.Round(time.Millisecond))
		})
		select {
		case <-time.After(delay):
		case <-quit:
			setState(func(s *api.TaskState) {
				ended(s)
				s.State, s.Message = "dead", s.Message+"; stopped before its restart"
			})
			return endStopped
		case <-ctx.Done():
			return endStopped
		}
		restarts = append(restarts, r.now())
		total++
	}
}

// errPermanent marks a start failure that no restart can fix (a bad task spec).
var errPermanent = errors.New("permanent")

// spec is the driver's spec of task t up to what its templates render with: the
// job's task, the allocation's network and mounts, and the environment (ports, the
// alloc dir, ${NAME} interpolated). It has no side effects: a template watcher asks
// for it too.
func (r *runner) spec(t *jobspec.Task) (exec.TaskSpec, error) {
	spec, err := taskSpec(r.allocID, r.index, r.job, r.group, t)
	if err != nil {
		return spec, fmt.Errorf("%w: %v", errPermanent, err)
	}
	spec.NetNS = r.netns
	if r.netns != "" {
		spec.AllocIP = r.allocIP
	}
	if spec.Mounts, err = taskMounts(r.group, t, r.hostVolumes); err != nil {
		return spec, fmt.Errorf("%w: %v", errPermanent, err)
	}
	for k, v := range r.env {
		if _, set := spec.Env[k]; !set {
			spec.Env[k] = v
		}
	}
	if r.allocDir != "" {
		spec.Mounts = append(spec.Mounts, allocDirMount(r.allocDir))
		if _, set := spec.Env["NOMAD_ALLOC_DIR"]; !set {
			spec.Env["NOMAD_ALLOC_DIR"] = allocDirInTask
		}
	}
	interpolateEnv(&spec)
	return spec, nil
}

// start starts task t, and returns it with the files its templates rendered.
func (r *runner) start(ctx context.Context, t *jobspec.Task, quit <-chan struct{}) (*exec.Task, []exec.File, error) {
	spec, err := r.spec(t)
	if err != nil {
		return nil, nil, err
	}
	if len(t.Artifacts) > 0 {
		// Before the templates, as in Nomad. Stopping the task cancels the download.
		fetchCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-quit:
				cancel()
			case <-fetchCtx.Done():
			}
		}()
		stage, err := r.artifacts.fetch(fetchCtx, t.Name, t.Artifacts, spec.Env)
		cancel()
		select {
		case <-quit:
			if err != nil {
				return nil, nil, errors.New("stopped before it started")
			}
		default:
		}
		if err != nil {
			return nil, nil, err // the restart policy retries, as after a failed image pull
		}
		defer os.RemoveAll(stage) // the driver moved what it holds
		spec.Stage = stage
	}
	files, vars, err := renderTemplates(t.Name, t.Templates, spec.Env, r.services)
	if err != nil {
		return nil, nil, err // the restart policy retries: a service it names may not run yet
	}
	spec.Files = files
	for k, v := range vars {
		spec.Env[k] = v
	}
	if spec.Kind == exec.KindContainer {
		if _, err := r.drv.PrepareImage(ctx, spec.Image); err != nil {
			return nil, nil, fmt.Errorf("preparing image %q: %w", spec.Image, err)
		}
	}
	if r.starts != nil { // bound concurrent container creation (CPU-heavy)
		select {
		case r.starts <- struct{}{}:
			defer func() { <-r.starts }()
		case <-quit:
			return nil, nil, errors.New("stopped before it started")
		}
	}
	task, err := r.drv.Start(ctx, spec)
	return task, files, err
}

// wait waits for the task to exit, stopping it (kill signal, kill_timeout, SIGKILL)
// when quit is closed or a reason to restart it arrives on restart; it returns that
// reason ("" when the task ended by itself or was told to quit).
func (r *runner) wait(ctx context.Context, task *exec.Task, quit <-chan struct{}, restart <-chan string) (exec.ExitResult, string, error) {
	type exit struct {
		res exec.ExitResult
		err error
	}
	ch := make(chan exit, 1)
	go func() {
		res, err := task.Wait(context.Background())
		ch <- exit{res, err}
	}()
	var why string
	select {
	case e := <-ch:
		return e.res, "", e.err
	case <-quit:
	case why = <-restart:
	case <-ctx.Done():
		// The peer is shutting down: leave the task running; a restarted peer
		// reattaches to it (exec Recover).
		return exec.ExitResult{}, "", ctx.Err()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := task.Stop(stopCtx); err != nil {
		r.log.Warn("stopping task", "err", err)
	}
	e := <-ch
	if why != "" {
		task.DestroyKeepDir() // restarted at once: its files and logs carry over
	} else {
		task.Destroy()
	}
	return e.res, why, e.err
}

// aggregateStatus derives an allocation's client status from its tasks' states: it
// runs once every main task runs or has completed, and stays running while one of
// them runs (or, once all completed, until the runner ends it); otherwise it is
// pending. Hook tasks do not count: a prestart task running makes the allocation
// pending, a completed one leaves it to its main tasks, as in Nomad.
func aggregateStatus(states map[string]api.TaskState, completed map[string]bool, tasks []*jobspec.Task, cur string) string {
	if cur == placement.ClientFailed || cur == placement.ClientComplete || cur == placement.ClientLost {
		return cur
	}
	mains, running, done := 0, 0, 0
	for _, t := range tasks {
		if !t.IsMain() {
			continue
		}
		mains++
		switch {
		case completed[t.Name]:
			done++
		case states[t.Name].State == "running":
			running++
		}
	}
	switch {
	case done == mains:
		return cur
	case running+done == mains:
		return placement.ClientRunning
	case cur == placement.ClientRunning && running > 0:
		return placement.ClientRunning
	}
	return placement.ClientPending
}

// taskSpec turns a job's task into the driver's spec. Tasks with network ports use
// the host's network (Nomad's "host" mode), unless their group is in bridge mode:
// then the runner has them join the allocation's namespace (spec.NetNS). Their
// ports' NOMAD_* variables come from the runner (r.env).
func taskSpec(allocID string, index int, job *jobspec.Job, g *jobspec.Group, t *jobspec.Task) (exec.TaskSpec, error) {
	s := exec.TaskSpec{
		ID:          taskID(allocID, t.Name),
		Command:     t.Config.Command,
		Args:        t.Config.Args,
		Entrypoint:  t.Config.Entrypoint,
		WorkDir:     t.Config.WorkDir,
		User:        t.User,
		CPUMHz:      t.Resources.CPU,
		MemoryMB:    t.Resources.MemoryMB,
		MemoryMaxMB: t.Resources.MemoryMaxMB,
		KillSignal:  t.KillSignal,
		KillTimeout: t.KillTimeout,
		Env:         map[string]string{},
	}
	switch t.Driver {
	case jobspec.DriverExec:
		s.Kind = exec.KindExec
	case jobspec.DriverContainer, jobspec.DriverDocker:
		s.Kind = exec.KindContainer
		s.Image = t.Config.Image
	default:
		return s, fmt.Errorf("task %q: driver %q: accepted: exec, container", t.Name, t.Driver)
	}
	if !bridgeMode(g) && (g.Network != nil && (g.Network.Mode == "host" || len(g.Network.Ports) > 0) || len(t.Config.Ports) > 0) {
		s.HostNetwork = true
	}
	if n := g.Network; n != nil {
		s.Hostname = n.Hostname // interpolated with the env, as Nomad's
		if n.DNS != nil {
			dns := exec.DNS(*n.DNS)
			s.DNS = &dns
		}
	}
	if s.Kind == exec.KindContainer {
		dockerOptions(&s, t.Config) // capabilities: what allow_caps refuses, its peer's bid says
	}
	for k, v := range t.Env {
		s.Env[k] = v
	}
	for k, v := range map[string]string{
		"NOMAD_ALLOC_ID": allocID, "NOMAD_JOB_ID": job.ID, "NOMAD_JOB_NAME": job.Name,
		"NOMAD_GROUP_NAME": g.Name, "NOMAD_TASK_NAME": t.Name, "NOMAD_JOB_PARENT_ID": job.ParentID,
		"NOMAD_ALLOC_INDEX": strconv.Itoa(index), "NOMAD_ALLOC_NAME": fmt.Sprintf("%s.%s[%d]", job.ID, g.Name, index),
		"NOMAD_CPU_LIMIT": strconv.Itoa(t.Resources.CPU), "NOMAD_MEMORY_LIMIT": strconv.Itoa(t.Resources.MemoryMB),
	} {
		if _, set := s.Env[k]; !set {
			s.Env[k] = v
		}
	}
	return s, nil
}

// dockerOptions applies the Nomad docker options of a container task's config: its
// hostname and DNS settings take the place of the group network's. The names were
// checked at submit; whether a peer allows the capabilities is that peer's to say
// (capsRefused, as Nomad's allow_caps is the client's).
func dockerOptions(s *exec.TaskSpec, c jobspec.TaskConfig) {
	s.CapAdd, s.CapDrop = c.CapAdd, c.CapDrop
	s.ReadOnlyRoot = c.ReadOnlyRootfs
	s.PidsLimit = int64(c.PidsLimit)
	s.ExtraHosts = c.ExtraHosts
	if c.Hostname != "" {
		s.Hostname = c.Hostname
	}
	if len(c.DNSServers)+len(c.DNSSearchDomains)+len(c.DNSOptions) > 0 {
		dns := exec.DNS{}
		if s.DNS != nil {
			dns = *s.DNS
		}
		over := func(task, group []string) []string { // the task's list, if it sets one
			if len(task) > 0 {
				return task
			}
			return group
		}
		dns.Servers, dns.Searches, dns.Options = over(c.DNSServers, dns.Servers), over(c.DNSSearchDomains, dns.Searches), over(c.DNSOptions, dns.Options)
		s.DNS = &dns
	}
}

// liveTask is a task that runs now, and where to ask for its restart.
type liveTask struct {
	task    *exec.Task
	restart chan<- string // buffered: a restart already asked for is enough
}

// setLive records the task named name as running (lt.task set) or not.
func (r *runner) setLive(name string, lt liveTask) {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	if lt.task == nil {
		delete(r.live, name)
		return
	}
	r.live[name] = lt
}

// askRestart asks for a restart for why, unless one is asked for already.
func askRestart(restart chan<- string, why string) {
	select {
	case restart <- why:
	default:
	}
}

// running returns the live tasks named by name, or every live task when name is "";
// a task of the group that does not run now is an error saying so.
func (r *runner) running(name string) ([]liveTask, error) {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	if name == "" {
		out := make([]liveTask, 0, len(r.live))
		for _, lt := range r.live {
			out = append(out, lt)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no task of allocation %s is running", ErrConflict, r.allocID)
		}
		return out, nil
	}
	if lt, ok := r.live[name]; ok {
		return []liveTask{lt}, nil
	}
	var names []string
	for _, t := range r.group.Tasks {
		names = append(names, t.Name)
	}
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("%w: allocation %s has no task %q; its tasks: %s", ErrNotFound, r.allocID, name, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("%w: task %q of allocation %s is not running", ErrConflict, name, r.allocID)
}

// restartTasks restarts the named task, or every running task when name is "" (alloc
// restart), in place: stopped with its kill signal and started again at once, outside
// its restart policy.
func (r *runner) restartTasks(name, why string) error {
	lts, err := r.running(name)
	for _, lt := range lts {
		askRestart(lt.restart, why)
	}
	return err
}

// signalTasks sends sig to the named task, or to every running task when name is "".
func (r *runner) signalTasks(name string, sig syscall.Signal) error {
	lts, err := r.running(name)
	for _, lt := range lts {
		if serr := lt.task.Signal(sig); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

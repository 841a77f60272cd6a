package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Recover reattaches to the containers a previous process of this peer left in the
// state root: for each it returns a Task whose Wait, Signal, Stop, Stats, Logs and
// Destroy work again. Nothing is restarted. A container whose process has already
// exited is returned too (its Done is closed). Task directories without a container
// (a Start cut short by a crash) are removed. Call it once, after New, before Start.
//
// Exit status: the task's process was the old peer's child, not ours, so its status
// can only be read when this process inherited it (as child subreaper, when the old
// peer was our descendant); otherwise ExitResult.Unknown is true. OOM kills are
// still reported from the cgroup.
func (d *Driver) Recover() ([]*Task, error) {
	entries, err := os.ReadDir(d.cfg.stateDir())
	if err != nil {
		return nil, fmt.Errorf("recovering tasks: %w", err)
	}
	var (
		out  []*Task
		errs []error
		seen = map[string]bool{}
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		seen[id] = true
		d.mu.Lock()
		_, known := d.tasks[id]
		d.mu.Unlock()
		if known {
			continue
		}
		t, err := d.recoverOne(id)
		if errors.Is(err, errNeverStarted) {
			d.log.Info("removed a task that never started", "task", id)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
	}
	// Task directories with no container behind them.
	dirs, _ := os.ReadDir(filepath.Join(d.cfg.DataDir, "tasks"))
	for _, e := range dirs {
		d.mu.Lock()
		_, known := d.tasks[e.Name()]
		d.mu.Unlock()
		if seen[e.Name()] || known {
			continue
		}
		dir := d.taskDir(e.Name())
		if err := d.removeTaskDir(dir); err != nil {
			errs = append(errs, err)
		}
		d.log.Info("removed the directory of a task that never started", "task", e.Name())
	}
	return out, errors.Join(errs...)
}

var errNeverStarted = errors.New("container never started")

func (d *Driver) recoverOne(id string) (*Task, error) {
	dir := d.taskDir(id)
	c, err := libcontainer.Load(d.cfg.stateDir(), id)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(d.cfg.stateDir(), id, "state.json")); errors.Is(serr, os.ErrNotExist) {
			// Created but never run: the old peer died inside Start.
			_ = os.RemoveAll(filepath.Join(d.cfg.stateDir(), id))
			if rerr := d.removeTaskDir(dir); rerr != nil {
				return nil, fmt.Errorf("recovering task %q: removing a never-started task: %w", id, rerr)
			}
			return nil, errNeverStarted
		}
		return nil, fmt.Errorf("recovering task %q: loading container: %w", id, err)
	}
	meta, err := metaFromLabels(c.Config().Labels)
	if err != nil {
		d.log.Warn("recovered task has no metadata: using defaults", "task", id, "err", err)
		meta = taskMeta{ID: id, KillTimeout: defaultKillTimeout}
	}
	t := newTask(d, dir, meta)
	t.container = c
	st, err := c.State()
	if err != nil {
		return nil, fmt.Errorf("recovering task %q: %w", id, err)
	}
	t.pid, t.cgroupPaths = st.InitProcessPid, st.CgroupPaths
	status, err := c.Status()
	if err != nil {
		return nil, fmt.Errorf("recovering task %q: %w", id, err)
	}
	for _, stream := range []string{Stdout, Stderr} {
		r, _, err := openFIFO(filepath.Join(d.cfg.stateDir(), id), stream, false)
		if err != nil {
			close(t.copied[stream])
			continue
		}
		go copyLogs(r, newRotator(logPath(dir, stream), d.cfg.LogMaxBytes, d.cfg.LogMaxFiles), t.copied[stream], d.log)
	}
	d.mu.Lock()
	d.tasks[id] = t
	d.mu.Unlock()
	if status == libcontainer.Stopped {
		go t.finish(reapIfChild(t.pid))
	} else {
		go t.watchPid()
	}
	d.log.Info("task recovered", "task", id, "pid", t.pid, "status", status.String())
	return t, nil
}

// watchPid waits for a process that is not (necessarily) our child to exit.
func (t *Task) watchPid() {
	awaitExit(t.pid)
	t.finish(reapIfChild(t.pid))
}

// awaitExit returns once pid has exited (it may still be a zombie). It parks on the
// netpoller with a pidfd, so waiting costs no OS thread, unlike a blocking wait4;
// with a thousand tasks that is a thousand threads saved.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return // already gone
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	exited := func(fd uintptr) bool {
		n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0
	}
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Read(exited)
	}
	if err != nil { // not pollable here: fall back to a slow poll
		for {
			var done bool
			if rc == nil || rc.Control(func(fd uintptr) { done = exited(fd) }) != nil || done {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// reapIfChild collects pid's exit status if it is our (adopted) child.
func reapIfChild(pid int) ExitResult {
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	if err != nil || got != pid {
		return ExitResult{ExitCode: -1, Unknown: true}
	}
	if ws.Signaled() {
		return ExitResult{ExitCode: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	return ExitResult{ExitCode: ws.ExitStatus()}
}

package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// ExitResult is how a task's process ended.
type ExitResult struct {
	ExitCode  int  // exit status; 128+signal when killed by a signal (as a shell reports it); -1 when unknown
	Signal    int  // the signal that killed it, 0 if it exited
	OOMKilled bool // the kernel's OOM killer killed a process of the task
	// Unknown is true when the exit status cannot be known: the task was recovered
	// after a peer restart and its process was not this peer's child.
	Unknown bool
}

func (r ExitResult) String() string {
	switch {
	case r.Unknown:
		return "exit status unknown"
	case r.Signal != 0:
		return fmt.Sprintf("killed by signal %d (oom=%v)", r.Signal, r.OOMKilled)
	default:
		return fmt.Sprintf("exit code %d (oom=%v)", r.ExitCode, r.OOMKilled)
	}
}

// Stats are a task's resource usage, read from its cgroup.
type Stats struct {
	CPUTotalNanos  uint64 // CPU time used, user + system
	CPUUserNanos   uint64
	CPUSystemNanos uint64
	MemoryBytes    uint64 // current usage (v1: usage_in_bytes; v2: memory.current)
	MemoryRSSBytes uint64 // anonymous memory
	MemoryMaxBytes uint64 // peak usage where the kernel reports it
	MemoryLimit    uint64
	Pids           uint64
	PidsLimit      uint64
}

// Task is one running (or exited, not yet destroyed) container. Its methods are
// safe for concurrent use.
type Task struct {
	d    *Driver
	dir  string
	meta taskMeta

	container   *libcontainer.Container
	pid         int
	cgroupPaths map[string]string

	exited chan struct{} // closed once result is set
	result ExitResult
	copied map[string]chan struct{} // per stream: closed when the log copier is done

	destroyOnce sync.Once
	destroyErr  error
}

func newTask(d *Driver, dir string, meta taskMeta) *Task {
	return &Task{
		d: d, dir: dir, meta: meta,
		exited: make(chan struct{}),
		copied: map[string]chan struct{}{Stdout: make(chan struct{}), Stderr: make(chan struct{})},
	}
}

// ID is the task's ID.
func (t *Task) ID() string { return t.meta.ID }

// Pid is the host PID of the task's first process.
func (t *Task) Pid() int { return t.pid }

// Dir is the task's directory on the host (local/, secrets/, tmp/, logs/).
func (t *Task) Dir() string { return t.dir }

// WriteFiles replaces files in the directory of a task that runs (templates rendered
// again): each is written beside its destination and renamed over it, so that the
// task never reads half a file, with the mode given and the owner of the file it
// replaces. The task can change its own directory, so every path is resolved inside
// it (os.Root): a symlink the task planted cannot make the peer write elsewhere.
func (t *Task) WriteFiles(files []File) error {
	root, err := os.OpenRoot(t.dir)
	if err != nil {
		return fmt.Errorf("task %q: %w", t.meta.ID, err)
	}
	defer root.Close()
	for _, f := range files {
		if err := writeInRoot(root, f, -1, -1); err != nil {
			return fmt.Errorf("task %q: writing %s: %w", t.meta.ID, f.Path, err)
		}
	}
	return nil
}

// writeInRoot writes f inside root, replacing what is at its path (a link too,
// never followed), owned by uid:gid, or by the replaced file's owner when uid < 0.
func writeInRoot(root *os.Root, f File, uid, gid int) error {
	if !f.inTaskDir() {
		return errors.New("not a path under local/ or secrets/")
	}
	p := filepath.Clean(f.Path)
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	if fi, err := root.Lstat(p); err == nil && uid < 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".new")
	_ = root.Remove(tmp)
	fh, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = fh.Write(f.Data)
	if err == nil {
		err = fh.Chmod(mode) // the mode given to OpenFile is masked by the umask
	}
	if err == nil && uid >= 0 {
		err = fh.Chown(uid, gid)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, p)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

// Done is closed when the task's process has exited.
func (t *Task) Done() <-chan struct{} { return t.exited }

// Wait blocks until the task's process exits (and its output is in the log files)
// or ctx ends. Any number of callers may wait.
func (t *Task) Wait(ctx context.Context) (ExitResult, error) {
	select {
	case <-t.exited:
		return t.result, nil
	case <-ctx.Done():
		return ExitResult{}, ctx.Err()
	}
}

// waitChild reaps the task's process, which is our child.
func (t *Task) waitChild(p *libcontainer.Process) {
	awaitExit(t.pid) // then Wait reaps a zombie at once, without holding a thread
	ps, _ := p.Wait()
	res := ExitResult{ExitCode: -1, Unknown: true}
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			res = fromWaitStatus(ws)
		}
	}
	t.finish(res)
}

func fromWaitStatus(ws syscall.WaitStatus) ExitResult {
	if ws.Signaled() {
		return ExitResult{ExitCode: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	return ExitResult{ExitCode: ws.ExitStatus()}
}

// finish records the result once the process is gone: OOM from the cgroup (which
// lives until Destroy), then waits for the log copiers to drain the FIFOs.
func (t *Task) finish(res ExitResult) {
	res.OOMKilled = oomKilled(t.cgroupPaths)
	drain := time.NewTimer(5 * time.Second) // only a process that escaped the pid namespace could hold the FIFO
	defer drain.Stop()
	for _, ch := range t.copied {
		select {
		case <-ch:
		case <-drain.C:
		}
	}
	t.result = res
	close(t.exited)
	t.d.log.Debug("task exited", "task", t.meta.ID, "result", res.String())
}

// Signal sends sig to the task's first process.
func (t *Task) Signal(sig os.Signal) error {
	select {
	case <-t.exited:
		return fmt.Errorf("signalling task %q: %w", t.meta.ID, libcontainer.ErrNotRunning)
	default:
	}
	if err := t.container.Signal(sig); err != nil {
		return fmt.Errorf("signalling task %q: %w", t.meta.ID, err)
	}
	return nil
}

// Stop sends the task's kill signal, waits up to its kill timeout for the process
// to exit, then sends SIGKILL and waits for the exit (or for ctx to end).
func (t *Task) Stop(ctx context.Context) error {
	sig, _ := ParseSignal(t.meta.KillSignal) // validated at Start
	if err := t.Signal(sig); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return err
	}
	timer := time.NewTimer(t.meta.KillTimeout)
	defer timer.Stop()
	select {
	case <-t.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	t.d.log.Info("task ignored its kill signal: killing", "task", t.meta.ID, "signal", sig.String(), "kill_timeout", t.meta.KillTimeout)
	if err := t.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return err
	}
	select {
	case <-t.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats reads the task's CPU, memory and pids usage from its cgroup.
func (t *Task) Stats() (Stats, error) {
	st, err := t.container.Stats()
	if err != nil {
		return Stats{}, fmt.Errorf("stats of task %q: %w", t.meta.ID, err)
	}
	cs := st.CgroupStats
	if cs == nil {
		return Stats{}, fmt.Errorf("stats of task %q: no cgroup stats", t.meta.ID)
	}
	return Stats{
		CPUTotalNanos:  cs.CpuStats.CpuUsage.TotalUsage,
		CPUUserNanos:   cs.CpuStats.CpuUsage.UsageInUsermode,
		CPUSystemNanos: cs.CpuStats.CpuUsage.UsageInKernelmode,
		MemoryBytes:    cs.MemoryStats.Usage.Usage,
		MemoryRSSBytes: cs.MemoryStats.Stats["rss"] + cs.MemoryStats.Stats["anon"],
		MemoryMaxBytes: cs.MemoryStats.Usage.MaxUsage,
		MemoryLimit:    cs.MemoryStats.Usage.Limit,
		Pids:           cs.PidsStats.Current,
		PidsLimit:      cs.PidsStats.Limit,
	}, nil
}

// Destroy kills the task if it still runs and removes everything it had: its
// cgroups, container state, overlay mount and task directory (logs included).
// Idempotent.
func (t *Task) Destroy() error {
	t.destroyOnce.Do(func() { t.destroyErr = t.destroy(false) })
	return t.destroyErr
}

// DestroyKeepDir destroys the task as Destroy does but keeps its directory's local/,
// secrets/ and logs for the next task started with the same ID: as in Nomad, a
// task's files and logs carry over its restarts (its /tmp and root filesystem
// changes do not). The driver's RemoveTask removes a directory no task came back to.
func (t *Task) DestroyKeepDir() error {
	t.destroyOnce.Do(func() { t.destroyErr = t.destroy(true) })
	return t.destroyErr
}

func (t *Task) destroy(keepDir bool) error {
	var errs []error
	select {
	case <-t.exited:
	default:
		if err := t.container.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			errs = append(errs, err)
		}
		select {
		case <-t.exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("task %q did not exit 10s after SIGKILL", t.meta.ID))
		}
	}
	if err := t.container.Destroy(); err != nil {
		errs = append(errs, err)
	}
	remove := t.d.removeTaskDir
	if keepDir {
		remove = clearTaskDir
	}
	if err := remove(t.dir); err != nil {
		errs = append(errs, err)
	}
	t.d.mu.Lock()
	if t.d.tasks[t.meta.ID] == t {
		delete(t.d.tasks, t.meta.ID)
	}
	t.d.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroying task %q: %w", t.meta.ID, err)
	}
	return nil
}

// removeTaskDir unmounts the task's root if it is a mount of its own (an overlay,
// or an exec task's own view of the host), and removes its directory. The mount
// table says whether it is one, also for a task that died inside Start. The unmount
// is detached (lazy) and takes every mount below along, so RemoveAll never walks
// into a mount.
func (d *Driver) removeTaskDir(dir string) error {
	if err := unmountRootfs(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// clearTaskDir empties a task directory for the next start of its task: what a
// restart starts afresh goes (the root filesystem and its overlay, /tmp); local/,
// secrets/ and logs stay.
func clearTaskDir(dir string) error {
	if err := unmountRootfs(dir); err != nil {
		return err
	}
	var errs []error
	for _, sub := range []string{"rootfs", "upper", "work", "tmp"} {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, sub)))
	}
	return errors.Join(errs...)
}

// unmountRootfs unmounts a task's own root filesystem (an overlay, or a view of the
// host root) if it has one.
func unmountRootfs(dir string) error {
	root := filepath.Join(dir, "rootfs")
	if mounted, err := mountinfo.Mounted(root); mounted || err != nil && !errors.Is(err, fs.ErrNotExist) {
		err := unix.Unmount(root, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting %s/rootfs: %w", dir, err)
		}
	}
	return nil
}

// RemoveTask destroys the task of that ID if the driver has one, else removes what
// is left of it: a directory kept for a restart that never came (DestroyKeepDir).
func (d *Driver) RemoveTask(id string) error {
	if t, ok := d.Task(id); ok {
		return t.Destroy()
	}
	if fileExists(filepath.Join(d.cfg.stateDir(), id)) {
		return fmt.Errorf("removing task %q: its container exists but the driver does not know it", id)
	}
	return d.removeTaskDir(d.taskDir(id))
}

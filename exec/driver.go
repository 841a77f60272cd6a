package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("no such task")
	ErrExists   = errors.New("task already exists")
)

// Driver runs tasks as libcontainer containers. It is safe for concurrent use; one
// Driver per data dir per host. Tasks keep running when the Driver's process exits:
// a new process calls Recover to reattach.
type Driver struct {
	cfg     Config
	log     *slog.Logger
	seccomp bool
	v2Base  string // cgroup v2: the peer's own cgroup; "" on v1
	// swapLimit: the kernel accounts swap per cgroup (v2 always; v1 with
	// swapaccount=1), so memory+swap can be capped at the memory limit.
	swapLimit bool

	mu       sync.Mutex
	tasks    map[string]*Task
	refs     map[string]ImageInfo // image ref -> unpacked image
	starting map[string]int       // image digest -> Starts in flight (kept by GC)
	digests  map[string]*sync.Mutex

	hostOnce sync.Once
	hostErr  error
}

// New checks cfg, creates the data dir layout and makes the calling process a child
// subreaper, so that container processes orphaned under it are reparented to it.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{filepath.Join(cfg.DataDir, "images"), filepath.Join(cfg.DataDir, "tasks"), cfg.stateDir()} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("exec: creating %s: %w", dir, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("exec: becoming child subreaper: %w", err)
	}
	v2Base, warning, err := prepareCgroupV2()
	if err != nil {
		return nil, fmt.Errorf("exec: cgroup v2 set-up: %w", err)
	}
	if warning != "" {
		log.Warn("cgroup v2 set-up incomplete", "problem", warning)
	}
	d := &Driver{
		cfg:       cfg,
		log:       log,
		seccomp:   SeccompAvailable && !cfg.DisableSeccomp,
		v2Base:    v2Base,
		swapLimit: v2Base != "" || cgroups.IsCgroup2UnifiedMode() || fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
		tasks:     map[string]*Task{},
		refs:      map[string]ImageInfo{},
		starting:  map[string]int{},
		digests:   map[string]*sync.Mutex{},
	}
	if !SeccompAvailable && !cfg.DisableSeccomp {
		log.Warn("seccomp support not compiled in (build tag seccomp); tasks run without a seccomp profile")
	}
	return d, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (d *Driver) digestLock(digest string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.digests[digest]
	if l == nil {
		l = &sync.Mutex{}
		d.digests[digest] = l
	}
	return l
}

// Task returns a started or recovered task by ID.
func (d *Driver) Task(id string) (*Task, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[id]
	return t, t != nil
}

// taskMeta is what a restarted peer needs to know about a task, kept as a label of
// its container (see metaLabel).
type taskMeta struct {
	ID          string        `json:"id"`
	Kind        string        `json:"kind"`
	Image       string        `json:"image,omitempty"`
	ImageDigest string        `json:"image_digest,omitempty"`
	KillSignal  string        `json:"kill_signal,omitempty"`
	KillTimeout time.Duration `json:"kill_timeout"`
	StartedAt   time.Time     `json:"started_at"`
}

func (d *Driver) taskDir(id string) string { return filepath.Join(d.cfg.DataDir, "tasks", id) }

// Start creates the task's directory (local/, secrets/, tmp/, logs/), its root
// filesystem and its container, and starts its process. It returns once the process
// runs (or failed to start: a bad command is reported here). On error nothing is
// left behind. ctx bounds the image pull only.
func (d *Driver) Start(ctx context.Context, spec TaskSpec) (_ *Task, retErr error) {
	s := &spec
	if err := s.validate(); err != nil {
		return nil, err
	}
	if _, err := Capabilities(s.CapAdd, s.CapDrop, d.cfg.AllowCaps); err != nil {
		return nil, fmt.Errorf("task %q: %w", s.ID, err)
	}
	killTimeout := s.KillTimeout
	if killTimeout == 0 {
		killTimeout = defaultKillTimeout
	}
	meta := taskMeta{ID: s.ID, Kind: s.Kind, Image: s.Image, KillSignal: s.KillSignal, KillTimeout: killTimeout, StartedAt: time.Now()}

	d.mu.Lock()
	if _, ok := d.tasks[s.ID]; ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("starting task %q: %w", s.ID, ErrExists)
	}
	d.tasks[s.ID] = nil // reserve the ID
	d.mu.Unlock()
	var cleanups []func()
	defer func() {
		if retErr != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			d.mu.Lock()
			delete(d.tasks, s.ID)
			d.mu.Unlock()
		}
	}()

	var (
		img        *ImageConfig
		rootfs     = "/"
		lookupRoot = "/"
	)
	dir := d.taskDir(s.ID)
	ownRoot := false            // rootfs is dir/rootfs, a mount of the task's own (removeTaskDir undoes it)
	var unbound map[string]bool // exec kind: a view of its own (see execMountPoints)
	var mkdirs []string
	if s.Kind == KindExec {
		root, err := d.hostRoot()
		if err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
		rootfs = root
		if unbound, mkdirs, err = execMountPoints(root, s.Mounts); err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
		if len(mkdirs) > 0 {
			rootfs, ownRoot = filepath.Join(dir, "rootfs"), true
		}
	}
	if s.Kind == KindContainer {
		info, err := d.image(ctx, s.Image)
		if err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
		held := info.Digest // kept from GCImages until Start returns
		d.mu.Lock()
		d.starting[held]++
		d.mu.Unlock()
		defer func() {
			d.mu.Lock()
			if d.starting[held]--; d.starting[held] <= 0 {
				delete(d.starting, held)
			}
			d.mu.Unlock()
		}()
		if _, err := os.Stat(info.RootFS); err != nil { // collected meanwhile
			if info, err = d.PrepareImage(ctx, s.Image); err != nil {
				return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
			}
		}
		img, lookupRoot, meta.ImageDigest = &info.Config, info.RootFS, info.Digest
		rootfs = lookupRoot
		// Mount points are made in the root before it turns read-only: never in
		// the shared image, so a read-only root with mounts (or /etc files of its
		// own, which an image may lack) has an overlay too.
		if !s.ReadOnlyRoot || len(s.Mounts) > 0 || len(s.etcNames()) > 0 {
			rootfs, ownRoot = filepath.Join(dir, "rootfs"), true
		}
	}

	if fileExists(filepath.Join(d.cfg.stateDir(), s.ID)) {
		return nil, fmt.Errorf("starting task %q: its container exists (a task of this ID was not destroyed): %w", s.ID, ErrExists)
	}
	if fileExists(dir) {
		// A task of this ID was destroyed keeping its directory (a restart): its
		// local/, secrets/ and logs carry over; a failed start leaves them.
		cleanups = append(cleanups, func() { _ = clearTaskDir(dir) })
	} else {
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	}
	subs := []string{"local", "secrets", "tmp", "logs"}
	switch {
	case ownRoot && s.Kind == KindExec: // a tmpfs view of the host root
		subs = append(subs, "rootfs")
	case ownRoot: // an overlay over the image
		subs = append(subs, "upper", "work", "rootfs")
	}
	for _, sub := range subs {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
	}
	_ = os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	_ = os.Chmod(filepath.Join(dir, "secrets"), 0o700)

	l, err := d.buildLaunch(s, rootfs, lookupRoot, dir, img)
	if err != nil {
		return nil, err
	}
	if l.uid != 0 || l.gid != 0 {
		for _, sub := range []string{"local", "secrets", "tmp"} {
			if err := os.Chown(filepath.Join(dir, sub), l.uid, l.gid); err != nil {
				return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
			}
		}
	}
	if s.Stage != "" {
		if err := moveStage(s.Stage, dir, l.uid, l.gid); err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
	}
	if err := writeFiles(dir, s.Files, l.uid, l.gid); err != nil {
		return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
	}
	etc, err := s.etcFiles()
	if err != nil {
		return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
	}
	for name, b := range etc {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
	}
	if ownRoot && s.Kind == KindExec {
		if err := buildHostRoot(rootfs, unbound, mkdirs); err != nil {
			_ = unix.Unmount(rootfs, unix.MNT_DETACH)
			return nil, fmt.Errorf("starting task %q: building its view of the host root for its mounts: %w", s.ID, err)
		}
		cleanups = append(cleanups, func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	} else if ownRoot {
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lookupRoot, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
		if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
			return nil, fmt.Errorf("starting task %q: mounting overlay rootfs: %w", s.ID, err)
		}
		cleanups = append(cleanups, func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	}
	metaJSON, err := json.Marshal(&meta)
	if err != nil {
		return nil, err
	}
	l.config.Labels = append(l.config.Labels, metaLabel+string(metaJSON))

	c, err := libcontainer.Create(d.cfg.stateDir(), s.ID, l.config)
	if err != nil {
		return nil, fmt.Errorf("starting task %q: creating container: %w", s.ID, err)
	}
	cleanups = append(cleanups, func() { _ = c.Destroy() })

	t := newTask(d, dir, meta)
	var writers []*os.File
	defer func() {
		for _, w := range writers {
			w.Close()
		}
	}()
	containerDir := filepath.Join(d.cfg.stateDir(), s.ID)
	for _, stream := range []string{Stdout, Stderr} {
		r, w, err := openFIFO(containerDir, stream, true)
		if err != nil {
			return nil, fmt.Errorf("starting task %q: %w", s.ID, err)
		}
		writers = append(writers, w)
		go copyLogs(r, newRotator(logPath(dir, stream), d.cfg.LogMaxBytes, d.cfg.LogMaxFiles), t.copied[stream], d.log)
	}
	l.process.Stdout, l.process.Stderr = writers[0], writers[1]
	if err := runContainer(c, l.process); err != nil {
		return nil, fmt.Errorf("starting task %q: running %q: %w", s.ID, l.process.Args, err)
	}
	for _, w := range writers {
		w.Close()
	}
	writers = nil
	t.container = c
	if st, err := c.State(); err == nil {
		t.pid, t.cgroupPaths = st.InitProcessPid, st.CgroupPaths
	}
	go t.waitChild(l.process)

	d.mu.Lock()
	d.tasks[s.ID] = t
	d.mu.Unlock()
	d.log.Debug("task started", "task", s.ID, "pid", t.pid, "kind", s.Kind)
	return t, nil
}

// metaLabel prefixes the container label holding a task's taskMeta as JSON: the
// container's own state (state.json) carries it to a restarted peer.
const metaLabel = "shoal.meta="

func metaFromLabels(labels []string) (taskMeta, error) {
	var m taskMeta
	for _, l := range labels {
		if v, ok := strings.CutPrefix(l, metaLabel); ok {
			return m, json.Unmarshal([]byte(v), &m)
		}
	}
	return m, errors.New("no " + strings.TrimSuffix(metaLabel, "=") + " label")
}

// writeFiles writes a task's files into its directory, owned by its user. The paths
// were checked to stay under local/ or secrets/; subdirectories are created.
func writeFiles(dir string, files []File, uid, gid int) error {
	if len(files) == 0 {
		return nil
	}
	// A restart keeps local/ and secrets/ with whatever links the task left there:
	// every path is resolved inside the directory (see writeInRoot).
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range files {
		if err := writeInRoot(root, f, uid, gid); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}
